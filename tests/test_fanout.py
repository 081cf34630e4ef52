"""Fanout: several reporters as one."""

from __future__ import annotations

from immich_backupd.report.live import Fanout
from immich_backupd.report.progress import Progress, Reporter


class Files(Reporter):
    def __init__(self) -> None:
        self.files: list[tuple[str, str, str]] = []
        self.passes: list[str] = []

    def file_done(self, path: str, outcome: str, detail: str = "") -> None:
        self.files.append((path, outcome, detail))

    def pass_done(self, progress: Progress, outcome: str) -> None:
        self.passes.append(outcome)


class Broken(Reporter):
    def file_done(self, path: str, outcome: str, detail: str = "") -> None:
        raise RuntimeError("broken reporter")

    def progress(self, progress: Progress) -> None:
        raise RuntimeError("broken reporter")


class Quiet(Reporter):
    """Keeps the base file_done (nothing): never called per file."""

    def __init__(self) -> None:
        self.progressed = 0

    def progress(self, progress: Progress) -> None:
        self.progressed += 1


def test_every_reporter_hears_each_file_even_past_a_broken_one() -> None:
    first, last = Files(), Files()
    fan = Fanout(first, Broken(), last)
    fan.file_done("/p/a.jpg", "uploaded")
    fan.file_done("/p/b.jpg", "failed", "permission denied")
    fan.pass_done(Progress(), "complete")
    expected = [("/p/a.jpg", "uploaded", ""), ("/p/b.jpg", "failed", "permission denied")]
    assert first.files == expected and last.files == expected
    assert first.passes == last.passes == ["complete"]


def test_reporters_without_file_done_are_skipped_per_file_but_get_progress() -> None:
    quiet, files = Quiet(), Files()
    fan = Fanout(quiet, files)
    assert fan._per_file == [files]
    fan.file_done("/p/a.jpg", "duplicate")
    fan.progress(Progress())
    assert files.files == [("/p/a.jpg", "duplicate", "")]
    assert quiet.progressed == 1
