"""The composition root of one pass: lock, state, client, handshake, pipeline.

``once`` calls it directly; the daemon calls it on every trigger. Everything real is
built here and nowhere else, so tests can build the same parts against the stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .config import Settings
from .errors import (
    AuthError,
    BackupdError,
    ExitCode,
    ServerUnavailableError,
    UnsupportedServerError,
)
from .hashing.hasher import Hasher
from .immich.client import ImmichClient, Quota, make_ssl_context
from .immich.versions import ServerVersion
from .model import REACHED_END, PassOutcome
from .pipeline.connect import LINK_PERMISSION, ServerInfo, connect, missing_optional
from .pipeline.dryrun import DryRunReport, dry_run_scan, settings_followups
from .pipeline.runner import WHOLE_PASS, BackupPass, PassResult, PassScope, state_error
from .pipeline.server import Retrying, retry_policy
from .pipeline.verify import Identity, VerifyReport, at_pass_start
from .report.live import Fanout, LiveFile
from .report.progress import Reporter
from .report.status import BEING_WRITTEN_KEY, LAST_STOP_KEY, stop_record
from .scan.rules import AlbumRules
from .state import (
    DB_NAME,
    SCHEMA_VERSION,
    FileRecord,
    StateStore,
    WorkerReads,
)
from .state.lock import RunLock
from .state.preview import UpgradedCopy, schema_of, upgraded_copy

log = logging.getLogger("immich_backupd")

OUTCOME_EXIT = {
    PassOutcome.COMPLETE: ExitCode.OK,
    PassOutcome.STOPPED: ExitCode.OK,
    PassOutcome.PARTIAL: ExitCode.FILES_FAILED,
    PassOutcome.QUOTA: ExitCode.QUOTA,
    PassOutcome.AUTH: ExitCode.NOPERM,
    PassOutcome.OFFLINE: ExitCode.UNAVAILABLE,
    PassOutcome.STATE: ExitCode.IOERR,
}


def make_client(settings: Settings, device_id: str) -> ImmichClient:
    server = settings.server
    if not server.verify_tls:
        log.warning("TLS certificate verification is OFF for %s (server.verify_tls: false): "
                    "anyone on the network path can read your API key and photos", server.url)
    return ImmichClient(server.api_url, server.key(), timeout=server.timeout,
                        ssl_context=make_ssl_context(server.verify_tls, server.ca_file),
                        device_id=device_id)


async def run_pass(
    settings: Settings,
    *,
    reporter: Reporter | None = None,
    on_start: Callable[[BackupPass], None] | None = None,
    on_verify: Callable[[VerifyReport], None] | None = None,
    scope: PassScope = WHOLE_PASS,
    live: bool = True,
) -> PassResult:
    """Run one full pass under the state directory's lock.

    Raises BackupdError (with its exit code) when the pass cannot start: lock held,
    server unreachable or unsupported, key rejected, state directory not writable
    (StateError, exit 74: disk full, read-only). ``on_start`` receives the pass
    before it runs, so a caller can wire signals to ``request_stop``; ``on_verify``
    what the check of the server before it found, when a verify ran (pipeline.verify).
    ``scope``: where the pass looks, what it may upload and holds, how long it waits for
    files still being written (see PassScope); ``live`` writes live.json (the daemon
    publishes its own).
    """
    try:
        return await _run_pass(settings, reporter=reporter, on_start=on_start,
                               on_verify=on_verify, scope=scope, live=live)
    except sqlite3.Error as exc:  # opening the state, or a write outside the pipeline
        raise state_error(settings.state_dir / DB_NAME, exc) from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):  # the lock file
            raise state_error(settings.state_dir, exc) from exc
        raise


async def _run_pass(
    settings: Settings,
    *,
    reporter: Reporter | None,
    on_start: Callable[[BackupPass], None] | None,
    on_verify: Callable[[VerifyReport], None] | None,
    scope: PassScope,
    live: bool,
) -> PassResult:
    with RunLock(settings.state_dir):
        store = await StateStore.open(settings.state_dir)
        try:
            client = make_client(settings, await store.device_id())
            async with client:
                try:
                    info = await connect(client, album_sync=settings.makes_albums)
                except (AuthError, ServerUnavailableError, UnsupportedServerError) as exc:
                    # No pass row says so: ``status`` must not show the last one's "✓".
                    with contextlib.suppress(sqlite3.Error):
                        await store.set_meta(LAST_STOP_KEY, stop_record(exc, time.time()))
                    raise
                if await store.get_meta(LAST_STOP_KEY) not in (None, "null"):
                    await store.set_meta(LAST_STOP_KEY, "null")
                log.info("connected to Immich %s at %s", info.version, settings.server.url)
                report = await _check_server(client, store, settings, info)
                if report is not None and on_verify is not None:
                    on_verify(report)
                await _save_server(store, settings, info.version, info.quota)
                reporters = [r for r in (reporter,) if r is not None]
                if live:
                    reporters.append(LiveFile(settings.state_dir))
                backup = BackupPass(settings, client, store, info, reporter=Fanout(*reporters),
                                    hasher=Hasher(), scope=scope)
                if on_start is not None:
                    on_start(backup)
                try:
                    result = await backup.run()
                finally:
                    backup.hasher.close()
                if result.outcome in REACHED_END:
                    await _save_being_written(store, result.held)
                elif result.outcome in (PassOutcome.STOPPED, PassOutcome.ABORTED):
                    # What an earlier pass left as being written is older than this
                    # pass, which took those files or stopped before them: status is
                    # to say that the backup stopped, not that files are being written.
                    await _save_being_written(store, [])
                if result.outcome in (*REACHED_END, PassOutcome.QUOTA):
                    try:
                        quota = await client.quota()
                    except Exception as exc:  # only a figure for status
                        log.debug("quota refresh failed: %s", exc)
                    else:
                        await _save_server(store, settings, info.version, quota)
                return result
        finally:
            with contextlib.suppress(sqlite3.Error):  # a full disk must not hide the error
                await store.close()


async def _check_server(client: ImmichClient, store: StateStore, settings: Settings,
                        info: ServerInfo, *, force: bool = False) -> VerifyReport | None:
    """Whose memory the state is, and a verify when it is due (see pipeline.verify)."""
    return await at_pass_start(
        Retrying(client, retry_policy(settings.backup.retry)), store,
        Identity(settings.server.url, info.user_id, info.user_email),
        interval=settings.backup.verify_interval, now=time.time(), force=force)


async def run_verify(settings: Settings) -> VerifyReport:
    """``verify``: check the server and user, and ask the server about every file the
    state has seen on it, now, under the state directory's lock. Raises BackupdError
    (with its exit code) like a pass that cannot start."""
    try:
        with RunLock(settings.state_dir):
            store = await StateStore.open(settings.state_dir)
            try:
                client = make_client(settings, await store.device_id())
                async with client:
                    info = await connect(client, album_sync=settings.makes_albums)
                    report = await _check_server(client, store, settings, info, force=True)
                    await _save_server(store, settings, info.version, info.quota)
            finally:
                with contextlib.suppress(sqlite3.Error):
                    await store.close()
    except sqlite3.Error as exc:
        raise state_error(settings.state_dir / DB_NAME, exc) from exc
    if report is None:  # a scheduled verify that failed; a forced one raises instead
        raise ServerUnavailableError(f"the Immich server at {settings.server.url} did not "
                                     "answer the verify; try again later")
    return report


async def run_dry(settings: Settings) -> DryRunReport:
    """``once --dry-run``: what a pass would do (see pipeline/dryrun.py); writes nothing,
    sends only read requests, takes no lock. A state of an older release is read from
    an upgraded copy (state/preview.py; ``report.upgraded`` says so), the real one only
    read. Raises BackupdError like a pass that cannot start (server unreachable, key
    refused, a state of a newer release: StateError, exit 74)."""
    path = settings.state_dir / DB_NAME
    exists = path.exists()
    with contextlib.ExitStack() as stack:
        upgraded: UpgradedCopy | None = None
        if exists:
            try:
                version = schema_of(path)
            except sqlite3.Error as exc:
                raise state_error(path, exc) from exc
            if version != SCHEMA_VERSION:
                try:  # before the first await: a signal's cancel finds it made
                    upgraded = stack.enter_context(upgraded_copy(path))
                except sqlite3.Error as exc:
                    raise state_error(Path(tempfile.gettempdir()), exc) from exc
        report = await _dry_run(settings, path if upgraded is None else upgraded.path,
                                exists=exists)
        report.upgraded = upgraded
        return report


async def _dry_run(settings: Settings, path: Path, *, exists: bool) -> DryRunReport:
    reads = WorkerReads(path) if exists else None
    try:
        # No device id is made for a state that has none: a dry run writes nothing.
        client = make_client(settings, "immich-backupd-dry-run")
        async with client:
            info = await connect(client, album_sync=settings.makes_albums)
            albums = await client.albums() if settings.makes_albums else {}

        def records_for(folder: Path, names: list[str]) -> dict[str, FileRecord]:
            return {} if reads is None else reads.dir_records(str(folder), names)

        def known(folder: str) -> dict[str, tuple[int, int, int]]:
            return {} if reads is None else reads.dir_known(folder).on_server

        backup = settings.backup
        rules = AlbumRules.from_settings(settings.albums)
        report = await asyncio.to_thread(
            dry_run_scan, rules,
            info.media, records_for, known, album_sync=backup.album_sync,
            existing_albums=albums, ignore_placeholders=backup.ignore_cloud_placeholders,
            follow_symlinks=backup.follow_symlinks,
            stacks=(backup.stacks.raw_jpeg, backup.stacks.bursts))
        if reads is not None:
            await asyncio.to_thread(settings_followups, report, reads, rules, info.media,
                                    album_sync=backup.album_sync, now=time.time(),
                                    bursts=backup.stacks.bursts, existing_albums=albums)
        report.lacking = tuple(p for p in missing_optional(
            info.permissions, False, stacks=True, tags=True) if p != LINK_PERMISSION
        ) if info.permissions else ()
        return report
    except sqlite3.Error as exc:
        raise state_error(path, exc) from exc
    finally:
        if reads is not None:
            reads.close()


async def _save_server(store: StateStore, settings: Settings, version: ServerVersion,
                       quota: Quota) -> None:
    """What ``status`` shows of the server, kept from the last pass (it may be offline)."""
    await store.set_meta("server", json.dumps(
        {"url": settings.server.url, "version": str(version), "quota": asdict(quota)}))


async def _save_being_written(store: StateStore, held: list[Path]) -> None:
    """What ``status`` counts as still being written: the files this pass left."""
    value = json.dumps(sorted({str(p) for p in held}))
    if (await store.get_meta(BEING_WRITTEN_KEY) or "[]") != value:
        with contextlib.suppress(sqlite3.Error):
            await store.set_meta(BEING_WRITTEN_KEY, value)


def exit_code_for(result: PassResult) -> ExitCode:
    """The error's own code (quota 73, key 77, offline 69, state 74), else the outcome's."""
    if isinstance(result.error, BackupdError):
        return result.error.exit_code
    return OUTCOME_EXIT.get(result.outcome, ExitCode.FILES_FAILED)
