"""``once``: one full backup pass, with live progress on a terminal, then a summary."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..backup import exit_code_for, run_dry, run_pass
from ..config import Settings
from ..errors import ExitCode
from ..i18n import _, ngettext
from ..model import REACHED_END, PassOutcome
from ..pipeline.connect import STACK_PERMISSION, TAG_PERMISSIONS
from ..pipeline.dryrun import DryRunReport
from ..pipeline.gctune import tune_gc
from ..pipeline.runner import BackupPass, PassResult, PassScope
from ..pipeline.settling import SETTLE_WAIT_FACTOR
from ..pipeline.verify import VerifyReport
from ..report.progress import Reporter
from ..report.sidecars import late_line
from ..report.text import count, human_bytes, human_duration
from ..scan import folder_problems
from ..state import FAILED, SCHEMA_VERSION, UNSUPPORTED, StateReader
from ..state.preview import UpgradedCopy
from .common import err, is_tty, show_path
from .failed import cloud_lines
from .terminal import LineAwareStream, PlainProgress, TerminalProgress
from .verify import news_lines


def cmd_once(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "dry_run", False):
        return _dry_run(settings)
    tune_gc()
    stream = sys.stderr
    if is_tty(stream):
        live = TerminalProgress(stream)
        with _live_stderr(live, settings.log_level):
            return asyncio.run(_once(settings, live))
    return asyncio.run(_once(settings, PlainProgress(stream)))


#: Files a dry run lists on a terminal before "… and N more" (all of them into a pipe).
DRY_RUN_SHOWN = 20


async def _dry_run_stoppable(settings: Settings) -> DryRunReport:
    """run_dry, cancelled by SIGTERM (as Ctrl-C cancels it): its temporary copy of an
    older state is removed then too."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await run_dry(settings)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


#: A copy this big or this slow is worth its size and time in the dry run's line.
UPGRADE_WORTH_SAYING = (50_000_000, 1.0)


def _upgraded_line(copy: UpgradedCopy) -> str:
    line = _("The state is of an earlier release (schema {old}, this release uses {new}): "
             "this preview read an upgraded copy of it; the state itself is unchanged "
             "until the next backup upgrades it.").format(old=copy.from_schema,
                                                          new=SCHEMA_VERSION)
    if copy.size >= UPGRADE_WORTH_SAYING[0] or copy.seconds >= UPGRADE_WORTH_SAYING[1]:
        line += " " + _("(The copy: {size}, made in {time}.)").format(
            size=human_bytes(copy.size), time=human_duration(copy.seconds))
    return line


def _dry_run(settings: Settings) -> int:
    """``once --dry-run``: the report of pipeline/dryrun.py; 0, or a pass's error code."""
    try:
        report = asyncio.run(_dry_run_stoppable(settings))
    except asyncio.CancelledError:  # SIGTERM: the upgraded copy is removed on the way out
        err(_("interrupted"))
        return 128 + signal.SIGTERM
    files = sorted(report.to_upload)
    shown = files if not is_tty(sys.stdout) else files[:DRY_RUN_SHOWN]
    for path, size, _kind in shown:
        print(f"  + {show_path(path)}  ({human_bytes(size)})")
    if len(shown) < len(files):
        print("  " + _("… and {n} more (pipe the output to see them all)").format(
            n=count(len(files) - len(shown))))
    print(_("Dry run: nothing was uploaded, and the state and the server are unchanged."))
    if report.upgraded is not None:
        print(_upgraded_line(report.upgraded))
    print(_("{seen} files found, {done} backed up.").format(
        seen=count(report.seen), done=count(report.backed_up)))
    for problem in report.folder_problems:  # as `once` and `status` say it
        print(folder_problems.line(problem, show_path(Path(problem.path))))
    if files:
        photos, videos = report.count("image"), report.count("video")
        print(_("{n} to check with the server and upload ({photos}, {videos}, {size}); the "
                "server is not asked in a dry run, so files it already has are in this "
                "count.").format(
            n=count(len(files)),
            photos=ngettext("{n} photo", "{n} photos", photos).format(n=count(photos)),
            videos=ngettext("{n} video", "{n} videos", videos).format(n=count(videos)),
            size=human_bytes(report.bytes)))
    else:
        print(_("Nothing to upload."))
    if report.albums:
        line = ngettext("{n} album would get files", "{n} albums would get files",
                        len(report.albums)).format(n=count(len(report.albums)))
        if report.new_albums:
            line += " " + _("({n} new: {names})").format(
                n=count(len(report.new_albums)), names=", ".join(report.new_albums))
        print(line + ".")
    if report.stacks and STACK_PERMISSION in report.lacking:  # as the pass would find
        print(ngettext("{n} stack would be made, but the API key lacks stack.create: none "
                       "will be.",
                       "{n} stacks would be made, but the API key lacks stack.create: none "
                       "will be.", report.stacks).format(n=count(report.stacks)))
    elif report.stacks:
        print(ngettext("{n} stack would be made (or made again with new files).",
                       "{n} stacks would be made (or made again with new files).",
                       report.stacks).format(n=count(report.stacks)))
    if report.bursts_to_read:
        print(ngettext("{n} photo backed up before to look at for an iPhone burst (its "
                       "headers are read once).",
                       "{n} photos backed up before to look at for iPhone bursts (their "
                       "headers are read once).",
                       report.bursts_to_read).format(n=count(report.bursts_to_read)))
    if report.tags:
        print(_("Tags it would set: {tags}.").format(tags=", ".join(
            f"{tag} ({count(n)})" for tag, n in sorted(report.tags.items()))))
    if report.album_moves:
        print(_("Files backed up before it would add to the album they belong in now (the "
                "albums they are in stay as they are): {albums}.").format(albums=", ".join(
                    f"{album} ({count(n)})" for album, n in sorted(report.album_moves.items()))))
        if report.new_move_albums:
            print(ngettext("It would create the album {names} for them.",
                           "It would create the albums {names} for them.",
                           len(report.new_move_albums)).format(
                names=", ".join(report.new_move_albums)))
    if report.untags:
        print(_("Tags it would take off the files it set them on: {tags}.").format(
            tags=", ".join(f"{tag} ({count(n)})" for tag, n in sorted(report.untags.items()))))
    if report.added_tags:
        print(_("Tags it would add to files backed up before: {tags}.").format(
            tags=", ".join(f"{tag} ({count(n)})"
                           for tag, n in sorted(report.added_tags.items()))))
    if report.tags_to_check:
        print(_("Tags it set before and would set again, as the check that they held "
                "(the server can lose a tag set after an upload): {tags}.").format(
            tags=", ".join(f"{tag} ({count(n)})"
                           for tag, n in sorted(report.tags_to_check.items()))))
    no_tags = [p for p in TAG_PERMISSIONS if p in report.lacking]
    if (report.tags or report.untags or report.added_tags or report.tags_to_check) \
            and no_tags:
        print(_("The API key lacks {permissions}: no tag will be set or taken off.").format(
            permissions=", ".join(no_tags)))
    if report.retry_later:
        print(_("{n} failed before and wait for their next try.").format(
            n=count(report.retry_later)))
    if report.left_out:
        print(_("{n} left out: trashed or deleted in Immich, or refused by the server.")
              .format(n=count(report.left_out)))
    if report.placeholders:
        print(_("{n} cloud files not on this disk left out.").format(
            n=count(report.placeholders)))
    return 0


@contextmanager
def _live_stderr(live: TerminalProgress, level: str) -> Iterator[None]:
    """Route stderr (and the log) around the live line; on a terminal, log warnings only
    (the line shows the progress; `log_level: debug` still shows everything)."""
    wrapper = LineAwareStream(sys.stderr, live)
    saved_stderr = sys.stderr
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    saved = [(h, h.stream, h.level) for h in handlers]
    sys.stderr = wrapper  # type: ignore[assignment]
    for h in handlers:
        h.setStream(wrapper)  # type: ignore[arg-type]
        if level == "info":
            h.setLevel(logging.WARNING)
    try:
        yield
    finally:
        live.clear()
        sys.stderr = saved_stderr
        for h, stream, lvl in saved:
            h.setStream(stream)
            h.setLevel(lvl)


async def _once(settings: Settings, reporter: Reporter) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    signals = 0

    def on_verify(report: VerifyReport) -> None:
        """Another server or user, or what changed in Immich: said before the pass."""
        for line in news_lines(report, in_pass=True):
            print(line, flush=True)

    def on_start(backup: BackupPass) -> None:
        def stop() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                err(_("stopping: the uploads in flight finish and are kept; press Ctrl-C "
                      "again to abort them"))
                backup.request_stop()
            elif task is not None:
                task.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)

    try:
        # Files still being written are waited for, up to a bound, then reported.
        wait = SETTLE_WAIT_FACTOR * settings.backup.settle_time
        result = await run_pass(settings, on_start=on_start, on_verify=on_verify,
                                reporter=reporter, scope=PassScope(settle_wait=wait))
    except asyncio.CancelledError:
        err(_("aborted: the uploads in flight were cut off (the server keeps nothing of "
              "them); every file finished before is recorded and is not sent again"))
        return 130
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    p = result.progress
    if isinstance(reporter, TerminalProgress):
        reporter.clear()
    summary = _("{uploaded} uploaded, {duplicates} already on the server, {failed} failed; "
                "{backed_up} of {seen} files backed up ({sent} sent in {time})").format(
        uploaded=count(p.uploaded), duplicates=count(p.duplicates), failed=count(p.failed),
        backed_up=count(p.backed_up), seen=count(p.seen), sent=human_bytes(p.bytes_uploaded),
        time=human_duration(_elapsed(p.started_at)))
    if result.error is not None:
        err(str(result.error))
    waiting, refused = _failed_in_state(settings)
    held = result.held if result.outcome in REACHED_END else []
    cloud = result.cloud_placeholders if result.outcome in REACHED_END else {}
    if result.outcome is PassOutcome.COMPLETE and waiting + refused + len(held) + len(cloud) > 0:
        # Failed in an earlier pass (not due for another try yet), or refused for good
        # (empty, a type the server does not take), or still being written: not backed
        # up, so never "✓".
        print(summary)
        _new_versions(result)
        _being_written(held)
        _only_in_cloud(cloud)
        if waiting:
            print(ngettext("✗ {n} file failed earlier and is not backed up; it is tried "
                           "again later, or now after `immich-backupd retry --all`.",
                           "✗ {n} files failed earlier and are not backed up; they are "
                           "tried again later, or now after `immich-backupd retry --all`.",
                           waiting).format(n=count(waiting)))
        if refused:
            print(ngettext("✗ {n} file cannot be backed up: the server refuses it "
                           "(`immich-backupd failed` says why).",
                           "✗ {n} files cannot be backed up: the server refuses them "
                           "(`immich-backupd failed` says why).",
                           refused).format(n=count(refused)))
        return int(ExitCode.FILES_FAILED)
    if result.outcome is PassOutcome.STOPPED:
        print(_("Backup stopped: {summary}. Everything finished is recorded; the rest is "
                "backed up next time.").format(summary=summary))
    elif result.outcome is PassOutcome.COMPLETE and (late := _late_sidecars(settings)):
        print(summary)  # the photos are up, but not every sidecar: never "✓"
        print(late_line(late))
    elif result.outcome is PassOutcome.COMPLETE:
        print(_("✓ Backup complete: {summary}").format(summary=summary))
    else:
        print(summary)
    _new_versions(result)
    if result.outcome is PassOutcome.PARTIAL:
        _being_written(held)
        _only_in_cloud(cloud)
    for problem in result.folder_problems:
        print(folder_problems.line(problem, show_path(problem.path)))
    if p.failed:
        print(_("See the failures with `immich-backupd failed`; they are retried on the next "
                "pass, or at once after `immich-backupd retry --all`."))
    return int(exit_code_for(result))


SHOWN_HELD = 10  # files still being written listed by name; the rest are counted


def _being_written(held: list[Path]) -> None:
    """Say which files were not backed up because they are still being written."""
    if not held:
        return
    print(ngettext("✗ {n} file is still being written; run again when it is finished.",
                   "✗ {n} files are still being written; run again when they are finished.",
                   len(held)).format(n=count(len(held))))
    for path in sorted(held)[:SHOWN_HELD]:
        print(f"  {show_path(path)}")
    if len(held) > SHOWN_HELD:
        print("  " + _("… and {n} more").format(n=count(len(held) - SHOWN_HELD)))


def _only_in_cloud(cloud: dict[Path, str]) -> None:
    """Say which cloud placeholders were left out (their photos are not on this disk)."""
    lines = cloud_lines([{"path": str(p), "kind": k} for p, k in sorted(cloud.items())])
    if lines:
        print("\n".join(lines))


def _new_versions(result: PassResult) -> None:
    n = len(result.new_versions)
    if n:
        print(ngettext("{n} file changed after its last backup and was uploaded again as "
                       "a new version (the server keeps the earlier one too).",
                       "{n} files changed after their last backup and were uploaded again "
                       "as new versions (the server keeps the earlier ones too).",
                       n).format(n=count(n)))


def _late_sidecars(settings: Settings) -> int:
    """Photos whose sidecar changed after their upload, which Immich did not get."""
    reader = StateReader(settings.state_dir)
    try:
        return reader.late_sidecar_count()
    finally:
        reader.close()


def _failed_in_state(settings: Settings) -> tuple[int, int]:
    """The files the state lists as not backed up: (failed, to be tried again; refused
    for good by the server)."""
    reader = StateReader(settings.state_dir)
    try:
        counts = reader.counts()
    finally:
        reader.close()
    return counts.get(FAILED, 0), counts.get(UNSUPPORTED, 0)


def _elapsed(started_at: float) -> float:
    import time

    return max(0.0, time.time() - started_at)
