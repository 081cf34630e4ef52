"""Server versions: which we support, and what each needs on upload.

v3 removed ``deviceAssetId``, ``deviceId``, ``POST /assets/exist`` and
``GET /assets/device/{deviceId}``; v2 servers still require the first two on upload. We
branch on the major version; everything else we use is the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED_MAJORS = (2, 3)


@dataclass(frozen=True, slots=True)
class ServerVersion:
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def supported(self) -> bool:
        return self.major in SUPPORTED_MAJORS

    @property
    def needs_device_fields(self) -> bool:
        """v2 requires deviceAssetId and deviceId on upload; v3 dropped them."""
        return self.major == 2

    @property
    def duration_as_ms(self) -> bool:
        """v3 takes ``duration`` as integer milliseconds; v2 as a "H:MM:SS.ffffff" string."""
        return self.major >= 3


def unsupported_message(version: ServerVersion) -> str:
    majors = " and ".join(f"v{m}.x" for m in SUPPORTED_MAJORS)
    hint = "upgrade the Immich server" if version.major < min(SUPPORTED_MAJORS) else (
        "upgrade immich-backupd"
    )
    return f"Immich server version {version} is not supported (supported: {majors}); {hint}"


def format_duration_v2(ms: int) -> str:
    """v2's duration string, as its mobile app sends it: ``H:MM:SS.ffffff``."""
    seconds, millis = divmod(ms, 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}.{millis * 1000:06d}"
