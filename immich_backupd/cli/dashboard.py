"""``dashboard``: the running daemon's dashboard address with a one-time login token
(``--api-token``: the API's bearer token instead; ``--open``: open it in the browser;
``--rotate``: a new API token, every session ended; ``--set-password``: the password a
dashboard beyond loopback needs, kept hashed; these two need no daemon running).

Talks to the daemon through the files of ``dashboard.tokens`` in the state folder; no
daemon listening is exit 69 with one line saying how to start it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import webbrowser

from ..config import Settings
from ..dashboard import tokens
from ..errors import ExitCode
from ..i18n import _
from ..state import password
from .common import err


def cmd_dashboard(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.dashboard.enabled:
        err(_("the dashboard is off (dashboard.enabled: false in the config)"))
        return int(ExitCode.CONFIG)
    if args.set_password:
        return _set_password(settings)
    if args.rotate:
        tokens.rotate_api_token(settings.state_dir)
        print(_("new API token made: the old one and every dashboard session are refused "
                "from now on (`immich-backupd dashboard --api-token` prints the new one)"))
        return 0
    address = tokens.read_address(settings.state_dir)
    if address is None:
        err(_("no daemon is serving the dashboard for {dir}: start it with `immich-backupd "
              "run` (or the service)").format(dir=settings.state_dir))
        return int(ExitCode.UNAVAILABLE)
    if args.api_token:
        token = tokens.read_api_token(settings.state_dir)
        if token is None:
            err(_("the daemon has not written an API token yet: try again in a moment"))
            return int(ExitCode.UNAVAILABLE)
        print(token)
        return 0
    url = f"{address['url']}/login?token={tokens.mint_login_token(settings.state_dir)}"
    print(url)
    if args.open:
        webbrowser.open(url)
    return 0


def _set_password(settings: Settings) -> int:
    """Read the new password (stdin's first line, or twice at a prompt on a terminal) and
    keep its hash; it is never printed. Exit 2 (usage) when too short or not repeated."""
    if sys.stdin.isatty():
        first = getpass.getpass(_("New dashboard password: "))
        if getpass.getpass(_("The same again: ")) != first:
            err(_("the two passwords differ; nothing was changed"))
            return int(ExitCode.USAGE)
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    if len(first) < password.MIN_LENGTH:
        err(_("the password must have at least {n} characters; nothing was changed").format(
            n=password.MIN_LENGTH))
        return int(ExitCode.USAGE)
    password.set_password(settings.state_dir, first)
    print(_("dashboard password set (kept hashed in {path}); it holds at the next login")
          .format(path=password.password_path(settings.state_dir)))
    return 0
