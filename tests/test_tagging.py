"""The decision of the tag read-back (pipeline/tagging.tag_actions): set what was never
set or was lost, call done only what held for a while, with the time passed in."""

from __future__ import annotations

from pathlib import Path

from immich_backupd.pipeline.tagging import CONFIRM_AFTER, OpenTag, tag_actions
from immich_backupd.rules import AlbumNaming, AlbumRules, FolderNaming


def test_new_tags_are_sent_and_lost_ones_sent_again():
    rows = [OpenTag("a", "Family", None), OpenTag("b", "Family", 100.0),
            OpenTag("c", "Family", 100.0)]
    actions = tag_actions(rows, {"Family": {"c"}}, now=110.0)
    assert actions.send == {"Family": ["a", "b"]}
    assert actions.confirm == []  # c is there, but too soon to trust


def test_a_tag_that_held_for_a_while_is_done():
    rows = [OpenTag("c", "Family", 100.0), OpenTag("d", "Trips/Rome", 100.0)]
    actions = tag_actions(rows, {"Family": {"c"}, "Trips/Rome": set()},
                          now=100.0 + CONFIRM_AFTER)
    assert actions.confirm == [("c", "Family")]
    assert actions.send == {"Trips/Rome": ["d"]}


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
