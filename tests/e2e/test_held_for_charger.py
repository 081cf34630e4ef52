"""Files wait for the charger and are counted: with ``backup.require_charging`` on
battery the daemon runs no pass, and the photos changed meanwhile are counted in
`status`, `status --json` and the status line (never "✓"); plugged in, they go up by
themselves (a sysfs power_supply folder of real files; the daemon in-process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from immich_backupd.conditions import ConditionMonitor, Requirements
from immich_backupd.conditions.network import UnknownNetwork
from immich_backupd.conditions.power import LinuxSysfsPower
from immich_backupd.config import load_settings
from immich_backupd.daemon.core import Daemon

from .conftest import Setup, server_assets, until
from .test_daemon import new_photo


def plug(root: Path, *, mains: bool) -> None:
    for name, attrs in {"AC": {"type": "Mains", "online": "1" if mains else "0"},
                        "BAT0": {"type": "Battery", "capacity": "60",
                                 "status": "Charging" if mains else "Discharging"}}.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for attr, value in attrs.items():
            (root / name / attr).write_text(value + "\n")


def on_power(server, make_setup, tmp_path: Path, *, mains: bool) -> tuple[Setup, Daemon, Path]:
    """A setup that requires charging, and an in-process daemon on it whose power is the
    sysfs folder returned (plugged in or not: see :func:`plug`). The conditions are
    checked again only when the power changes (a recheck_interval of an hour)."""
    setup = make_setup(server, trigger_delay="300ms", max_delay="3s", require_charging=True)
    settings = load_settings(setup.config)
    power = tmp_path / "power_supply"
    plug(power, mains=mains)
    monitor = ConditionMonitor(LinuxSysfsPower(power), UnknownNetwork("none", "test"),
                               Requirements.from_settings(settings.backup),
                               recheck_interval=3600)
    return setup, Daemon(setup.config, settings, monitor=monitor), power


async def test_files_changed_on_battery_are_counted_and_go_up_on_the_charger(
    server, make_setup, tmp_path
):
    setup, daemon, power = on_power(server, make_setup, tmp_path, mains=True)
    task = asyncio.create_task(daemon.run())
    try:
        first = set(setup.lib.expected.values())
        await until(lambda: set(server_assets(server)) == first, 30, "the first backup")
        await until(lambda: daemon._status_text().startswith("Backup complete"), 10, "idle")

        plug(power, mains=False)
        folder = setup.lib.include[0] / "2024" / "Battery"
        new = [folder / "IMG_8001.jpg", folder / "IMG_8002.jpg"]
        for path in new:
            new_photo(path)
        (folder / "notes.txt").write_text("not a photo: not counted")
        await until(lambda: daemon._status_text() == "2 files wait for the charger", 10,
                    "the count in the status line")
        status = await asyncio.to_thread(setup.json, "status")
        assert status["state"] == "waiting"
        assert status["held_for_charger"] == 2
        assert status["headline"] == "⏸ 2 files wait for the charger"
        # One more while it waits: counted too (the events not yet taken).
        new.append(folder / "IMG_8003.jpg")
        new_photo(new[-1])
        await until(lambda: daemon._status_text() == "3 files wait for the charger", 10,
                    "the third")
        for _ in range(50):  # live.json follows within a second
            text = (await asyncio.to_thread(setup.run, "status")).stdout
            if text.startswith("⏸ 3"):
                break
            await asyncio.sleep(0.1)
        assert text.splitlines()[0] == "⏸ 3 files wait for the charger"
        assert "✓" not in text.splitlines()[0]
        await asyncio.sleep(1.5)
        assert set(server_assets(server)) == first  # nothing went up on battery

        plug(power, mains=True)  # nothing else changes
        sent = first | {setup.lib.sha1_of(p) for p in new}
        took = await until(lambda: set(server_assets(server)) == sent, 15,
                           "the photos, on the charger")
        assert took < 15
        await until(lambda: daemon._status_text().startswith("Backup complete"), 10,
                    "idle again")
        status = await asyncio.to_thread(setup.json, "status")
        assert status["held_for_charger"] == 0
        assert status["headline"] == "✓ Backup complete"
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, 60) == 0


async def test_a_daemon_started_on_battery_counts_what_waits_for_the_charger(
    server, make_setup, tmp_path
):
    """No file event names the library's files when the daemon starts on battery: a walk
    without hashing (the dry run's) counts them, and the line is never a bare "waiting"."""
    setup, daemon, power = on_power(server, make_setup, tmp_path, mains=False)
    task = asyncio.create_task(daemon.run())
    try:
        files = set(setup.lib.expected.values())
        want = f"{len(files)} files wait for the charger"
        await until(lambda: daemon._status_text() == want, 15, "the count at start")
        status = await asyncio.to_thread(setup.json, "status")
        assert status["held_for_charger"] == len(files)
        assert status["headline"] == "⏸ " + want
        assert server_assets(server) == {}  # nothing read or sent on battery

        plug(power, mains=True)
        await until(lambda: set(server_assets(server)) == files, 30, "the library, plugged in")
        await until(lambda: daemon._status_text().startswith("Backup complete"), 10, "idle")
        assert (await asyncio.to_thread(setup.json, "status"))["held_for_charger"] == 0
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, 60) == 0
