"""The pure policy: examples for the sentences, properties for the rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from immich_backupd.conditions.policy import ALLOW_ALL, Decision, Requirements, evaluate
from immich_backupd.conditions.states import NetworkState, PowerState
from immich_backupd.config import BackupSettings, Metered

BATTERY = PowerState(True, 50, "test")
MAINS = PowerState(False, 50, "test")
POWER_UNKNOWN = PowerState(None, None, "test")
METERED = NetworkState(True, "test")
UNMETERED = NetworkState(False, "test")
NET_UNKNOWN = NetworkState(None, "test")


def decide(power=MAINS, network=UNMETERED, **req: bool) -> Decision:
    return Requirements(**req).evaluate(power, network)


def test_on_battery_with_require_charging_holds_everything():
    d = decide(BATTERY, UNMETERED, require_charging=True)
    assert (d.photos, d.videos, d.reason) == (False, False, "charging")
    assert d.waiting_for == "Waiting for power (running on battery)"


def test_on_battery_without_require_charging_is_fine():
    assert decide(BATTERY, UNMETERED) == ALLOW_ALL


def test_metered_defaults_hold_videos_only():
    d = decide(MAINS, METERED)
    assert (d.photos, d.videos, d.reason) == (True, False, "unmetered")
    assert d.waiting_for == "Waiting for Wi-Fi (videos held on a metered network)"


def test_require_unmetered_holds_everything_on_metered():
    d = decide(MAINS, METERED, require_unmetered=True, metered_videos=True)
    assert (d.photos, d.videos) == (False, False)
    assert d.waiting_for == "Waiting for Wi-Fi (photos and videos held on a metered network)"


def test_videos_only_on_metered():
    d = decide(MAINS, METERED, metered_photos=False, metered_videos=True)
    assert d.waiting_for == "Waiting for Wi-Fi (photos held on a metered network)"


def test_power_wins_over_network():
    assert decide(BATTERY, METERED, require_charging=True).reason == "charging"


def test_unknowns_never_block():
    strict = {"require_charging": True, "require_unmetered": True}
    assert decide(POWER_UNKNOWN, NET_UNKNOWN, **strict) == ALLOW_ALL


def test_decision_allows_kinds():
    d = Decision(True, False, "x")
    assert d.allows("photos") and d.allows("any") and not d.allows("videos")
    assert not Decision(False, False, "x").allows("any")


def test_requirements_from_settings_and_what_they_need():
    backup = BackupSettings(require_charging=True, metered=Metered(photos=True, videos=True))
    req = Requirements.from_settings(backup)
    assert req == Requirements(True, False, True, True)
    assert (req.needs_power, req.needs_network, req.needs_checks) == (True, False, True)
    assert Requirements().needs_network  # the default holds videos on metered networks
    assert not Requirements(metered_photos=True, metered_videos=True).needs_checks


# --------------------------------------------------------------------------- properties

powers = st.builds(PowerState, st.sampled_from([True, False, None]), st.none(), st.just("h"))
networks = st.builds(NetworkState, st.sampled_from([True, False, None]), st.just("h"))
requirements = st.builds(Requirements, st.booleans(), st.booleans(), st.booleans(),
                         st.booleans())


@given(requirements, powers, networks)
def test_never_allows_more_than_permitted(req: Requirements, power, network):
    d = req.evaluate(power, network)
    if req.require_charging and power.on_battery:
        assert not d.photos and not d.videos
    if network.metered:
        assert not d.photos or (req.metered_photos and not req.require_unmetered)
        assert not d.videos or (req.metered_videos and not req.require_unmetered)


@given(requirements, powers, networks)
def test_waiting_for_is_set_exactly_when_something_is_held(req: Requirements, power, network):
    d = req.evaluate(power, network)
    held = not (d.photos and d.videos)
    assert (d.waiting_for is not None) == held == (d.reason is not None)
    if held:
        assert d.waiting_for.startswith("Waiting for ")


@given(requirements, powers, networks)
def test_unknown_never_blocks(req: Requirements, power, network):
    """An unknown state decides like the permissive known state (charging, unmetered)."""
    as_known_power = PowerState(False if power.on_battery is None else power.on_battery,
                                None, "h")
    as_known_net = NetworkState(False if network.metered is None else network.metered, "h")
    assert req.evaluate(power, network) == req.evaluate(as_known_power, as_known_net)


@given(requirements, powers, networks)
def test_nothing_to_check_means_everything_allowed(req: Requirements, power, network):
    if not req.needs_checks:
        assert req.evaluate(power, network) == ALLOW_ALL


@given(requirements, powers, networks)
def test_a_state_not_needed_never_matters(req: Requirements, power, network):
    """What the monitor relies on to leave sources untouched."""
    d = req.evaluate(power, network)
    if not req.needs_power:
        assert d == req.evaluate(PowerState(None, None, "x"), network)
    if not req.needs_network:
        assert d == req.evaluate(power, NetworkState(None, "x"))


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans(), powers, networks)
def test_function_and_bundle_agree(c: bool, u: bool, p: bool, v: bool, power, network):
    direct = evaluate(require_charging=c, require_unmetered=u, metered_photos=p,
                      metered_videos=v, power=power, network=network)
    assert direct == Requirements(c, u, p, v).evaluate(power, network)
