"""Whose memory the state is, and whether the server still holds what it remembers.

The state says what is safe on the server. Two things make that memory wrong without a
file changing on this disk:

- **Another server or user.** The same config and ``state_dir`` pointed at a new or
  wiped server, a restored or reinstalled Immich, another user's key. The OpenAPI
  specs (v2.7 and v3.1) offer no instance id (``/server/about`` names the build and
  needs a permission of its own); the user's id from ``GET /users/me`` is a UUID the
  server made when it created the user, so it differs between servers and between users,
  and stays when only the server's address changes. The state keeps (address, user id,
  e-mail) under ``meta.server_identity`` and compares them at the start of every pass.
  On a change, every known checksum is asked of this server: what it has is recorded
  with its id there, what it lacks is uploaded by the same pass.
- **Deletions and trash in Immich.** ``backup.verify_interval`` (and ``verify``) asks
  the server about every known checksum again and records what it says: present,
  trashed, or gone (deleted by the user: kept out of the backup until ``retry
  --deleted``).

Both are one walk over the state in key order, ``BATCH`` checksums a request, writing
only the records whose verdict changed: memory stays flat, and 1M files are 200
requests. The decisions are the plain functions :func:`compare`, :func:`verify_due`,
:func:`first_mode` and :func:`verdict`; :func:`reconcile` is the I/O. The server is a
:class:`~.server.VerifyServer`: the caller hands in one that retries
(``server.Retrying``, as the pass's stages get), so no call here retries on its own.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum

from ..errors import ServerUnavailableError
from ..immich.client import CheckResult
from ..immich.errors import ApiError, TransportError
from ..state import DELETED, DUPLICATE, ON_SERVER, PENDING, TRASHED, StateStore
from .connect import raise_if_fatal
from .server import VerifyServer

log = logging.getLogger("immich_backupd.verify")

IDENTITY_KEY = "server_identity"  # meta: the Identity the state's records belong to
LAST_VERIFY_KEY = "last_verify"  # meta: the VerifyReport of the last complete verify
LEGACY_SERVER_KEY = "server"  # meta: what status shows of the server (has its url)
BATCH = 5000  # checksums a bulk-upload-check request (the official CLI's figure)


class Change(Enum):
    """The server and user of this pass, against those the state was made with."""

    SAME = "same"  # the same user (the server's address may have changed)
    FIRST = "first"  # none recorded: a new state, or one from an older release
    OTHER = "other"  # another server, or another user of it


class Mode(Enum):
    """What an asset the server does not have means."""

    SAME = "same"  # the server is the one we uploaded to: the user deleted it
    OTHER = "other"  # another server or user: it was never there; upload it


@dataclass(frozen=True, slots=True)
class Identity:
    url: str
    user_id: str
    email: str

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str | None) -> Identity | None:
        try:
            data = json.loads(text or "null")
            return cls(str(data["url"]), str(data["user_id"]), str(data.get("email", "")))
        except (ValueError, TypeError, KeyError):
            return None

    def describe(self) -> str:
        return f"{self.url} as {self.email or self.user_id}"


def compare(stored: Identity | None, current: Identity) -> Change:
    """SAME when the user id is the one recorded (the address alone may move: a new
    hostname or proxy is the same server), OTHER when it differs, FIRST when none is."""
    if stored is None:
        return Change.FIRST
    return Change.SAME if stored.user_id == current.user_id else Change.OTHER


def legacy_url(server_meta: str | None) -> str | None:
    """The server address a state from before identities were kept last used (it
    recorded only that, in ``meta.server``); None if it has none."""
    try:
        url = (json.loads(server_meta or "null") or {}).get("url")
    except (ValueError, AttributeError):
        return None
    return url.rstrip("/") if isinstance(url, str) else None


def first_mode(present: int, checked: int) -> Mode:
    """For a state with no identity recorded, from the answers of its first batch:
    a server that has none of what the state says it has is not the one it was made
    with (a new or wiped server); one that has any of it is, and what it lacks was
    deleted there."""
    return Mode.OTHER if checked and not present else Mode.SAME


def verify_due(last_at: float | None, now: float, interval: float) -> bool:
    """Whether a pass at ``now`` verifies first: never verified, or ``interval``
    seconds since the last complete verify (0 or less: only on demand)."""
    if interval <= 0:
        return False
    return last_at is None or now - last_at >= interval


# (status, remote id, album to be redone) of a record after a verify.
Verdict = tuple[str, str | None, bool]


def verdict(status: str, remote_id: str | None, answer: CheckResult | None,
            mode: Mode) -> Verdict | None:
    """What a record becomes after the server answered about its checksum; None: it
    stays as it is.

    ``status`` is one of SEEN_ON_SERVER. The server's answer is the truth for what it
    has: present (back on the server, or under another id: its album is redone), in
    the trash (TRASHED). For what it does not have (``accept``): with Mode.SAME the
    user deleted it (DELETED, kept out of the backup); with Mode.OTHER it is PENDING
    (uploaded by the pass) if we had it on the server, and stays DELETED if the user
    had trashed or deleted it (their choice follows them to the new server).
    An answer that is neither (no answer, ``unsupported-format``) changes nothing.
    """
    if answer is None:
        return None
    if not answer.accept:
        if answer.reason != "duplicate" or not answer.asset_id:
            return None
        new_id = answer.asset_id
        if answer.is_trashed:
            if status == TRASHED and remote_id == new_id:
                return None
            return TRASHED, new_id, False
        if status in ON_SERVER:
            if remote_id == new_id and mode is Mode.SAME:
                return None
            return status if mode is Mode.SAME else DUPLICATE, new_id, True
        # Trashed or deleted before, there again: restored (or uploaded by other means).
        return DUPLICATE, new_id, not (status == TRASHED and remote_id == new_id)
    if mode is Mode.OTHER and status in ON_SERVER:
        return PENDING, None, True
    if status == DELETED:
        return None
    return DELETED, None, False


@dataclass(slots=True)
class VerifyReport:
    """What a verify found; the counts are of records, the ``new_*`` of changes."""

    change: str  # Change.value
    mode: str  # Mode.value
    url: str
    previous: str | None = None  # Identity.describe() of the other server or user
    current: str = ""
    checked: int = 0
    present: int = 0
    trashed: int = 0
    deleted: int = 0
    to_upload: int = 0  # not on this (other) server: the pass uploads them
    new_trashed: int = 0
    new_deleted: int = 0
    restored: int = 0  # were trashed or deleted, are on the server again
    at: float = 0.0
    complete: bool = False

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str | None) -> VerifyReport | None:
        try:
            return cls(**json.loads(text or "null"))
        except (TypeError, ValueError):
            return None

    @property
    def other_server(self) -> bool:
        return self.mode == Mode.OTHER.value


def _count(report: VerifyReport, old: str, new: Verdict | None) -> None:
    status = old if new is None else new[0]
    if status in ON_SERVER:
        report.present += 1
        report.restored += old in (TRASHED, DELETED)
    elif status == TRASHED:
        report.trashed += 1
        report.new_trashed += old != TRASHED
    elif status == DELETED:
        report.deleted += 1
        report.new_deleted += old != DELETED
    elif status == PENDING:
        report.to_upload += 1


async def reconcile(server: VerifyServer, store: StateStore,
                    report: VerifyReport, mode: Mode | None, *,
                    batch: int = BATCH,
                    on_batch: Callable[[VerifyReport], None] | None = None) -> VerifyReport:
    """Ask the server about every record seen on it, and write what changed.

    ``mode`` None decides it from the first batch (:func:`first_mode`). Failures of
    the server (after ``server``'s retries) propagate: the records already written
    stay true, and a later verify goes over everything again. ``report`` is filled in;
    ``complete`` is set at the end.
    """
    after: tuple[int, bytes] | None = None
    while True:
        rows = await store.seen_on_server(after, batch)
        if not rows:
            break
        after = (rows[-1][0], rows[-1][1])
        by_sha: dict[bytes, str] = {}
        for row in rows:
            by_sha.setdefault(row[2], str(len(by_sha)))
        answers = await server.bulk_upload_check([(i, s) for s, i in by_sha.items()])
        by_id = {a.id: a for a in answers}
        if mode is None:
            present = sum(1 for a in answers if not a.accept and a.reason == "duplicate")
            mode = first_mode(present, len(answers))
            report.mode = mode.value
        changed = []
        for dir_id, name, sha1, status, remote_id in rows:
            new = verdict(status, remote_id, by_id.get(by_sha[sha1]), mode)
            _count(report, status, new)
            if new is not None:
                changed.append((new[0], new[1], new[2], dir_id, name))
        report.checked += len(rows)
        await store.set_verdicts(changed)
        if on_batch is not None:
            on_batch(report)
    if mode is not None:
        report.mode = mode.value
    report.complete = True
    return report


async def at_pass_start(server: VerifyServer, store: StateStore, current: Identity, *,
                        interval: float, now: float, force: bool = False) -> VerifyReport | None:
    """Check whose memory the state is, and verify it when needed; the report, or None
    when no verify ran.

    A verify runs when the server or user is not the one recorded (or none is), when
    ``force`` (the ``verify`` command), or when :func:`verify_due`. The identity is
    recorded only once a verify went through everything, so one cut short by the
    server going away is done again from the start by the next pass.

    Raises ServerUnavailableError when the server fails the verify of another server
    or user (the pass must not run: it would take the other server's records for this
    one's) or fails a forced verify, and AuthError for a key that lost its permission.
    A scheduled verify that fails is logged and tried again by the next pass.
    """
    stored = Identity.loads(await store.get_meta(IDENTITY_KEY))
    change = compare(stored, current)
    mode: Mode | None = Mode.SAME
    previous = stored.describe() if stored is not None else None
    if change is Change.FIRST:
        old_url = legacy_url(await store.get_meta(LEGACY_SERVER_KEY))
        if old_url is not None and old_url != current.url.rstrip("/"):
            change, previous = Change.OTHER, old_url
        else:
            mode = None  # decided by the first batch's answers (first_mode)
    if change is Change.OTHER:
        mode = Mode.OTHER
        log.warning("this state was made with %s; the server now is %s: another server "
                    "or user. Checking the files known against it, and uploading what it "
                    "lacks", previous, current.describe())
    last = VerifyReport.loads(await store.get_meta(LAST_VERIFY_KEY))
    if not (force or change is not Change.SAME
            or verify_due(last.at if last else None, now, interval)):
        if stored is not None and stored.url != current.url:
            log.info("the server moved from %s to %s (same user)", stored.url, current.url)
            await store.set_meta(IDENTITY_KEY, current.dumps())
        return None
    report = VerifyReport(change=change.value, mode=(mode or Mode.SAME).value,
                          url=current.url, current=current.describe(),
                          previous=previous if change is Change.OTHER else None, at=now)
    started = time.monotonic()
    try:
        await reconcile(server, store, report, mode)
    except (ApiError, TransportError) as exc:
        raise_if_fatal(exc)
        if mode is not Mode.SAME or force:
            raise ServerUnavailableError(
                f"cannot check the files known against the Immich server at {current.url} "
                f"({exc}); the backup goes on when it answers") from exc
        log.warning("verify against the server failed (%s); tried again next pass", exc)
        return None
    if change is Change.FIRST and report.other_server:
        log.warning("the server at %s has none of the files this state says are on it: "
                    "a new or emptied server. Uploading them again", current.url)
    await store.set_meta(IDENTITY_KEY, current.dumps())
    await store.set_meta(LAST_VERIFY_KEY, report.dumps())
    log.info("verified %d files against %s in %.1f s: %d there, %d in the trash, %d "
             "deleted in Immich, %d to upload", report.checked, current.url,
             time.monotonic() - started, report.present, report.trashed, report.deleted,
             report.to_upload)
    return report
