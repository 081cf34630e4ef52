"""The project's vocabulary: the states a file, a pass and the daemon can be in.

No I/O and no I/O frameworks are imported here: every layer (state, pipeline, report,
daemon, cli, dashboard) may use these names. Each enum is a ``StrEnum`` whose values are
the strings written to the state database, live.json and ``status --json``; those are
stable interfaces, so a value never changes once shipped (add members, never rename).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Generic, NamedTuple, TypeAlias, TypeVar

C = TypeVar("C")


class FileStatus(StrEnum):
    """What the state knows about one file (``files.status``)."""

    UPLOADED = "uploaded"  # sent by us, the server answered 201 created
    DUPLICATE = "duplicate"  # the server already had this content (or another path of ours)
    FAILED = "failed"  # retried after next_attempt_at
    TRASHED = "trashed"  # in the server's trash: reported, not uploaded again
    UNSUPPORTED = "unsupported"  # the server refused the type; retried only if it changes
    # The server had it and no longer has it: the user deleted it in Immich. Not uploaded
    # again unless asked (``retry --deleted``); the file stays on this disk.
    DELETED = "deleted_on_server"
    PENDING = "pending"  # hashed, known not to be on this server: the next pass uploads it


#: On the server now (as far as the state knows).
ON_SERVER = (FileStatus.UPLOADED, FileStatus.DUPLICATE)
#: What the server was seen to hold (or the user to remove): what ``verify`` asks again.
SEEN_ON_SERVER = (FileStatus.UPLOADED, FileStatus.DUPLICATE, FileStatus.TRASHED,
                  FileStatus.DELETED)

class Vanished(StrEnum):
    """What became of a file deleted between the scan and its read: it is forgotten,
    not given a status (never written to ``files.status``)."""

    VANISHED = "vanished"


#: Deleted between the scan and its read (see :class:`Vanished`).
VANISHED: Final = Vanished.VANISHED
#: What became of one file of a pass: ``pipeline.plan.Candidate.outcome``, and what a
#: reporter is told (``Reporter.file_done``).
FileOutcome: TypeAlias = FileStatus | Vanished


class PassOutcome(StrEnum):
    """How a pass ended (``passes.outcome``, the exit code of ``once``)."""

    RUNNING = "running"  # the row of a pass not finished (or one killed: see status)
    # Every file in scope was handled or left for later on purpose: files still being
    # written or held by the conditions leave a pass COMPLETE (``PassResult.held`` and
    # ``held_by_condition`` say which), and what tells the user (once, status) does not
    # show ✓ while there are any.
    COMPLETE = "complete"
    PARTIAL = "partial"  # some files failed, or include folders could not be read
    STOPPED = "stopped"  # asked to stop (SIGTERM, pause) before the end
    QUOTA = "quota"  # the server's storage quota is full
    OFFLINE = "offline"  # the server could not be reached for too long
    AUTH = "auth"  # the API key was refused
    STATE = "state"  # the state database could not be written
    ABORTED = "aborted"  # cancelled from outside (the task was cancelled)


#: A pass that went through every file in scope (some may have failed or been held).
REACHED_END = (PassOutcome.COMPLETE, PassOutcome.PARTIAL)


class DaemonPhase(StrEnum):
    """What the daemon is doing (``status --json`` → ``live.state``)."""

    STARTING = "starting"
    SCANNING = "scanning"
    BACKING_UP = "backing-up"
    WAITING = "waiting"  # for a condition, the server, a folder; see ``waiting_for``
    IDLE = "idle"
    ERROR = "error"
    STOPPED = "stopped"


class Outcome(NamedTuple, Generic[C]):
    """What became of one file of a pass, as the record stage writes it to the state.

    ``subject`` is the pipeline's file (``pipeline.plan.Candidate``), generic here so that
    this module imports nothing above it. ``remote_id``: the server's asset, when it has
    one; ``error``: why the file is not on the server (shown to the user)."""

    subject: C
    status: FileStatus
    remote_id: str | None = None
    error: str | None = None
