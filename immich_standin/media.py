"""Immich's supported media types (dotted, lower-case extensions).

Mirrors the server's ``mime-types`` table closely enough that a client which trusts
``GET /server/media-types`` and never sends anything else will also be right on a real
server. Extensions are compared case-insensitively, like the server does.
"""

from __future__ import annotations

import os

IMAGE_EXTENSIONS: tuple[str, ...] = (
    # raw formats
    ".3fr", ".ari", ".arw", ".cap", ".cin", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf",
    ".fff", ".iiq", ".k25", ".kdc", ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef", ".psd",
    ".raf", ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f",
    # web and others
    ".avif", ".bmp", ".gif", ".heic", ".heif", ".hif", ".insp", ".jp2", ".jpe", ".jpeg",
    ".jpg", ".jxl", ".png", ".svg", ".tif", ".tiff", ".webp",
)
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".3gp", ".3gpp", ".avi", ".flv", ".insv", ".m2t", ".m2ts", ".m4v", ".mkv", ".mov",
    ".mp4", ".mpe", ".mpeg", ".mpg", ".mts", ".vob", ".webm", ".wmv",
)
SIDECAR_EXTENSIONS: tuple[str, ...] = (".xmp",)


def extension(filename: str) -> str:
    return os.path.splitext(filename)[1].lower()


def asset_type_for(filename: str) -> str | None:
    """``IMAGE``, ``VIDEO`` or ``None`` when the server would refuse the file."""
    ext = extension(filename)
    if ext in IMAGE_EXTENSIONS:
        return "IMAGE"
    if ext in VIDEO_EXTENSIONS:
        return "VIDEO"
    return None


def is_sidecar(filename: str) -> bool:
    return extension(filename) in SIDECAR_EXTENSIONS


def media_types_response() -> dict[str, list[str]]:
    return {
        "image": list(IMAGE_EXTENSIONS),
        "video": list(VIDEO_EXTENSIONS),
        "sidecar": list(SIDECAR_EXTENSIONS),
    }
