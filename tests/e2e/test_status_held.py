"""What a pass left is the headline afterwards (issue 14): files still being written
after ``once`` (in ``status`` and ``--json``), and cloud placeholders in the daemon's
own status line (sd_notify STATUS), not only in ``status``."""

from __future__ import annotations

from .test_cloud_placeholders import folder, stub  # noqa: F401 (a fixture)
from .test_daemon import Daemon
from .test_settle import SlowWriter, stored


def test_status_after_once_counts_the_file_still_being_written(server, make_setup):
    setup = make_setup(server, photos=2, settle_time="1s")
    target = setup.lib.include[0] / "2024" / "long.jpg"
    writer = SlowWriter(target, chunks=25, chunk=50_000, pause=0.4)
    writer.start()
    proc = setup.run("once")
    assert writer.is_alive(), "the writer ended before `once`: the test proves nothing"
    assert proc.returncode == 1 and "1 file is still being written" in proc.stdout
    status = setup.json("status")
    assert status["being_written"] == {"count": 1, "files": [str(target)]}
    assert status["state"] == "waiting"
    assert status["headline"] == ("⏸ 1 file is still being written; it goes up with the "
                                  "next pass after it settles")
    assert setup.run("status").stdout.splitlines()[0] == status["headline"]

    writer.join()
    assert setup.run("once").returncode == 0
    status = setup.json("status")
    assert status["being_written"]["count"] == 0 and status["state"] == "complete"
    assert stored(server, "long.jpg") == [(len(writer.data), writer.sha1)]


def test_the_daemons_status_line_counts_cloud_placeholders(server, make_setup, folder,  # noqa: F811
                                                           tmp_path):
    setup = make_setup(server, photos=1)
    stub(setup.lib.include[0] / "beach.jpg.nextcloud", xattr=False)
    d = Daemon(setup, tmp_path)
    try:
        d.wait_notify(lambda m: m == "READY=1")
        d.wait_notify(lambda m: m == "STATUS=1 file is only in the cloud (not on this disk)")
        assert setup.json("status")["state"] == "cloud"
    finally:
        assert d.stop() == 0, d.stderr()
