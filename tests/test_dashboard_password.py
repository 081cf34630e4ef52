"""The dashboard's password (state/password.py) and the Host/Origin rules beyond loopback."""

from __future__ import annotations

from immich_backupd.config import DashboardSettings
from immich_backupd.dashboard import guard
from immich_backupd.report.status import exposure_warning
from immich_backupd.state import password


def test_the_password_is_kept_hashed_salted_and_checked(tmp_path):
    assert not password.has_password(tmp_path) and not password.verify(tmp_path, "x" * 8)
    password.set_password(tmp_path, "open sesame")
    stored = password.password_path(tmp_path).read_text()
    assert "open sesame" not in stored and stored.startswith("scrypt$")
    assert password.password_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert password.verify(tmp_path, "open sesame")
    assert not password.verify(tmp_path, "open sesame ") and not password.verify(tmp_path, "")
    assert password.hash_password("a") != password.hash_password("a")  # salted
    assert password.check_password("a", password.hash_password("a", b"s" * 16))
    for broken in ("", "plain", "scrypt$x$8$1$AA==$AA==", "md5$1$2$3$4$5"):
        assert not password.check_password("a", broken)


def test_hosts_beyond_loopback():
    hosts = guard.allowed_hosts("192.168.1.5", 8484, ("nas", "nas.local"))
    assert guard.host_allowed("NAS:8484", hosts) and guard.host_allowed("nas.local:8484", hosts)
    assert guard.host_allowed("192.168.1.5:8484", hosts)
    assert not guard.host_allowed("192.168.1.6:8484", hosts)  # one address: only it
    assert not guard.host_allowed("localhost:8484", hosts)
    anywhere = guard.allowed_hosts("0.0.0.0", 8484, ("nas",))
    assert guard.host_allowed("10.0.0.2:8484", anywhere)  # an IP literal: no DNS to rebind
    assert guard.host_allowed("[fe80::1]:8484", anywhere)
    assert not guard.host_allowed("10.0.0.2:8485", anywhere)
    assert not guard.host_allowed("rebind.example:8484", anywhere)
    ok = guard.origin_allowed
    assert ok("POST", "https://nas:8484", None, anywhere, "https")
    assert not ok("POST", "http://nas:8484", None, anywhere, "https")  # another scheme
    assert not ok("POST", "https://evil.example:8484", None, anywhere, "https")


def test_where_the_dashboard_listens_is_warned_about():
    assert exposure_warning(DashboardSettings()) is None
    wide = DashboardSettings(host="0.0.0.0")
    assert "--set-password" in (exposure_warning(wide, password=False) or "")
    assert "without TLS" in (exposure_warning(wide, password=True) or "")
    from pathlib import Path
    tls = DashboardSettings(host="0.0.0.0", tls_cert=Path("/c"), tls_key=Path("/k"))
    assert exposure_warning(tls, password=True) is None
    assert exposure_warning(DashboardSettings(host="0.0.0.0", enabled=False)) is None


def test_a_guesser_pays_for_its_wrong_passwords_without_keeping_another_address_waiting(
        tmp_path):
    import asyncio

    from immich_backupd.dashboard import login

    password.set_password(tmp_path, "open sesame")

    async def scenario() -> None:
        released = asyncio.Event()
        delays: list[float] = []

        async def held_sleep(seconds: float) -> None:  # the wrong password's delay, held open
            delays.append(seconds)
            await released.wait()

        guesses = login.Guesses(tmp_path, sleep=held_sleep)
        first = asyncio.create_task(guesses.check("guess 1", "203.0.113.9"))
        second = asyncio.create_task(guesses.check("open sesame", "203.0.113.9"))
        while not delays:  # the guesser's first try is wrong and now waits out its delay
            await asyncio.sleep(0.01)
        assert guesses.trying() == 1
        # Another address logs in while the guesser's delay runs...
        assert await asyncio.wait_for(guesses.check("open sesame", "192.168.1.20"), 30)
        # ...but the guesser's next try (even the right one) waits for its own turn.
        await asyncio.sleep(0.05)
        assert not second.done() and delays == [login.WRONG_DELAY]
        released.set()
        assert not await first and await second
        assert guesses.trying() == 0  # nobody waits: nothing is kept per address

    asyncio.run(scenario())
