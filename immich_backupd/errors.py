"""Exit codes and the exceptions that carry them.

Pure: imported by every layer, imports nothing of ours. The codes (sysexits, listed
under *Exit codes* in README.md) are a contract, so a service manager can tell a bad
config (do not restart) from a server that is down (retry later).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FILES_FAILED = 1  # the pass finished, but some files failed
    USAGE = 2
    UNAVAILABLE = 69  # EX_UNAVAILABLE: server unreachable or unsupported version
    QUOTA = 73  # EX_CANTCREAT: quota exceeded on the server
    IOERR = 74  # EX_IOERR: the state directory cannot be written (disk full, read-only)
    TEMPFAIL = 75  # EX_TEMPFAIL: lock held by another run, or conditions not met
    NOPERM = 77  # EX_NOPERM: API key rejected or lacking a permission
    CONFIG = 78  # EX_CONFIG: bad configuration


class BackupdError(Exception):
    """An expected failure: printed as one line, never as a traceback."""

    exit_code: ExitCode = ExitCode.UNAVAILABLE


class ConfigError(BackupdError):
    """The configuration is invalid. ``problems`` holds every problem, one English line
    each (for the log; ``str()`` joins them). A problem that also knows its translation
    (``bilingual.Line``) gives it to :meth:`translated`, for what people read."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def translated(self) -> list[str]:
        """The problems in the user's language, one or more lines each (a YAML parser's
        own text on a line of its own); the English line where none is known."""
        out: list[str] = []
        for problem in self.problems:
            lines = getattr(problem, "translated_lines", None)
            out += lines() if lines is not None else [problem]
        return out


class LockHeldError(BackupdError):
    exit_code = ExitCode.TEMPFAIL


class ServerUnavailableError(BackupdError):
    exit_code = ExitCode.UNAVAILABLE


class UnsupportedServerError(BackupdError):
    exit_code = ExitCode.UNAVAILABLE


class AuthError(BackupdError):
    """The key was rejected (401) or lacks a permission (403)."""

    exit_code = ExitCode.NOPERM


class QuotaExceededError(BackupdError):
    exit_code = ExitCode.QUOTA


class StateError(BackupdError):
    """The state database cannot be read or written (disk full, read-only, damaged).

    Nothing is lost: what the server confirmed but the state could not record is found
    again by checksum on the next pass, and not uploaded twice.
    """

    exit_code = ExitCode.IOERR
