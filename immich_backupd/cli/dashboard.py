"""``dashboard``: the running daemon's dashboard address with a one-time login token
(``--api-token``: the API's bearer token instead; ``--open``: open it in the browser;
``--rotate``: a new API token, every session ended, which needs no daemon running).

Talks to the daemon through the files of ``dashboard.tokens`` in the state folder; no
daemon listening is exit 69 with one line saying how to start it.
"""

from __future__ import annotations

import argparse
import webbrowser

from ..config import Settings
from ..dashboard import tokens
from ..errors import ExitCode
from ..i18n import _
from .common import err


def cmd_dashboard(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.dashboard.enabled:
        err(_("the dashboard is off (dashboard.enabled: false in the config)"))
        return int(ExitCode.CONFIG)
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
