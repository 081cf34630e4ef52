"""``init``: ask for the server, the key and the folders, check them, write the config.

Interactive on a terminal; with ``--url``, ``--api-key-file`` and ``--folder`` it asks
nothing (scripts, provisioning); anything not given is read from stdin, one answer a line,
so a pipe can drive the prompts too. The key is never printed: it is read without echo on
a terminal and written to a 0600 file next to the config, which is 0600 too. An existing
config (or key file with another key) is never replaced without ``--force``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..backup import make_client
from ..config import LocalFileSystem, Settings, load_settings, parse_settings
from ..errors import BackupdError, ConfigError, ExitCode
from ..i18n import _
from ..pipeline.connect import connect
from .common import IOERR, err, is_tty, show_path

KEY_FILE_NAME = "api-key"
ATTEMPTS = 3  # interactive: how often a wrong URL or key is asked again


class InitAborted(BackupdError):
    exit_code = ExitCode.USAGE


class _Prompter:
    """Asks on a terminal; reads answers line by line from a pipe (prompts still shown)."""

    def __init__(self, stdin=None, stdout=None) -> None:  # type: ignore[no-untyped-def]
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.tty = is_tty(self.stdin)

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        if self.tty and secret:
            return getpass.getpass(prompt).strip()
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise InitAborted(_("no answer (end of input): give --url, --api-key-file and "
                                "--folder to run init without questions"))
        if not self.tty:
            self.stdout.write("\n" if not secret else _("(hidden)") + "\n")
        return line.strip()


class _KeyFS(LocalFileSystem):
    """The real file system, except that the key file not yet written reads as ``key``."""

    def __init__(self, key_file: Path, key: str | None) -> None:
        self.key_file = key_file
        self.key = key

    def read_text(self, path: Path) -> str:
        if self.key is not None and path == self.key_file:
            return self.key
        return super().read_text(path)

    def mode(self, path: Path) -> int | None:
        return 0o600 if self.key is not None and path == self.key_file else super().mode(path)


_PLAIN = re.compile(r"[A-Za-z0-9_./~@+-][A-Za-z0-9_./~:@+ -]*")


def yaml_str(text: str) -> str:
    """A YAML scalar for ``text``: bare when that reads back the same, else double-quoted."""
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and ": " not in text \
            and text.lower() not in ("true", "false", "null", "~", "yes", "no", "on", "off"):
        return text
    return json.dumps(text, ensure_ascii=False)


def render_config(url: str, key_file: Path, folders: list[str], state_dir: str | None,
                  home: str, exclude: list[str] | None = None) -> str:
    """The commented config ``init`` writes; every value it does not set is the default."""

    def tilde(path: str | Path) -> str:
        return show_path(path, home)

    include = "\n".join(f"    - {yaml_str(tilde(f))}" for f in folders)
    if exclude:
        excluded = "exclude:\n" + "\n".join(f"    - {yaml_str(e)}" for e in exclude)
    else:
        excluded = ('exclude: []\n  #  - ~/Pictures/Screenshots\n  #  - "**/WhatsApp Images"')
    state = (f"state_dir: {yaml_str(tilde(state_dir))}" if state_dir
             else "# state_dir: ~/.local/state/immich-backupd")
    stamp = time.strftime("%Y-%m-%d")
    return f"""\
# immich-backupd configuration, written by `immich-backupd init` on {stamp}.
# Every key, with its type, default and an example: docs/configuration.md.
# After a change: `immich-backupd check`, then `systemctl --user reload immich-backupd`.

server:
  # The address you open Immich at (a trailing /api is fine too).
  url: {yaml_str(url)}
  # A file holding only the API key. Keep it private (chmod 600).
  api_key_file: {yaml_str(tilde(key_file))}

# Where the backup state (an SQLite database) and the lock live.
{state}

albums:
  # Folders backed up, with everything below them. Each folder becomes an album.
  include:
{include}
  # What to leave out: a folder, a name anywhere, or a glob. An exclusion always wins.
  {excluded}

backup:
  # Put each file into a server album named after its folder.
  album_sync: true
  # Uploads in flight at once, 1 to 16.
  # concurrency: 2
  # Back up only on mains power; only on an unmetered network (not a phone hotspot).
  # require_charging: false
  # require_unmetered: false
  # What may go up on a metered network.
  # metered: {{photos: true, videos: false}}

notifications:
  # Desktop notifications for failures and a full quota (where a desktop session exists).
  # desktop: true

# How much the daemon logs: debug, info, warning or error.
# log_level: info
"""


def cmd_init(args: argparse.Namespace) -> int:
    path: Path = args.config_path
    if path.exists() and not args.force:
        err(_("a config already exists at {path}: edit it (docs/configuration.md), check it "
              "with `immich-backupd check`, or replace it with `immich-backupd init --force`")
            .format(path=path))
        return int(ExitCode.USAGE)
    prompter = _Prompter()
    home = os.environ.get("HOME") or str(Path.home())
    out = prompter.stdout
    if prompter.tty and (args.url is None or args.api_key_file is None or not args.folder):
        print(_("Set up immich-backupd: three questions, then it checks the answers against "
                "your Immich server and writes {path}.").format(path=show_path(path, home)),
              file=out)
    key_file = (Path(os.path.abspath(os.path.expanduser(args.api_key_file)))
                if args.api_key_file else path.parent / KEY_FILE_NAME)
    url, key = args.url, None
    folders: list[str] = []
    for attempt in range(ATTEMPTS):
        if url is None:
            url = prompter.ask(_("Immich server address (as you open it in the browser, "
                                 "e.g. https://photos.example.com): "))
        if args.api_key_file is None and key is None:
            key = prompter.ask(_("API key (Immich: Account Settings → API Keys → New API "
                                 "Key; typing is hidden): "), secret=True)
        if not folders:
            folders = _folders(args.folder, prompter, home)
        state_dir = (os.path.abspath(os.path.expanduser(args.state_dir)) if args.state_dir
                     else None)
        text = render_config(url, key_file, folders, state_dir, home, args.exclude)
        try:
            settings = parse_settings(text, str(path), base_dir=path.parent,
                                      fs=_KeyFS(key_file, key))
            if not args.no_verify:
                _verify(settings, out)
            break
        except BackupdError as exc:
            err(str(exc))
            asked = args.url is None or args.api_key_file is None
            can_ask_again = prompter.tty and asked and (
                not isinstance(exc, ConfigError) or _retryable(exc))
            if attempt == ATTEMPTS - 1 or not can_ask_again:
                err(_("nothing written"))
                return int(exc.exit_code)
            if args.url is None:
                url = None
            if args.api_key_file is None:
                key = None
            print(_("Let's try again."), file=out)
    else:  # pragma: no cover - the loop returns or breaks
        return int(ExitCode.USAGE)
    try:
        if key is not None:
            _write_private(key_file, key + "\n", force=args.force, what=_("the API key file"))
        _write_private(path, text, force=args.force, what=_("the config"))
    except BackupdError as exc:
        err(str(exc))
        return int(exc.exit_code)
    load_settings(path)  # what was written is what `check` and `run` will read
    print(_("✓ Wrote {path} (readable only by you).").format(path=show_path(path, home)),
          file=out)
    if key is not None:
        print(_("✓ Wrote the API key to {path} (readable only by you).").format(
            path=show_path(key_file, home)), file=out)
    print("\n" + _("Next:") + "\n" + "\n".join(f"  {line}" for line in (
        _("immich-backupd check            # everything in one screen"),
        _("immich-backupd once             # the first backup, with progress"),
        _("immich-backupd install-service --user && systemctl --user enable --now "
          "immich-backupd"),
    )), file=out)
    return 0


def _retryable(exc: ConfigError) -> bool:
    """A config error an answer can fix: the URL or the key (not a folder we checked)."""
    return all("server." in p for p in exc.problems)


def _folders(given: list[str] | None, prompter: _Prompter, home: str) -> list[str]:
    if given:
        folders = [os.path.abspath(os.path.expanduser(f)) for f in given]
        missing = [f for f in folders if not os.path.isdir(f)]
        if missing:
            raise InitAborted(_("not a folder: {path}").format(path=", ".join(missing)))
        return folders
    default = os.path.join(home, "Pictures")
    has_default = os.path.isdir(default)
    hint = (_(" [{default}]").format(default=show_path(default, home)) if has_default else "")
    folders: list[str] = []
    tries = 0
    while True:
        prompt = (_("Folder to back up{hint}: ").format(hint=hint) if not folders
                  else _("Another folder (empty to finish): "))
        answer = prompter.ask(prompt)
        if not answer:
            if folders:
                return folders
            if has_default:
                return [default]
            tries += 1
            if tries >= ATTEMPTS:
                raise InitAborted(_("no folder given"))
            continue
        folder = os.path.abspath(os.path.expanduser(answer))
        if not os.path.isdir(folder):
            err(_("not a folder: {path}").format(path=folder))
            tries += 1
            if tries >= ATTEMPTS and not prompter.tty:
                raise InitAborted(_("not a folder: {path}").format(path=folder))
            continue
        folders.append(folder)


def _verify(settings: Settings, out) -> None:  # type: ignore[no-untyped-def]
    async def go() -> str:
        async with make_client(settings, "immich-backupd-init") as client:
            info = await connect(client, album_sync=settings.makes_albums)
        return str(info.version)

    version = asyncio.run(go())
    print(_("✓ Immich {version} at {url}; the key has every permission a backup needs.")
          .format(version=version, url=settings.server.url), file=out)


def _write_private(path: Path, text: str, *, force: bool, what: str,
                   opener: Callable[..., int] = os.open) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically; the folder 0700 if new.

    An existing file with the same text is left alone; another is replaced only with
    ``force``.
    """
    try:
        existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise InitAborted(f"{path}: {exc.strerror or exc}") from None
    if existing == text:
        os.chmod(path, 0o600)
        return
    if existing is not None and not force:
        raise InitAborted(_("{what} {path} exists and differs: use --force to replace it")
                          .format(what=what, path=path))
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = opener(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        error = InitAborted(_("cannot write {path}: {reason}").format(
            path=path, reason=exc.strerror or exc))
        error.exit_code = IOERR
        raise error from None
