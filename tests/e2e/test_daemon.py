"""The daemon as a real process: real inotify, a real NOTIFY_SOCKET, real signals."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from immich_standin import StandinServer
from immich_standin.library import JPEG

from .conftest import REPO, server_assets

TRIGGER = 0.5
MAX_DELAY = 3.0


class Daemon:
    """`immich-backupd run` with a notify socket the test reads."""

    def __init__(self, setup, tmp: Path, env: dict[str, str] | None = None) -> None:
        self.setup = setup
        self.sock_path = tmp / f"notify-{time.monotonic_ns()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._running = True
        self._reader.start()
        self.log = tmp / f"daemon-{time.monotonic_ns()}.log"
        # Not the developer's desktop: a test that wants notifications passes the
        # address of its own private session bus in ``env``.
        full_env = {**{k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"},
                    "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": str(self.sock_path),
                    "LC_ALL": "C", "LANGUAGE": "",
                    "WATCHDOG_USEC": "1000000", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "immich_backupd", "--config", str(setup.config), "run"],
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"), env=full_env, cwd=tmp)
        self.started = time.monotonic()

    def _read(self) -> None:
        while self._running:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                for line in data.decode().splitlines():
                    self.messages.append((time.monotonic(), line))

    def lines(self) -> list[str]:
        with self._lock:
            return [m for _, m in self.messages]

    def wait_notify(self, pred: Callable[[str], bool], timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for t, line in self.messages:
                    if pred(line):
                        return t
            assert self.proc.poll() is None, self.stderr()
            time.sleep(0.05)
        raise AssertionError(f"no such notification; got {self.lines()[-10:]}\n{self.stderr()}")

    def stderr(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._running = False
        self._reader.join(timeout=2)
        self.sock.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._running = False


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def on_server(srv: StandinServer, data: bytes) -> bool:
    return hashlib.sha1(data).hexdigest() in server_assets(srv)


def library_on_server(srv: StandinServer, setup) -> bool:
    """Whether ``srv`` holds the files of the setup's library, and nothing else."""
    return set(server_assets(srv)) == set(setup.lib.expected.values())


def start_backed_up(setup, srv: StandinServer, tmp: Path, timeout: float = 30) -> Daemon:
    """A daemon on ``setup``, once it is ready and its first pass put the library on
    ``srv`` (stopped again if that does not come within ``timeout`` seconds)."""
    d = Daemon(setup, tmp)
    try:
        d.wait_notify(lambda m: m == "READY=1")
        wait_until(lambda: library_on_server(srv, setup), timeout, "the initial backup")
    except BaseException:
        d.stop()
        raise
    return d


def new_photo(path: Path, size: int = 50_000) -> bytes:
    data = JPEG + os.urandom(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


@pytest.fixture
def daemon_setup(server, make_setup):
    return make_setup(server, trigger_delay=f"{int(TRIGGER * 1000)}ms",
                      max_delay=f"{int(MAX_DELAY)}s")


def test_daemon_watches_debounces_and_reports(server, daemon_setup, tmp_path):
    setup = daemon_setup
    d = start_backed_up(setup, server, tmp_path)
    try:
        holiday = setup.lib.include[0] / "2024" / "Holiday"

        # A file copied in is on the server within trigger_delay plus a margin.
        src = tmp_path / "outside.jpg"
        data = new_photo(src)
        shutil.copy2(src, holiday / "copied.jpg")
        took = wait_until(lambda: on_server(server, data), TRIGGER + 5, "the copied file")
        assert took >= TRIGGER * 0.8  # debounced, not immediate

        # A new subfolder is watched: a file in it goes up too.
        deep = holiday / "New Album" / "day 1"
        data = new_photo(deep / "n.jpg")
        wait_until(lambda: on_server(server, data), TRIGGER + 5, "a file in a new folder")
        wait_until(lambda: "day 1" in {a.name for a in server.state.albums.values()}, 5,
                   "the album of the new folder")

        # A steady stream of changes still starts a pass within max_delay.
        stream_dir = holiday / "stream"
        first = new_photo(stream_dir / "s0.jpg")
        t0 = time.monotonic()
        i = 1
        while not on_server(server, first):
            assert time.monotonic() - t0 < MAX_DELAY + 4, "max_delay not honoured"
            new_photo(stream_dir / f"s{i}.jpg", 2_000)
            i += 1
            time.sleep(TRIGGER / 3)  # always sooner than trigger_delay: never quiet
        assert i > 3  # changes kept coming while the pass started

        # STATUS= lines, watchdog pings, more start-up time asked for until ready.
        assert any(m.startswith("STATUS=") for m in d.lines())
        assert d.lines().index("EXTEND_TIMEOUT_USEC=60000000") < d.lines().index("READY=1")
        assert sum(m == "WATCHDOG=1" for m in d.lines()) >= 2
        status = setup.json("status")
        assert status["daemon"] and status["live"]["pid"] == d.proc.pid
    finally:
        code = d.stop()
    assert code == 0, d.stderr()
    assert "STOPPING=1" in d.lines()
    assert "Traceback" not in d.stderr()


def test_slowly_written_file_is_uploaded_once_complete(server, daemon_setup, tmp_path):
    setup = daemon_setup
    d = start_backed_up(setup, server, tmp_path)
    try:
        target = setup.lib.include[0] / "2024" / "Holiday" / "slow.jpg"
        chunks = [JPEG] + [os.urandom(20_000) for _ in range(8)]
        with target.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                fh.flush()
                time.sleep(TRIGGER * 0.8)  # slower than trigger_delay, for several seconds
        full = b"".join(chunks)
        wait_until(lambda: on_server(server, full), 15, "the finished file")
        time.sleep(TRIGGER * 4)
        with server.state.lock:
            slow = [a for a in server.state.assets.values() if a.original_file_name == "slow.jpg"]
        assert len(slow) == 1, "a partial copy was uploaded"
        assert slow[0].checksum_hex == hashlib.sha1(full).hexdigest()
    finally:
        assert d.stop() == 0, d.stderr()


def test_sigterm_during_upload_then_restart_exactly_once(server, make_setup, tmp_path):
    setup = make_setup(server, big_file_mb=48, concurrency=1, trigger_delay="500ms",
                       max_delay="3s")
    server.faults.throttle("POST", "/api/assets", bytes_per_second=12 << 20)
    d = Daemon(setup, tmp_path)
    try:
        d.wait_notify(lambda m: "BIG_0001.mov" in m and m.startswith("STATUS=Uploading"))
    finally:
        code = d.stop()
    assert code == 0, d.stderr()
    assert "STOPPING=1" in d.lines()
    server.faults.clear()
    d2 = Daemon(setup, tmp_path)
    try:
        d2.wait_notify(lambda m: m == "READY=1")
        wait_until(lambda: library_on_server(server, setup), 60, "the backup after restart")
    finally:
        assert d2.stop() == 0, d2.stderr()
    assert server.state.counters.created == len(setup.lib.expected)  # nothing twice


def test_sighup_reloads_folders_and_a_second_daemon_is_refused(server, daemon_setup, tmp_path):
    setup = daemon_setup
    d = Daemon(setup, tmp_path)
    try:
        d.wait_notify(lambda m: m == "READY=1")
        other = Daemon(setup, tmp_path)
        assert other.proc.wait(timeout=30) == 75
        other.kill()
        assert "holds the lock" in other.stderr()

        extra = tmp_path / "Extra"
        data = new_photo(extra / "e.jpg")
        cfg = json.loads(setup.config.read_text())
        cfg["albums"]["include"].append(str(extra))
        setup.config.write_text(json.dumps(cfg))
        d.proc.send_signal(signal.SIGHUP)
        d.wait_notify(lambda m: m.startswith("RELOADING=1"))
        wait_until(lambda: on_server(server, data), 20, "a file of the added folder")
        later = new_photo(extra / "later.jpg")  # and the new folder is watched
        wait_until(lambda: on_server(server, later), TRIGGER + 5, "a new file there")

        setup.config.write_text("server: [broken\n")  # a bad reload keeps the old config
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert d.proc.poll() is None
        assert "not reloaded" in d.stderr()
    finally:
        assert d.stop() == 0, d.stderr()


def test_waits_for_power_and_says_so(server, make_setup, tmp_path):
    power = tmp_path / "power_supply"
    (power / "AC").mkdir(parents=True)
    (power / "AC" / "type").write_text("Mains\n")
    (power / "AC" / "online").write_text("0\n")
    (power / "BAT0").mkdir()
    (power / "BAT0" / "type").write_text("Battery\n")
    (power / "BAT0" / "status").write_text("Discharging\n")
    (power / "BAT0" / "capacity").write_text("50\n")
    setup = make_setup(server, require_charging=True, trigger_delay="500ms", max_delay="3s")
    d = Daemon(setup, tmp_path, env={"IMMICH_BACKUPD_POWER_SUPPLY_ROOT": str(power)})
    try:
        d.wait_notify(lambda m: m.startswith("STATUS=Waiting for power"))
        d.wait_notify(lambda m: m == "READY=1")
        status = setup.json("status")
        assert status["live"]["state"] == "waiting"
        assert server.state.counters.upload_requests == 0
        (power / "AC" / "online").write_text("1\n")
        (power / "BAT0" / "status").write_text("Charging\n")
        d.proc.send_signal(signal.SIGUSR1)  # "back up now" also re-checks the conditions
        wait_until(lambda: library_on_server(server, setup), 30, "the backup once charging")
    finally:
        assert d.stop() == 0, d.stderr()


def test_files_older_than_the_daemon_go_up_in_one_pass_and_idle_stays_idle(
        server, daemon_setup, tmp_path):
    """Files the watcher never saw being written are judged by their age alone: the
    first pass takes them all (nothing is 'still being written'), and a daemon with
    nothing to do runs no further passes."""
    setup = daemon_setup
    past = time.time() - 3600
    for path in setup.lib.root.rglob("*"):
        os.utime(path, (past, past), follow_symlinks=False)
    d = start_backed_up(setup, server, tmp_path)
    try:
        wait_until(lambda: "pass complete" in d.stderr(), 10, "the first pass's summary")
        time.sleep(TRIGGER * 6)  # several debounce periods with nothing happening
        log = d.stderr()
    finally:
        code = d.stop()
    assert code == 0, d.stderr()
    assert "still being written" not in log, log
    assert log.count("pass complete") == 1, log
