"""The decisions of a verify: whose memory the state is, when to verify, and what the
server's answer about a known checksum means for its record (pipeline.verify)."""

from __future__ import annotations

import json

import pytest

from immich_backupd.immich.client import CheckResult
from immich_backupd.pipeline.plan import Action, decide
from immich_backupd.pipeline.verify import (
    Change,
    Identity,
    Mode,
    VerifyReport,
    compare,
    first_mode,
    legacy_url,
    verdict,
    verify_due,
)
from immich_backupd.state import DELETED, DUPLICATE, PENDING, TRASHED, UPLOADED
from tests.test_plan import rec, st

A = Identity("https://photos.example.com", "user-a", "a@example.com")

PRESENT = CheckResult("0", False, "duplicate", "asset-1", False)
MOVED = CheckResult("0", False, "duplicate", "asset-2", False)
IN_TRASH = CheckResult("0", False, "duplicate", "asset-1", True)
GONE = CheckResult("0", True)
UNSUPPORTED = CheckResult("0", False, "unsupported-format")


def test_the_user_id_decides_not_the_address():
    assert compare(None, A) is Change.FIRST
    assert compare(A, A) is Change.SAME
    moved = Identity("https://new.example.com", "user-a", "a@example.com")
    assert compare(A, moved) is Change.SAME  # a new hostname or proxy: the same server
    assert compare(A, Identity(A.url, "user-b", "b@example.com")) is Change.OTHER
    assert compare(A, Identity("http://other:2283", "user-c", "a@example.com")) is Change.OTHER


def test_identity_round_trips_and_junk_is_none():
    assert Identity.loads(A.dumps()) == A
    assert Identity.loads(None) is None
    assert Identity.loads("{") is None
    assert Identity.loads('{"url": "x"}') is None


def test_a_state_from_an_older_release_knows_only_its_address():
    assert legacy_url(json.dumps({"url": "https://a.example/", "version": "3.1.0"})) == \
        "https://a.example"
    assert legacy_url(None) is None
    assert legacy_url("[]") is None


def test_a_server_with_none_of_the_known_files_is_another_one():
    assert first_mode(present=0, checked=22) is Mode.OTHER
    assert first_mode(present=1, checked=22) is Mode.SAME
    assert first_mode(present=0, checked=0) is Mode.SAME


@pytest.mark.parametrize(("last", "now", "interval", "due"), [
    (None, 1000.0, 86400.0, True),  # never verified
    (1000.0, 1000.0 + 86399, 86400.0, False),
    (1000.0, 1000.0 + 86400, 86400.0, True),
    (None, 1000.0, 0.0, False),  # no schedule: only on demand
])
def test_verify_is_due_when_the_last_is_older_than_the_interval(last, now, interval, due):
    assert verify_due(last, now, interval) is due


@pytest.mark.parametrize(("status", "answer", "expected"), [
    # The known server still has it: nothing to write.
    (UPLOADED, PRESENT, None),
    (DUPLICATE, PRESENT, None),
    # Under another id (deleted, then uploaded again by other means): its album is redone.
    (UPLOADED, MOVED, (UPLOADED, "asset-2", True)),
    # Trashed in Immich, then emptied from the trash: the user deleted it.
    (UPLOADED, IN_TRASH, (TRASHED, "asset-1", False)),
    (TRASHED, IN_TRASH, None),
    (TRASHED, GONE, (DELETED, None, False)),
    (UPLOADED, GONE, (DELETED, None, False)),
    (DELETED, GONE, None),
    # Restored from the trash, or put back: on the server again.
    (TRASHED, PRESENT, (DUPLICATE, "asset-1", False)),
    (DELETED, PRESENT, (DUPLICATE, "asset-1", True)),
    (DELETED, IN_TRASH, (TRASHED, "asset-1", False)),
    # Answers that say nothing about it change nothing.
    (UPLOADED, UNSUPPORTED, None),
    (UPLOADED, None, None),
])
def test_what_the_known_server_answers_means(status, answer, expected):
    assert verdict(status, "asset-1", answer, Mode.SAME) == expected


@pytest.mark.parametrize(("status", "answer", "expected"), [
    # Another server lacks what we had up: uploaded by the pass, never taken as there.
    (UPLOADED, GONE, (PENDING, None, True)),
    (DUPLICATE, GONE, (PENDING, None, True)),
    # It has it (under its own id): recorded with that id, albums made there too.
    (UPLOADED, PRESENT, (DUPLICATE, "asset-1", True)),
    (UPLOADED, MOVED, (DUPLICATE, "asset-2", True)),
    (UPLOADED, IN_TRASH, (TRASHED, "asset-1", False)),
    # What the user deleted or trashed before stays out of the backup.
    (DELETED, GONE, None),
    (TRASHED, GONE, (DELETED, None, False)),
])
def test_what_another_server_answers_means(status, answer, expected):
    assert verdict(status, "asset-1", answer, Mode.OTHER) == expected


def test_deleted_files_are_left_alone_and_pending_ones_go_up_with_their_hash():
    record = rec("a.jpg", DELETED, sha1=b"s" * 20, blake3=b"b" * 32)
    assert decide(st("a.jpg"), record, 0.0) is Action.SKIP
    record.status = PENDING
    assert decide(st("a.jpg"), record, 0.0) is Action.RETRY
    record.blake3 = None
    assert decide(st("a.jpg"), record, 0.0) is Action.HASH


def test_the_report_round_trips_for_status():
    report = VerifyReport(change="other", mode="other", url=A.url, previous="x",
                          current=A.describe(), checked=3, to_upload=2, at=5.0)
    assert VerifyReport.loads(report.dumps()) == report
    assert report.other_server
    assert VerifyReport.loads("null") is None
