"""The lines about sidecars (``.xmp``) added or changed after their photo's upload,
which Immich did not get (see pipeline/sidecars.py), shared by ``status``, ``failed``
and the dashboard (light: no HTTP client)."""

from __future__ import annotations

from ..i18n import _, ngettext
from .text import count


def late_line(n: int) -> str:
    """How many photos have such a sidecar, and where they are listed."""
    return ngettext(
        "{n} photo has a sidecar (.xmp) added or changed after its upload: Immich did "
        "not get it (`immich-backupd failed` lists it).",
        "{n} photos have a sidecar (.xmp) added or changed after their upload: Immich "
        "did not get it (`immich-backupd failed` lists them).", n).format(n=count(n))


def late_headline(n: int) -> str:
    """The status headline when all else is backed up: never ✓ for such photos."""
    return "· " + ngettext("{n} sidecar changed after its upload is not in Immich",
                           "{n} sidecars changed after their upload are not in Immich",
                           n).format(n=count(n))


def late_advice() -> str:
    """What the user can do: the server takes a sidecar only with the upload."""
    return _("Immich takes a sidecar only with the upload of its photo: edit the "
             "metadata in Immich itself (see docs/later-edits.md).")
