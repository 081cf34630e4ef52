"""The one description of the keys (``config.keys.KEYS``) holds the rest to it: the
known keys of each section, docs/configuration.md's table, config.example.yaml and the
readers that check each value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from immich_backupd.config import (
    CONFIG_KEYS,
    KEYS,
    SECTIONS,
    parse_settings,
    to_config_dict,
)
from immich_backupd.errors import ConfigError
from immich_backupd.scan.rules import AlbumRules
from immich_backupd.schedule.durations import parse_duration

REPO = Path(__file__).resolve().parent.parent
DOC_ROW = re.compile(r"^\| `([a-z_.]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| (.+) \|$")


def doc_rows() -> dict[str, tuple[str, str]]:
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    return {m[1]: (m[2].strip(), m[3].strip())
            for m in map(DOC_ROW.match, text.splitlines()) if m}


def test_keys_are_unique_and_each_lies_in_a_described_section():
    paths = [key.path for key in KEYS]
    assert len(paths) == len(set(paths))
    sections = {key.path for key in KEYS if key.kind == "section"}
    for key in KEYS:
        assert key.section == "" or key.section in sections, key.path
        assert key.doc and "\n" not in key.doc, key.path
    assert set(CONFIG_KEYS) == set(paths)
    assert set(SECTIONS) == {"", *sections}


def test_the_documentation_table_lists_exactly_the_keys_with_their_type_and_default():
    rows = doc_rows()
    assert list(rows) == [key.path for key in KEYS]  # same keys, same order
    for key in KEYS:
        assert rows[key.path] == (key.kind, key.default), key.path


def example_keys(text: str) -> set[str]:
    """Keys set in the example, and keys shown commented out (``# name: value``) at the
    indentation of their section."""
    found: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = re.match(r"^( *)(# )?([a-z_]+):( |$)", line)
        if not m:
            continue
        indent, name = len(m[1]), m[3]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = f"{stack[-1][1]}.{name}" if stack else name
        found.add(path)
        if not m[2]:
            stack.append((indent, path))
    return found


def test_the_example_shows_exactly_the_described_keys():
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    assert example_keys(text) == {key.path for key in KEYS}


def test_the_described_defaults_are_the_model_defaults(tmp_path):
    settings = parse_settings(f"server: {{url: https://x.example, api_key: k}}\n"
                              f"albums: {{include: [{tmp_path}]}}\n", base_dir=tmp_path)
    actual = to_config_dict(settings)
    for key in KEYS:
        if not key.default.startswith("`") or key.kind == "section" or key.path == "state_dir":
            continue
        value = yaml.safe_load(key.default.strip("`"))
        real = actual
        for part in key.path.split("."):
            real = real[part]
        if key.kind == "duration":
            assert parse_duration(value) == parse_duration(real), key.path
        else:
            assert value == real, key.path


@pytest.mark.parametrize("key", [k for k in KEYS if k.section], ids=lambda k: k.path)
def test_every_described_key_is_read_and_checked(key, tmp_path):
    """A key in the table that no reader looks at would be accepted and ignored: give
    each a value of a wrong type and expect an error at exactly that key."""
    data: dict = {"server": {"url": "https://x.example", "api_key": "k"},
                  "albums": {"include": [str(tmp_path)]}}
    if key.path == "server.api_key_file":
        del data["server"]["api_key"]
    node = data
    *parents, last = key.path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = [1] if key.kind == "section" else {"wrong": 1}
    with pytest.raises(ConfigError) as info:
        parse_settings(yaml.safe_dump(data), base_dir=tmp_path, env={})
    assert any(f" at '{key.path}':" in str(line) for line in info.value.problems), (
        info.value.problems)


def test_the_dashboard_toggles_are_described_boolean_keys():
    from immich_backupd.dashboard import toggles

    kinds = {key.path: key.kind for key in KEYS}
    assert {kinds.get(path) for path in toggles.KEYS} == {"boolean"}


INCLUDE_ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \| (.+) \|$")


def test_the_per_folder_table_lists_exactly_the_include_entry_keys():
    from immich_backupd.config.keys import INCLUDE_ENTRY_KEYS

    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = text.split("## Per-folder settings", 1)[1].split("\n## ", 1)[0]
    rows = {m[1]: (m[2].strip(), m[3].strip())
            for m in map(INCLUDE_ROW.match, section.splitlines()) if m}
    assert rows == {key.path: (key.kind, key.default) for key in INCLUDE_ENTRY_KEYS}


@pytest.mark.parametrize("album, expected", [
    ("folder", None), ("path", ("path", "")), ("none", ("none", "")), (None, ("none", "")),
    ("Phone", ("fixed", "Phone")), (" Urlaub 2024 ", ("fixed", "Urlaub 2024")),
    # The words in any case: Python's None, a capital letter; they were album names.
    ("None", ("none", "")), ("Path", ("path", "")), ("FOLDER", None)])
def test_an_include_entry_mapping_gives_its_album_naming(album, expected, tmp_path):
    settings = parse_settings(yaml.safe_dump({
        "server": {"url": "https://x.example", "api_key": "k"},
        "albums": {"include": [{"path": str(tmp_path), "album": album}]}}),
        base_dir=tmp_path, env={})
    assert settings.albums.include == (tmp_path,)
    got = [(n.album.value, n.name) for n in settings.albums.naming]
    assert got == ([] if expected is None else [expected])
    # ``check`` prints the same entry back, and it reads the same.
    again = parse_settings(yaml.safe_dump(to_config_dict(settings, reveal_key=True)),
                           base_dir=tmp_path, env={})
    assert again.albums == settings.albums


@pytest.mark.parametrize("entry, where, problem", [
    ({"album": "path"}, "albums.include[0].path", "missing required key"),
    ({"path": "relative/x"}, "albums.include[0].path", "must be an absolute path"),
    ({"path": "{tmp}", "album": ""}, "albums.include[0].album",
     "must not be empty; album: none puts the files into no album"),
    ({"path": "{tmp}", "album": "  "}, "albums.include[0].album", "album: none puts"),
    ({"path": "{tmp}", "album": 3}, "albums.include[0].album", "expected a string"),
    ({"path": "{tmp}", "albun": "path"}, "albums.include[0].albun", "did you mean 'album'"),
    ({"path": "{tmp}", "tags": "Family"}, "albums.include[0].tags", "expected a list of tag"),
    ({"path": "{tmp}", "tags": ["a", 3]}, "albums.include[0].tags[1]", "expected a string"),
    ({"path": "{tmp}", "tags": ["/"]}, "albums.include[0].tags[0]", "must not be empty"),
    ({"path": "{tmp}", "folder_as_tags": "yes"}, "albums.include[0].folder_as_tags",
     "expected true or false"),
])
def test_a_bad_include_entry_is_reported_at_its_key_and_line(entry, where, problem, tmp_path):
    entry = {k: (v.format(tmp=tmp_path) if isinstance(v, str) else v) for k, v in entry.items()}
    text = yaml.safe_dump({"server": {"url": "https://x.example", "api_key": "k"},
                           "albums": {"include": [entry]}}, default_flow_style=False)
    with pytest.raises(ConfigError) as info:
        parse_settings(text, base_dir=tmp_path, env={})
    lines = [str(line) for line in info.value.problems]
    key = where.rsplit(".", 1)[1]
    line_no = next(i for i, t in enumerate(text.splitlines(), 1)
                   if t.lstrip(" -").startswith(f"{key}:")) if key in entry else None
    assert any(f" at '{where}':" in t and problem in t
               and (line_no is None or f":{line_no}:" in t) for t in lines), (lines, text)


def test_an_include_entry_gives_its_tags_and_prints_them_back(tmp_path):
    settings = parse_settings(yaml.safe_dump({
        "server": {"url": "https://x.example", "api_key": "k"},
        "albums": {"include": [{"path": str(tmp_path), "tags": ["Family", " Trips / Rome "],
                                "folder_as_tags": True}]}}), base_dir=tmp_path, env={})
    (naming,) = settings.albums.naming
    assert naming.tags == ("Family", "Trips/Rome") and naming.folder_as_tags
    again = parse_settings(yaml.safe_dump(to_config_dict(settings, reveal_key=True)),
                           base_dir=tmp_path, env={})
    assert again.albums == settings.albums


def test_a_nested_include_folder_keeps_its_own_settings_and_the_warning_says_so(tmp_path):
    """A plain path inside a folder with tags: the files below it get no tags and albums
    named after their folders (the deepest include folder's settings, a plain path's
    defaults). The warning said they were backed up "with the outer folder", which a user
    reads as: with its album and tags."""
    inner = tmp_path / "Phone"
    (inner / "DCIM").mkdir(parents=True)
    settings = parse_settings(yaml.safe_dump({
        "server": {"url": "https://x.example", "api_key": "k"},
        "albums": {"include": [{"path": str(tmp_path), "album": "path", "tags": ["Family"]},
                               str(inner)]}}), base_dir=tmp_path, env={})
    rules = AlbumRules.from_settings(settings.albums)
    photo = inner / "DCIM" / "IMG_1.jpg"
    assert rules.tags_for(photo) == () and rules.album_name_for(photo) == "DCIM"
    assert rules.tags_for(tmp_path / "a" / "b" / "x.jpg") == ("Family",)
    (warning,) = settings.warnings
    assert ("albums.include[1] lies inside albums.include[0]; the files below it are backed "
            "up once, with the album and tag settings of albums.include[1]") in warning


@pytest.mark.parametrize("second", [
    "{tmp}", {"path": "{tmp}", "album": "Phone"}, {"path": "{tmp}", "tags": ["Other"]}])
def test_one_folder_listed_twice_with_different_settings_is_an_error(second, tmp_path):
    """Which of two entries for one folder would win cannot be told from the file (the
    mapping, whatever its place): an error at the second, not a warning."""
    first = {"path": str(tmp_path), "tags": ["Family"]}
    second = (second.format(tmp=tmp_path) if isinstance(second, str)
              else {k: (v.format(tmp=tmp_path) if isinstance(v, str) else v)
                    for k, v in second.items()})
    text = yaml.safe_dump({"server": {"url": "https://x.example", "api_key": "k"},
                           "albums": {"include": [first, second]}}, default_flow_style=False)
    with pytest.raises(ConfigError) as info:
        parse_settings(text, base_dir=tmp_path, env={})
    (problem,) = [str(p) for p in info.value.problems]
    assert "at 'albums.include[1]" in problem
    assert "listed twice with different album or tag settings (also at albums.include[0])" \
        in problem


def test_one_folder_listed_twice_alike_is_a_warning(tmp_path):
    entry = {"path": str(tmp_path), "tags": ["Family"]}
    settings = parse_settings(yaml.safe_dump({
        "server": {"url": "https://x.example", "api_key": "k"},
        "albums": {"include": [entry, dict(entry)]}}), base_dir=tmp_path, env={})
    (warning,) = settings.warnings
    assert "listed twice (also at albums.include[0])" in warning
    assert settings.albums.naming[0].tags == ("Family",)
