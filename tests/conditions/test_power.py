"""Power sources: a fake sysfs tree (real file reading), and pmset output samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from immich_backupd.conditions.power import (
    LinuxSysfsPower,
    MacPmsetPower,
    PowerState,
    UnknownPower,
    default_power_source,
    parse_pmset,
    power_from_supplies,
)


def supply(root: Path, name: str, **attributes: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for key, value in attributes.items():
        (folder / key).write_text(value + "\n")  # sysfs values end in a newline


async def read(root: Path) -> PowerState:
    return await LinuxSysfsPower(root).read()


async def test_laptop_on_mains_is_not_on_battery(tmp_path: Path):
    supply(tmp_path, "AC", type="Mains", online="1")
    supply(tmp_path, "BAT0", type="Battery", status="Charging", capacity="57")
    state = await read(tmp_path)
    assert (state.on_battery, state.percent, state.source) == (False, 57, "sysfs")
    assert "AC online" in state.detail


async def test_laptop_unplugged_is_on_battery(tmp_path: Path):
    supply(tmp_path, "AC", type="Mains", online="0")
    supply(tmp_path, "BAT0", type="Battery", status="Discharging", capacity="80")
    state = await read(tmp_path)
    assert (state.on_battery, state.percent) == (True, 80)


async def test_usb_c_charger_counts_as_mains(tmp_path: Path):
    supply(tmp_path, "ucsi-source-psy-USBC000:001", type="USB", online="1")
    supply(tmp_path, "BAT0", type="Battery", status="Discharging", capacity="30")
    assert (await read(tmp_path)).on_battery is False


@pytest.mark.parametrize("status", ["Charging", "Full", "Not charging"])
async def test_battery_status_alone_says_plugged_in(tmp_path: Path, status: str):
    supply(tmp_path, "BAT1", type="Battery", status=status, capacity="100")
    assert (await read(tmp_path)).on_battery is False


async def test_no_battery_is_a_desktop_and_counts_as_charging(tmp_path: Path):
    supply(tmp_path, "hidpp_battery_0", type="Battery", scope="Device", status="Discharging")
    state = await read(tmp_path)
    assert (state.on_battery, state.percent, state.detail) == (False, None, "no battery")


async def test_empty_power_supply_folder_is_a_desktop(tmp_path: Path):
    assert (await read(tmp_path)).on_battery is False


async def test_a_mouse_battery_does_not_make_a_laptop_look_unplugged(tmp_path: Path):
    supply(tmp_path, "AC", type="Mains", online="1")
    supply(tmp_path, "BAT0", type="Battery", status="Full", capacity="100")
    supply(tmp_path, "hid-mouse", type="Battery", scope="Device", status="Discharging",
           capacity="5")
    state = await read(tmp_path)
    assert (state.on_battery, state.percent) == (False, 100)


async def test_two_batteries_report_their_mean_capacity(tmp_path: Path):
    supply(tmp_path, "BAT0", type="Battery", status="Discharging", capacity="40")
    supply(tmp_path, "BAT1", type="Battery", status="Discharging", capacity="61")
    assert (await read(tmp_path)).percent == 50  # round(50.5) is even-rounded


async def test_unclear_status_without_adapters_is_unknown(tmp_path: Path):
    supply(tmp_path, "BAT0", type="Battery", status="Unknown", capacity="90")
    state = await read(tmp_path)
    assert state.on_battery is None
    assert "BAT0 Unknown" in state.detail


async def test_unclear_status_with_all_adapters_offline_is_on_battery(tmp_path: Path):
    supply(tmp_path, "AC", type="Mains", online="0")
    supply(tmp_path, "BAT0", type="Battery", status="Unknown")
    assert (await read(tmp_path)).on_battery is True


async def test_unreadable_attribute_is_skipped(tmp_path: Path):
    supply(tmp_path, "BAT0", type="Battery", status="Discharging")
    (tmp_path / "BAT0" / "capacity").mkdir()  # reading a folder fails like EIO would
    state = await read(tmp_path)
    assert (state.on_battery, state.percent) == (True, None)


async def test_missing_sysfs_is_unknown_not_an_error(tmp_path: Path):
    state = await read(tmp_path / "absent")
    assert state.on_battery is None
    assert "cannot read" in state.detail


def test_pure_rule_ignores_unknown_types():
    state = power_from_supplies({"ups": {"type": "UPS", "online": "1"}})
    assert state.on_battery is False  # no own battery: a desktop
    assert state.detail == "no battery"


# --------------------------------------------------------------------------- macOS

PMSET_AC = """\
Now drawing from 'AC Power'
 -InternalBattery-0 (id=4653155)\t100%; charged; 0:00 remaining present: true
"""
PMSET_BATTERY = """\
Now drawing from 'Battery Power'
 -InternalBattery-0 (id=4653155)\t85%; discharging; 5:25 remaining present: true
"""
PMSET_DESKTOP = "Now drawing from 'AC Power'\n"
PMSET_UPS = """\
Now drawing from 'UPS Power'
 -CP1500PFCLCD (id=1234)\t71%; discharging; (no estimate) present: true
"""


@pytest.mark.parametrize(
    ("text", "on_battery", "percent"),
    [
        (PMSET_AC, False, 100),
        (PMSET_BATTERY, True, 85),
        (PMSET_DESKTOP, False, None),
        (PMSET_UPS, True, 71),
        ("Now drawing from 'Solar Power'\n", None, None),
        ("", None, None),
    ],
)
def test_parse_pmset(text: str, on_battery: bool | None, percent: int | None):
    state = parse_pmset(text)
    assert (state.on_battery, state.percent, state.source) == (on_battery, percent, "pmset")


async def test_pmset_source_uses_its_runner():
    async def run() -> str:
        return PMSET_BATTERY

    assert (await MacPmsetPower(run).read()).on_battery is True


async def test_pmset_that_cannot_run_is_unknown():
    async def run() -> str:
        raise FileNotFoundError("pmset")

    state = await MacPmsetPower(run).read()
    assert state.on_battery is None
    assert "pmset failed" in state.detail


def test_default_power_source_per_platform():
    assert isinstance(default_power_source("linux"), LinuxSysfsPower)
    assert isinstance(default_power_source("darwin"), MacPmsetPower)
    assert isinstance(default_power_source("win32"), UnknownPower)


async def test_unknown_power_is_unknown():
    assert (await UnknownPower().read()).on_battery is None
