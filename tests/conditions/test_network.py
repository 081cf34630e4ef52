"""Network sources: NetworkManager's values, its change signals, and no bus at all."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from immich_backupd.conditions.network import (
    UnknownNetwork,
    Watchable,
    default_network_source,
)

nm = pytest.importorskip("immich_backupd.conditions.networkmanager")  # dbus-fast: Linux only
from dbus_fast import Message, MessageType, Variant  # noqa: E402


@pytest.mark.parametrize(
    ("value", "metered"),
    [(0, None), (1, True), (2, False), (3, True), (4, False), (99, None)],
)
def test_nm_metered_values(value: int, metered: bool | None):
    assert nm.metered_from_nm(value) is metered


def signal(path: str, interface: str, member: str, signature: str, body: list) -> Message:
    return Message(message_type=MessageType.SIGNAL, path=path, interface=interface,
                   member=member, signature=signature, body=body)


PROPS = "org.freedesktop.DBus.Properties"


def test_metered_change_signals_are_recognised():
    changed = signal(nm.NM_PATH, PROPS, "PropertiesChanged", "sa{sv}as",
                     [nm.NM_NAME, {"Metered": Variant("u", 1)}, []])
    invalidated = signal(nm.NM_PATH, PROPS, "PropertiesChanged", "sa{sv}as",
                         [nm.NM_NAME, {}, ["Metered"]])
    legacy = signal(nm.NM_PATH, nm.NM_NAME, "PropertiesChanged", "a{sv}",
                    [{"Metered": Variant("u", 4)}])
    restarted = signal("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged",
                       "sss", [nm.NM_NAME, ":1.4", ":1.9"])
    assert all(map(nm.is_metered_change, (changed, invalidated, legacy, restarted)))


def test_other_signals_are_ignored():
    other_property = signal(nm.NM_PATH, PROPS, "PropertiesChanged", "sa{sv}as",
                            [nm.NM_NAME, {"Connectivity": Variant("u", 4)}, []])
    other_object = signal(f"{nm.NM_PATH}/Devices/1", PROPS, "PropertiesChanged", "sa{sv}as",
                          [nm.NM_NAME, {"Metered": Variant("u", 1)}, []])
    other_name = signal("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged",
                        "sss", ["org.example", "", ":1.2"])
    assert not any(map(nm.is_metered_change, (other_property, other_object, other_name)))


async def test_no_system_bus_is_unknown_with_a_reason_logged_once(tmp_path: Path, caplog):
    source = nm.NetworkManagerSource(f"unix:path={tmp_path}/no-such-socket")
    assert isinstance(source, Watchable)
    with caplog.at_level(logging.INFO, logger="immich_backupd.conditions"):
        first = await source.read()
        second = await source.read()
        await source.watch(lambda: None)  # cannot watch: says nothing, raises nothing
    assert first == second
    assert first.metered is None
    assert first.detail.startswith("no system D-Bus")
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1
    assert "treated as unmetered" in infos[0].getMessage()
    await source.close()
    await source.close()


async def test_macos_is_unknown_and_says_so_once(caplog):
    source = default_network_source("darwin")
    assert isinstance(source, UnknownNetwork)
    with caplog.at_level(logging.INFO, logger="immich_backupd.conditions"):
        states = [await source.read() for _ in range(3)]
    assert {s.metered for s in states} == {None}
    assert len(caplog.records) == 1
    assert "treated as unmetered" in caplog.records[0].getMessage()


def test_default_network_source_per_platform():
    assert isinstance(default_network_source("linux"), nm.NetworkManagerSource)
    assert isinstance(default_network_source("freebsd14"), UnknownNetwork)
