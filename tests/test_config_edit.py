"""Editing the config file from the dashboard: comments and layout kept, the daemon's own
loader as the judge, an atomic write, and an invalid change leaving the file untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from immich_backupd.config import load_settings
from immich_backupd.config.edit import (
    FolderEdit,
    FolderList,
    ListOp,
    ValueEdit,
    apply_edit,
    atomic_write,
    edited_text,
    listed_folders,
)
from immich_backupd.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.yaml"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for sub in ("Pictures/Screenshots", "Pictures/Trips", "Other"):
        (home / sub).mkdir(parents=True)
    key = home / ".config" / "immich-backupd" / "api-key"
    key.parent.mkdir(parents=True)
    key.write_text("k" * 30 + "\n")
    key.chmod(0o600)
    return home


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return {"HOME": str(home)}


@pytest.fixture
def config(home: Path) -> Path:
    path = home / ".config" / "immich-backupd" / "config.yaml"
    path.write_text(EXAMPLE.read_text())
    path.chmod(0o640)
    return path


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def test_adding_an_exclude_keeps_every_comment_and_line(
    config: Path, env: dict[str, str], home: Path
) -> None:
    before = config.read_text()

    settings = apply_edit(config, FolderEdit(FolderList.EXCLUDE, ListOp.ADD, "~/Pictures/Trips"),
                          env=env)

    after = config.read_text()
    assert comments(after) == comments(before)
    # Only the one line is new; every other line is as the user wrote it.
    old, new = before.splitlines(), after.splitlines()
    assert len(new) == len(old) + 1
    added = [line for line in new if line not in old]
    assert added == ["    - ~/Pictures/Trips"]
    assert settings.albums.exclude[-1] == str(home / "Pictures" / "Trips")
    assert load_settings(config, env=env).albums == settings.albums
    assert config.stat().st_mode & 0o777 == 0o640


def test_removing_an_entry_and_adding_an_include(config: Path, env: dict[str, str],
                                                 home: Path) -> None:
    apply_edit(config, FolderEdit(FolderList.EXCLUDE, ListOp.REMOVE, '**/WhatsApp Images'),
               env=env)
    settings = apply_edit(config, FolderEdit(FolderList.INCLUDE, ListOp.ADD, str(home / "Other")),
                          env=env)

    assert settings.albums.include == (home / "Pictures", home / "Other")
    assert settings.albums.exclude == (str(home / "Pictures" / "Screenshots"),)
    assert "WhatsApp" not in config.read_text().split("exclude:")[1].split("backup:")[0]
    assert comments(config.read_text()) == comments(EXAMPLE.read_text())


def test_invalid_change_is_refused_with_the_loaders_message_and_file_unchanged(
    config: Path, env: dict[str, str], home: Path
) -> None:
    before = config.read_bytes()
    missing = "Pictures/Trips"  # not absolute: the loader refuses it

    with pytest.raises(ConfigError) as info:
        apply_edit(config, FolderEdit(FolderList.INCLUDE, ListOp.ADD, missing), env=env)

    # The loader's own words, naming the file and the line.
    text = str(info.value)
    assert str(config) in text and "albums.include" in text and missing in text
    with pytest.raises(ConfigError) as direct:
        load_settings(_written(config.parent / "probe.yaml",
                               edited_text(before.decode(), FolderEdit(
                                   FolderList.INCLUDE, ListOp.ADD, missing))), env=env)
    assert [p.split(":", 1)[1] for p in direct.value.problems] == \
        [p.split(":", 1)[1] for p in info.value.problems]
    assert config.read_bytes() == before
    assert [p.name for p in config.parent.iterdir() if p.name.endswith(".tmp")] == []


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_removing_the_last_include_is_refused(tmp_path: Path, env: dict[str, str],
                                              home: Path) -> None:
    path = _written(tmp_path / "c.yaml",
                    "server:\n  url: https://x.example\n  api_key: " + "k" * 30 +
                    "\nalbums:\n  include:\n    - ~/Pictures  # the photos\n")
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        apply_edit(path, FolderEdit(FolderList.INCLUDE, ListOp.REMOVE, "~/Pictures"), env=env)
    assert "albums.include" in str(info.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize(("edit", "says"), [
    (FolderEdit(FolderList.EXCLUDE, ListOp.ADD, "~/Pictures/Screenshots"), "is already listed"),
    (FolderEdit(FolderList.EXCLUDE, ListOp.REMOVE, "~/Elsewhere"), "is not listed"),
])
def test_list_edits_say_what_and_where(edit: FolderEdit, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        edited_text(EXAMPLE.read_text(), edit, label="c.yaml")
    assert info.value.problems == [f"c.yaml: albums.exclude: {edit.entry} {says}"]


def test_a_missing_exclude_list_is_created(env: dict[str, str], tmp_path: Path) -> None:
    text = ("# mine\nserver:\n  url: https://x.example  # home server\n  api_key: " + "k" * 30 +
            "\nalbums:\n  include: [~/Pictures]\n")
    out = edited_text(text, FolderEdit(FolderList.EXCLUDE, ListOp.ADD, ".thumbnails"))
    assert out.startswith("# mine\n") and "# home server" in out
    assert "  exclude:\n    - .thumbnails\n" in out


def test_value_edit_sets_a_toggle_keeping_comments(config: Path, env: dict[str, str]) -> None:
    settings = apply_edit(config, ValueEdit(("backup", "album_sync"), False), env=env)
    assert settings.backup.album_sync is False
    text = config.read_text()
    assert "  album_sync: false\n" in text
    assert comments(text) == comments(EXAMPLE.read_text())


def test_value_edit_of_a_wrong_type_is_refused(config: Path, env: dict[str, str]) -> None:
    before = config.read_bytes()
    with pytest.raises(ConfigError) as info:
        apply_edit(config, ValueEdit(("backup", "album_sync"), "sometimes"), env=env)
    assert "backup.album_sync" in str(info.value)
    assert config.read_bytes() == before


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = _written(tmp_path / "c.yaml", "old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(path, "new \udcff\n")  # a lone surrogate cannot be written as UTF-8
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["c.yaml"]


def test_atomic_write_replaces_by_rename(tmp_path: Path) -> None:
    path = _written(tmp_path / "c.yaml", "old\n")
    reader = path.open()  # a reader holding the old file keeps seeing it whole
    atomic_write(path, "new\n")
    assert reader.read() == "old\n"
    reader.close()
    assert path.read_text() == "new\n"


def test_value_edit_creates_nested_sections(env: dict[str, str], tmp_path: Path,
                                            home: Path) -> None:
    path = _written(tmp_path / "c.yaml",
                    "server:\n  url: https://x.example\n  api_key: " + "k" * 30 +
                    "\nalbums:\n  include: [~/Pictures]  # mine\n")
    settings = apply_edit(path, ValueEdit(("backup", "metered", "videos"), True), env=env)
    assert settings.backup.metered.videos is True
    assert settings.backup.metered.photos is True  # the default, untouched
    assert "# mine" in path.read_text()


def test_a_section_that_is_not_a_mapping_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        edited_text("backup: 3\n", ValueEdit(("backup", "metered", "videos"), True), "c.yaml")
    assert info.value.problems == ["c.yaml: backup: must be a mapping of keys"]


def test_an_include_entry_written_as_a_mapping_is_listed_and_removed_by_its_path(
    config: Path, env: dict[str, str], home: Path
) -> None:
    text = config.read_text().replace(
        "    - ~/Pictures\n", "    - ~/Pictures\n    - path: ~/Other\n      album: \"Phone\"\n", 1)
    config.write_text(text)
    assert listed_folders(text)[FolderList.INCLUDE] == ["~/Pictures", "~/Other"]
    assert load_settings(config, env=env).albums.naming[0].name == "Phone"
    with pytest.raises(ConfigError, match="already listed"):
        apply_edit(config, FolderEdit(FolderList.INCLUDE, ListOp.ADD, "~/Other"), env=env)
    settings = apply_edit(config, FolderEdit(FolderList.INCLUDE, ListOp.REMOVE, "~/Other"),
                          env=env)
    assert settings.albums.include == (home / "Pictures",)
    assert settings.albums.naming == ()
