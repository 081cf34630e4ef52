"""A daemon that finds the server down tries again when it said it would.

"trying again in 15 s" means a pass 15 s later, not at the next rescan (an hour with the
defaults): the real daemon, the stand-in refusing connections at start and back well
within the announced delay.
"""

from __future__ import annotations

import re
import threading
import time

from .test_daemon import Daemon, library_on_server, wait_until

RESCAN = 600  # seconds: far beyond the test, so only the retry can bring the files up


def test_the_daemon_reaches_a_server_back_within_the_announced_retry(server, make_setup,
                                                                    tmp_path):
    setup = make_setup(server, trigger_delay="500ms", max_delay="3s",
                       rescan_interval=f"{RESCAN}s")
    server.faults.set_down("refuse")
    d = Daemon(setup, tmp_path)
    up: threading.Timer | None = None
    try:
        announced: list[float] = []

        def retry_announced() -> bool:
            m = re.search(r"trying again in (\d+) s", d.stderr())
            if m:
                announced.append(float(m.group(1)))
            return bool(m)

        wait_until(retry_announced, 30, "the daemon to say when it tries again")
        said_at = time.monotonic()
        delay = announced[0]
        assert delay < RESCAN / 10
        up = threading.Timer(min(3.0, delay / 3), server.faults.set_down, args=(None,))
        up.start()
        wait_until(lambda: library_on_server(server, setup), delay + 10,
                   "the backup after the server came back")
        took = time.monotonic() - said_at
        assert took >= delay - 1.5, "it tried again before the delay it announced"
        assert "Traceback" not in d.stderr()
    finally:
        if up is not None:
            up.cancel()
        server.faults.set_down(None)
        assert d.stop() == 0, d.stderr()
