"""The verdict on an open tag from the server's answer to setting it (pipeline/tagging.
tag_verdict): made now is this client's; had it and never set by this client is not its
own; done only what held for a while, with the time passed in."""

from __future__ import annotations

from pathlib import Path

from immich_backupd.pipeline.tagging import CONFIRM_AFTER, OpenTag, TagVerdict, tag_verdict
from immich_backupd.scan.rules import AlbumNaming, AlbumRules, FolderNaming


def test_made_now_is_set_whether_new_or_lost():
    assert tag_verdict(OpenTag("a", "Family", None), None, now=110.0) is TagVerdict.SET
    assert tag_verdict(OpenTag("b", "Family", 100.0), None, now=110.0) is TagVerdict.SET


def test_had_it_is_done_only_when_it_held_for_a_while_after_this_client_set_it():
    row = OpenTag("c", "Family", 100.0)
    assert tag_verdict(row, "duplicate", now=110.0) is TagVerdict.WAIT  # too soon
    assert tag_verdict(row, "duplicate", now=100.0 + CONFIRM_AFTER) is TagVerdict.HELD


def test_had_it_before_this_client_set_it_is_not_its_own():
    row = OpenTag("d", "Family", None)
    assert tag_verdict(row, "duplicate", now=110.0) is TagVerdict.THEIRS


def test_a_refusal_is_tried_again():
    row = OpenTag("e", "Family", None)
    assert tag_verdict(row, "no_permission", now=110.0) is TagVerdict.RETRY


def test_tags_of_a_file_come_from_its_include_folder():
    rules = AlbumRules(["/p/scans", "/p/plain"], [], [
        FolderNaming(Path("/p/scans"), AlbumNaming.FOLDER, "", ("Family", "Scans"), True)])
    assert rules.has_tags
    assert rules.tags_for("/p/scans/Trips/2024/Rome/a.jpg") == (
        "Family", "Scans", "Trips/2024/Rome")
    assert rules.tags_for("/p/scans/a.jpg") == ("Family", "Scans")
    assert rules.tags_for("/p/plain/x/a.jpg") == ()
    assert rules.album_name_for("/p/scans/Trips/2024/Rome/a.jpg") == "Rome"
    assert not AlbumRules(["/p/plain"]).has_tags
