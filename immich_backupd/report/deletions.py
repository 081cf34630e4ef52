"""The lines about files trashed or deleted in Immich, shared by ``status``, ``once``
and ``verify`` (light: ``status`` imports it and must not import the HTTP client)."""

from __future__ import annotations

from ..i18n import ngettext
from .text import count


def deleted_line(n: int) -> str:
    """Files the user deleted in Immich: what happens to them, and how to undo it."""
    return ngettext(
        "{n} file was deleted in Immich; it stays on this disk and is not uploaded again "
        "(`immich-backupd retry --deleted` uploads it again).",
        "{n} files were deleted in Immich; they stay on this disk and are not uploaded "
        "again (`immich-backupd retry --deleted` uploads them again).", n).format(n=count(n))


def trashed_line(n: int) -> str:
    """Files in the Immich trash: they are still on the server, until it is emptied."""
    return ngettext(
        "{n} file is in the Immich trash: restore it there to keep it; once the trash is "
        "emptied, it counts as deleted in Immich.",
        "{n} files are in the Immich trash: restore them there to keep them; once the "
        "trash is emptied, they count as deleted in Immich.", n).format(n=count(n))
