"""Cloud placeholders that are not skipped are read with progress.

A real placeholder (iCloud's dataless file, OneDrive's recall-on-access) cannot exist
on this Linux machine: the one thing faked is the flag the scanner would have read.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from immich_backupd.config import parse_settings
from immich_backupd.hashing.hasher import Hasher
from immich_backupd.immich.client import ImmichClient, Quota
from immich_backupd.immich.versions import ServerVersion
from immich_backupd.media.kinds import DEFAULT_MEDIA_TYPES
from immich_backupd.pipeline.connect import ServerInfo
from immich_backupd.pipeline.plan import Candidate, Unit
from immich_backupd.pipeline.runner import BackupPass
from immich_backupd.report.progress import Reporter
from immich_backupd.scan.changes import FileStat
from immich_backupd.state import StateStore


class Seen(Reporter):
    def __init__(self) -> None:
        self.downloads: list[tuple[str, int]] = []

    def progress(self, progress) -> None:
        self.downloads += [(d.path, d.sent) for d in progress.downloads.values()]


async def test_a_placeholder_is_read_with_progress(tmp_path: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    cloud = photos / "cloud.jpg"
    data = b"\xff\xd8" + os.urandom(3 << 20)
    cloud.write_bytes(data)
    settings = parse_settings(
        f"server:\n  url: http://127.0.0.1:9\n  api_key: k\nstate_dir: {tmp_path / 's'}\n"
        f"albums:\n  include: [{photos}]\nbackup:\n  ignore_cloud_placeholders: false\n",
        env={"HOME": str(tmp_path)})
    store = await StateStore.open(settings.state_dir)
    hasher = Hasher(workers=1, chunk=1 << 20)
    seen = Seen()
    try:
        info = ServerInfo(ServerVersion(3, 1, 0), DEFAULT_MEDIA_TYPES, Quota(None, 0), ())
        bp = BackupPass(settings, ImmichClient("http://127.0.0.1:9/api", "k"), store, info,
                        reporter=seen, hasher=hasher)
        st = FileStat.from_stat_result(cloud.name, cloud.stat())._replace(is_placeholder=True)
        cand = Candidate(path=cloud, stat=st, kind="image", album="photos")
        await bp._hash.digest_group([Unit([cand])])
    finally:
        hasher.close()
        await store.close()
    assert cand.sha1 == hashlib.sha1(data).digest()
    assert (str(cloud), len(data)) in seen.downloads  # read to the end, shown as it went
    assert any(0 < sent < len(data) for _, sent in seen.downloads)
    assert bp.progress.downloads == {}
