"""``verify``: ask the server now about every file backed up, and say what it holds.

What a verify finds (another server or user, files trashed or deleted in Immich) is
said in the same words here and in the summary of ``once``.
"""

from __future__ import annotations

import argparse
import asyncio

from ..backup import run_verify
from ..config import Settings
from ..i18n import _, ngettext
from ..pipeline.verify import VerifyReport
from ..report.deletions import deleted_line, trashed_line
from ..report.text import count
from ..state import DELETED, TRASHED, StateReader
from .common import show_path
from .failed import wake_daemon

LISTED = 10  # files of each kind listed by name; the rest are counted


def news_lines(report: VerifyReport, *, in_pass: bool) -> list[str]:
    """What a verify found that the user should know: another server or user, and
    what was trashed, deleted or restored in Immich since the last verify.
    ``in_pass``: it runs at the start of a pass, which uploads what the server lacks."""
    out = []
    if report.other_server:
        text = (_("This state was made with {previous}; the server now is {current}, "
                  "another server or user: {present} of the {checked} files known were "
                  "already there, {to_upload} are uploaded now.") if in_pass else
                _("This state was made with {previous}; the server now is {current}, "
                  "another server or user: {present} of the {checked} files known are "
                  "there, {to_upload} will be uploaded by the next backup."))
        out.append(text.format(previous=report.previous or "?", current=report.current,
                               present=count(report.present), checked=count(report.checked),
                               to_upload=count(report.to_upload)))
    if report.new_deleted:
        out.append(deleted_line(report.deleted))
    if report.new_trashed:
        out.append(trashed_line(report.trashed))
    if report.restored:
        out.append(ngettext("{n} file is on the server again (restored in Immich).",
                            "{n} files are on the server again (restored in Immich).",
                            report.restored).format(n=count(report.restored)))
    return out


def _listed(reader: StateReader, status: str, total: int, title: str) -> list[str]:
    if not total:
        return []
    out = ["", title]
    out += [f"  {show_path(p)}" for p in reader.paths_with_status(status, LISTED)]
    if total > LISTED:
        out.append("  " + _("… and {n} more files").format(n=count(total - LISTED)))
    return out


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    report = asyncio.run(run_verify(settings))
    print(_("Checked {checked} files against {url}: {present} there, {trashed} in the "
            "Immich trash, {deleted} deleted in Immich.").format(
        checked=count(report.checked), url=report.url, present=count(report.present),
        trashed=count(report.trashed), deleted=count(report.deleted)))
    lines = news_lines(report, in_pass=False)
    if report.deleted and not report.new_deleted:
        lines.append(deleted_line(report.deleted))
    if report.trashed and not report.new_trashed:
        lines.append(trashed_line(report.trashed))
    for line in lines:
        print(line)
    reader = StateReader(settings.state_dir)
    try:
        for line in (_listed(reader, DELETED, report.deleted, _("Deleted in Immich:"))
                     + _listed(reader, TRASHED, report.trashed, _("In the Immich trash:"))):
            print(line)
    finally:
        reader.close()
    if report.to_upload:
        print()
        if wake_daemon(settings):
            print(_("The running daemon was told to back up now."))
        else:
            print(_("Run `immich-backupd once` to back them up now."))
    return 0
