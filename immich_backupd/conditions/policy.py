"""May this computer upload photos and videos right now? Pure: states in, decision out.

The rules live here, apart from any battery or network I/O, so every combination can be
tested (and property-tested) without a laptop, a phone hotspot or NetworkManager. The
monitor reads the sources and asks ``evaluate``; nothing else decides.

Unknown never blocks: a desktop without a battery, a server without NetworkManager, or a
source that failed must not stop backups forever, so unknown power counts as charging and
an unknown network as unmetered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ..schedule.quiet_hours import QuietHours
from .states import NetworkState, PowerState

if TYPE_CHECKING:
    from immich_backupd.config import BackupSettings

__all__ = ["ALLOW_ALL", "Decision", "Kind", "Reason", "Requirements", "evaluate"]

Kind = Literal["any", "photos", "videos"]
# Machine-readable: what the daemon waits for (status output, logs, tests).
Reason = Literal["charging", "unmetered", "quiet_hours"]

WAITING_FOR_POWER = "Waiting for power (running on battery)"
#: ``waiting_for`` in quiet hours; ``{time}`` is HH:MM (report.statusline translates it).
QUIET_HOURS = "Quiet hours: no uploads until {time}"


@dataclass(frozen=True, slots=True)
class Decision:
    """What may be uploaded now and, when something is held back, a sentence saying why.

    ``waiting_for`` is user-facing (the progress line, a notification, ``status``) and is
    ``None`` exactly when both kinds are allowed. ``reason`` is the same fact for code.
    """

    photos: bool
    videos: bool
    waiting_for: str | None
    reason: Reason | None = None
    until: datetime | None = None  # when a time-based hold (quiet hours) ends, local time

    def allows(self, kind: Kind) -> bool:
        """Whether work of ``kind`` may go ahead; ``any`` means at least one kind."""
        if kind == "photos":
            return self.photos
        if kind == "videos":
            return self.videos
        return self.photos or self.videos


ALLOW_ALL = Decision(photos=True, videos=True, waiting_for=None)


def evaluate(
    *,
    require_charging: bool,
    require_unmetered: bool,
    metered_photos: bool,
    metered_videos: bool,
    power: PowerState,
    network: NetworkState,
    quiet_until: datetime | None = None,
) -> Decision:
    """Given the user's requirements and the current power and network, return a Decision.

    In quiet hours (``quiet_until``: when they end) nothing goes up, whatever else holds.

    On battery with ``require_charging``: nothing, waiting for power (the network does not
    matter then). On a metered network: photos iff ``metered_photos``, videos iff
    ``metered_videos``, and neither with ``require_unmetered``. ``None`` (unknown) in either
    state never holds anything back.
    """
    if quiet_until is not None:
        return Decision(False, False, QUIET_HOURS.format(time=quiet_until.strftime("%H:%M")),
                        "quiet_hours", quiet_until)
    if require_charging and power.on_battery is True:
        return Decision(False, False, WAITING_FOR_POWER, "charging")
    if network.metered is not True:
        return ALLOW_ALL
    photos = metered_photos and not require_unmetered
    videos = metered_videos and not require_unmetered
    if photos and videos:
        return ALLOW_ALL
    held = "videos" if photos else "photos" if videos else "photos and videos"
    return Decision(
        photos, videos, f"Waiting for Wi-Fi ({held} held on a metered network)", "unmetered"
    )


@dataclass(frozen=True, slots=True)
class Requirements:
    """The settings ``evaluate`` depends on (charger, network, quiet hours), bundled
    for the monitor.

    Defaults match ``BackupSettings``: no requirement, photos but not videos on metered.
    """

    require_charging: bool = False
    require_unmetered: bool = False
    metered_photos: bool = True
    metered_videos: bool = False
    quiet: QuietHours = field(default_factory=lambda: QuietHours(()))

    @classmethod
    def from_settings(cls, backup: BackupSettings) -> Requirements:
        return cls(
            require_charging=backup.require_charging,
            require_unmetered=backup.require_unmetered,
            metered_photos=backup.metered.photos,
            metered_videos=backup.metered.videos,
            quiet=backup.quiet,
        )

    @property
    def needs_power(self) -> bool:
        """Whether the power state can change a decision at all."""
        return self.require_charging

    @property
    def needs_network(self) -> bool:
        """Whether the network state can change a decision at all."""
        return self.require_unmetered or not (self.metered_photos and self.metered_videos)

    @property
    def needs_clock(self) -> bool:
        """Whether the time of day can change a decision (quiet hours)."""
        return bool(self.quiet.ranges)

    @property
    def needs_checks(self) -> bool:
        """False when every state allows everything: then no source need ever be read."""
        return self.needs_power or self.needs_network or self.needs_clock

    def evaluate(self, power: PowerState, network: NetworkState,
                 now: datetime | None = None) -> Decision:
        """``now``: the local time, for quiet hours (None: not in quiet hours)."""
        return evaluate(
            require_charging=self.require_charging,
            require_unmetered=self.require_unmetered,
            metered_photos=self.metered_photos,
            metered_videos=self.metered_videos,
            power=power,
            network=network,
            quiet_until=None if now is None else self.quiet.quiet_until(now),
        )
