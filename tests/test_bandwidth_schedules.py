"""The pure parts of bandwidth caps and quiet hours: the grammar of both config values,
which cap or quiet stretch holds at a given local time and until when, and the token
bucket's waits (time passed in, nothing sleeps)."""

from __future__ import annotations

from datetime import datetime

import pytest

from immich_backupd.schedule.bandwidth import (
    BandwidthError,
    TokenBucket,
    format_rate,
    parse_rate,
    parse_timetable,
)
from immich_backupd.schedule.quiet_hours import QuietHoursError, parse_quiet_hours

MiB = 1 << 20
# 2026-12-07 is a Monday.
MON = datetime(2026, 12, 7)


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return MON.replace(day=7 + day, hour=hh, minute=mm)


@pytest.mark.parametrize(("text", "rate"), [
    ("5MB/s", 5 * MiB), ("5M", 5 * MiB), ("5 MiB/s", 5 * MiB), ("512KB/s", 512 << 10),
    ("512k", 512 << 10), ("1.5M", int(1.5 * MiB)), ("2G", 2 << 30), ("1000", 1000),
    ("100B/s", 100), ("off", None), ("0", None), ("OFF", None),
])
def test_rates(text: str, rate: int | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "5XB/s", "-1M", "5MB/h", "", "1e6"])
def test_bad_rates_are_refused_with_the_value(text: str) -> None:
    with pytest.raises(BandwidthError) as err:
        parse_rate(text)
    assert err.value.reason == "rate" and repr(text) in str(err.value)


def test_format_rate_reads_back() -> None:
    for rate in (None, 100, 512 << 10, 5 * MiB, int(1.5 * MiB)):
        assert parse_rate(format_rate(rate)) == rate


def test_a_single_rate_holds_all_week_and_never_changes() -> None:
    table = parse_timetable("4MB/s")
    assert table.limit_at(at(0, 3)) == (4 * MiB, None)
    assert table.limit_at(at(6, 23, 59)) == (4 * MiB, None)
    assert parse_timetable(None).limit_at(at(2, 12)) == (None, None)


def test_a_daily_timetable_switches_at_its_times_and_wraps_past_midnight() -> None:
    table = parse_timetable("08:00,1MB/s 23:00,off")
    assert table.limit_at(at(0, 7, 59)) == (None, at(0, 8))  # last entry of the day before
    assert table.limit_at(at(0, 8)) == (MiB, at(0, 23))
    assert table.limit_at(at(0, 12, 30)) == (MiB, at(0, 23))
    assert table.limit_at(at(0, 23, 30)) == (None, at(1, 8))
    assert table.limit_at(at(6, 23, 30)) == (None, at(7, 8))  # Sunday night → Monday


def test_semicolons_and_entries_with_the_same_rate() -> None:
    table = parse_timetable("06:00,2M;12:00,2M;18:00,512k")
    # 12:00 does not change anything: the next change is at 18:00.
    assert table.limit_at(at(0, 7)) == (2 * MiB, at(0, 18))


def test_a_weekly_timetable() -> None:
    table = parse_timetable("Mon-08:00,1M Fri-18:00,off")
    assert table.limit_at(at(0, 7)) == (None, at(0, 8))  # Monday before 08:00: weekend
    assert table.limit_at(at(2, 12)) == (MiB, at(4, 18))  # Wednesday
    assert table.limit_at(at(5, 12)) == (None, at(7, 8))  # Saturday → next Monday


@pytest.mark.parametrize(("text", "reason"), [
    ("08:00", "entry"), ("25:00,1M", "time"), ("08:61,1M", "time"), ("Xyz-08:00,1M", "weekday"),
    ("08:00,fast", "rate"), ("08:00,1M 08:00,2M", "order"), ("8am,1M", "entry"),
])
def test_bad_timetables_name_the_entry(text: str, reason: str) -> None:
    with pytest.raises(BandwidthError) as err:
        parse_timetable(text)
    assert err.value.reason == reason


def test_a_non_string_is_refused() -> None:
    with pytest.raises(BandwidthError) as err:
        parse_timetable(["5M"])
    assert err.value.reason == "type"
    with pytest.raises(BandwidthError):
        parse_timetable(True)


def test_the_bucket_lets_a_burst_through_then_paces_to_the_rate() -> None:
    bucket = TokenBucket(MiB, now=0.0, burst=256 << 10)
    assert bucket.reserve(256 << 10, 0.0) == 0.0  # the burst
    assert bucket.reserve(MiB, 0.0) == pytest.approx(1.0)  # a whole second's worth more
    # Sending 20 MiB at 4 MiB/s in 64 KiB chunks, waiting as told: ~5 s minus the burst.
    bucket = TokenBucket(4 * MiB, now=0.0)
    now = 0.0
    for _ in range(20 * 16):
        now += bucket.reserve(64 << 10, now)
    assert 4.6 < now < 5.0


def test_the_bucket_follows_a_new_rate_and_none_lifts_the_cap() -> None:
    bucket = TokenBucket(MiB, now=0.0, burst=0)
    assert bucket.reserve(MiB, 0.0) == pytest.approx(1.0)
    bucket.set_rate(2 * MiB, 1.0)  # the debt was paid at t=1
    assert bucket.reserve(2 * MiB, 1.0) == pytest.approx(1.0)
    bucket.set_rate(None, 1.5)
    assert bucket.reserve(100 * MiB, 1.5) == 0.0
    assert bucket.rate is None


def test_quiet_hours_hold_from_start_to_end() -> None:
    quiet = parse_quiet_hours("08:00-18:00")
    assert quiet.quiet_until(at(0, 7, 59)) is None
    assert quiet.quiet_until(at(0, 8)) == at(0, 18)
    assert quiet.quiet_until(at(0, 17, 59)) == at(0, 18)
    assert quiet.quiet_until(at(0, 18)) is None
    assert quiet.next_start(at(0, 18)) == at(1, 8)


def test_quiet_hours_over_midnight_and_touching_ranges_are_one_stretch() -> None:
    quiet = parse_quiet_hours("22:00-06:00, 06:00-07:30")
    assert quiet.quiet_until(at(0, 23)) == at(1, 7, 30)
    assert quiet.quiet_until(at(1, 2)) == at(1, 7, 30)
    assert quiet.quiet_until(at(1, 12)) is None
    assert parse_quiet_hours("18:00-24:00").quiet_until(at(0, 20)) == at(1, 0)
    assert parse_quiet_hours(None).quiet_until(at(0, 12)) is None
    assert parse_quiet_hours("").next_start(at(0, 12)) is None


@pytest.mark.parametrize(("value", "reason"), [
    ("8-18", "range"), ("08:00-25:00", "time"), ("08:00-08:00", "range"),
    ("00:00-12:00 12:00-00:00", "range"), (8, "type"),
])
def test_bad_quiet_hours_name_the_range(value: object, reason: str) -> None:
    with pytest.raises(QuietHoursError) as err:
        parse_quiet_hours(value)
    assert err.value.reason == reason


def test_status_run_controls_at_a_given_time() -> None:
    """What status reports of the cap and the quiet hours, for a given local time."""
    from immich_backupd.config import parse_settings
    from immich_backupd.report.status import run_controls

    text = ("server:\n  url: https://photos.example.com\n  api_key: " + "k" * 40 + "\n"
            "albums:\n  include: [/tmp]\n"
            "backup:\n  bandwidth: 08:00,1MB/s 23:00,off\n  quiet_hours: 12:00-13:00\n")
    settings = parse_settings(text, env={"HOME": "/tmp"})
    assert run_controls(settings, at(0, 12, 30)) == {
        "bandwidth": MiB, "bandwidth_until": "2026-12-07T23:00",
        "quiet_until": "2026-12-07T13:00"}
    assert run_controls(settings, at(0, 23, 30)) == {
        "bandwidth": None, "bandwidth_until": "2026-12-08T08:00", "quiet_until": None}
