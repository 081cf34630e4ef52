"""The dashboard's statistics, recent warnings and transfer line (dashboard/view.py,
dashboard/logtail.py)."""

from __future__ import annotations

import asyncio
import logging

from immich_backupd.dashboard.logtail import KEEP, RecentWarnings
from immich_backupd.dashboard.view import status_view

DATA = {"headline": "✓ Backup complete", "state": "complete", "backed_up": 5, "total": 7,
        "failed": 1, "last_backup_at": None, "quota": None, "server": None,
        "folders": [{"path": "/p/Pictures", "backed_up": 4, "total": 5, "failed": 1},
                    {"path": "/p/Phone", "backed_up": 1, "total": 2, "failed": 0}],
        "albums": {"Pictures": 4, "Phone": 1},
        "live": {"uploads": [{"path": "/p/Phone/a.jpg", "sent": 5, "size": 10,
                              "percent": 50.0}],
                 "planned": 2, "done": 0, "rate": 2_400_000.0, "seconds_left": 31.0,
                 "more_to_come": False}}


def test_statistics_per_folder_and_album_and_the_transfer_line():
    view = status_view(DATA, [], False, [(0.0, "WARNING", "the server is slow")])
    assert view["stats_folders"] == [
        {"path": "/p/Pictures", "text": "4 of 5 backed up · 1 failed"},
        {"path": "/p/Phone", "text": "1 of 2 backed up"}]
    assert view["stats_albums"] == [{"name": "Phone", "text": "1 file"},
                                    {"name": "Pictures", "text": "4 files"}]
    assert view["warnings"][0]["message"] == "the server is slow"
    assert "2.4 MB/s" in view["progress"]["transfer_text"]
    assert "31s left" in view["progress"]["transfer_text"]
    assert status_view({**DATA, "live": {}}, [], False)["warnings"] == []


async def test_recent_warnings_keep_the_last_ones_newest_first_and_wake_the_page():
    woken = []
    handler = RecentWarnings(asyncio.get_running_loop(), lambda: woken.append(1))
    log = logging.getLogger("immich_backupd.test_view")
    log.addHandler(handler)
    try:
        log.info("not a warning")
        for i in range(KEEP + 5):
            log.warning("warning %d", i)
        log.error("the last")
    finally:
        log.removeHandler(handler)
    items = handler.items()
    assert len(items) == KEEP and items[0].message == "the last"
    assert items[0].level == "ERROR" and items[-1].message == "warning 6"
    await asyncio.sleep(0)
    assert len(woken) == KEEP + 6
