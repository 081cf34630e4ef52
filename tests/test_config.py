"""Tests of the config contract: defaults, every key, durations, the example, broken configs."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from immich_backupd.config import (
    API_KEY_ENV,
    CONFIG_ENV,
    CONFIG_KEYS,
    AlbumSettings,
    BackupSettings,
    Metered,
    NotificationSettings,
    RetrySettings,
    Secret,
    Settings,
    default_config_path,
    default_state_dir,
    expand_path,
    load_settings,
    parse_settings,
    permission_warning,
    to_config_dict,
)
from immich_backupd.errors import ConfigError, ExitCode
from immich_backupd.schedule.durations import format_duration, parse_duration

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "configs"
EXAMPLE = REPO / "config.example.yaml"
KEY = "test-secret-key-0123456789"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home folder with ~/Pictures, ~/Pictures/Screenshots and a private key file."""
    home = tmp_path / "home"
    (home / "Pictures" / "Screenshots").mkdir(parents=True)
    key_file = home / ".config" / "immich-backupd" / "api-key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    return home


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A folder holding the folders a/ and b/ and the file file.jpg."""
    photos = tmp_path / "photos"
    (photos / "a").mkdir(parents=True)
    (photos / "b").mkdir()
    (photos / "file.jpg").write_bytes(b"\xff\xd8")
    return photos


@pytest.fixture
def env(home: Path, photos: Path) -> dict[str, str]:
    return {"HOME": str(home), "PHOTOS": str(photos)}


def minimal(include: str = "~/Pictures", **extra: str) -> str:
    """A smallest valid config, plus top-level YAML snippets."""
    text = (
        f"server:\n  url: https://photos.example.com\n  api_key: {KEY}\n"
        f"albums:\n  include: [{include}]\n"
    )
    return text + "".join(extra.values())


def problems_of(text: str, env: Mapping[str, str], **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "test.yaml", env=env, **kwargs)  # type: ignore[arg-type]
    assert info.value.exit_code == ExitCode.CONFIG
    return info.value.problems


# --------------------------------------------------------------------------- defaults


def test_minimal_config_gets_every_default(env: dict[str, str], home: Path) -> None:
    settings = parse_settings(minimal(), env=env)

    assert settings.source is None
    assert settings.server.url == "https://photos.example.com"
    assert settings.server.api_url == "https://photos.example.com/api"
    assert settings.server.key() == KEY
    assert settings.server.key_source == "api_key"
    assert settings.server.ca_file is None
    assert settings.server.verify_tls is True
    assert settings.server.timeout == 60.0
    assert settings.state_dir == default_state_dir()
    assert settings.albums == AlbumSettings(include=(home / "Pictures",), exclude=())
    assert settings.backup == BackupSettings()
    assert settings.backup.concurrency == 2
    assert settings.backup.trigger_delay == 5.0
    assert settings.backup.max_delay == 50.0
    assert settings.backup.rescan_interval == 3600.0
    assert settings.backup.metered == Metered(photos=True, videos=False)
    assert settings.backup.check_batch_size == 1000
    assert settings.backup.retry == RetrySettings(max_attempts=8, initial=2.0, max=600.0)
    assert settings.notifications == NotificationSettings(desktop=True)
    assert settings.log_level == "info"
    assert settings.warnings == ()


def test_settings_are_immutable(env: dict[str, str]) -> None:
    settings = parse_settings(minimal(), env=env)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.backup.concurrency = 4  # type: ignore[misc]
    assert isinstance(settings.albums.include, tuple)
    assert hash(settings) == hash(parse_settings(minimal(), env=env))


def test_empty_sections_mean_defaults(env: dict[str, str]) -> None:
    text = minimal() + "backup:\nnotifications:\n"
    settings = parse_settings(text, env=env)
    assert settings.backup == BackupSettings()
    assert settings.notifications == NotificationSettings()


# --------------------------------------------------------------------------- every key


def ca_of(tmp_path: Path) -> Path:
    return tmp_path / "ca.pem"


def full_config(home: Path, photos: Path, tmp_path: Path) -> str:
    """Every key set to something other than its default."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    return f"""
server:
  url: http://nas.local:2283/immich/api/
  api_key: {KEY}
  ca_file: {ca}
  verify_tls: true
  timeout: 1m30s
state_dir: $PHOTOS/../state
albums:
  include:
    - ~/Pictures
    - ${{PHOTOS}}/a
  exclude:
    - ~/Pictures/Screenshots/
    - "**/WhatsApp Images"
    - .thumbnails
    - Private/raw
    - ~/Pictures/*.tmp
backup:
  album_sync: false
  concurrency: 16
  trigger_delay: 500ms
  max_delay: 2m
  rescan_interval: 1d
  require_charging: true
  require_unmetered: true
  metered: {{photos: false, videos: true}}
  ignore_cloud_placeholders: false
  follow_symlinks: true
  check_batch_size: 5000
  retry:
    max_attempts: 1
    initial: 250ms
    max: 1h
notifications:
  desktop: false
dashboard:
  listen: 0.0.0.0:8485
  tls_cert: {ca}
  tls_key: {ca}
log_level: debug
"""


def test_every_key_is_read(home: Path, photos: Path, tmp_path: Path, env: dict) -> None:
    settings = parse_settings(full_config(home, photos, tmp_path), "full.yaml", env=env)

    assert settings.source == Path("full.yaml")
    assert settings.server.url == "http://nas.local:2283/immich"
    assert settings.server.api_url == "http://nas.local:2283/immich/api"
    assert settings.server.ca_file == tmp_path / "ca.pem"
    assert settings.server.timeout == 90.0
    assert settings.state_dir == tmp_path / "state"
    assert settings.albums.include == (home / "Pictures", photos / "a")
    assert settings.albums.exclude == (
        f"{home}/Pictures/Screenshots/",  # normalized, the trailing / (folders only) kept
        "**/WhatsApp Images",
        ".thumbnails",
        "Private/raw",
        f"{home}/Pictures/*.tmp",  # a glob is kept, but its leading ~ expanded
    )
    assert settings.backup == BackupSettings(
        album_sync=False,
        concurrency=16,
        trigger_delay=0.5,
        max_delay=120.0,
        rescan_interval=86400.0,
        require_charging=True,
        require_unmetered=True,
        metered=Metered(photos=False, videos=True),
        ignore_cloud_placeholders=False,
        follow_symlinks=True,
        check_batch_size=5000,
        retry=RetrySettings(max_attempts=1, initial=0.25, max=3600.0),
    )
    assert settings.notifications.desktop is False
    assert settings.dashboard.listen == "0.0.0.0:8485" and not settings.dashboard.loopback
    assert settings.dashboard.tls_cert == settings.dashboard.tls_key == ca_of(tmp_path)
    assert settings.log_level == "debug"


def test_every_key_round_trips(home: Path, photos: Path, tmp_path: Path, env: dict) -> None:
    settings = parse_settings(full_config(home, photos, tmp_path), env=env)
    dumped = yaml.safe_dump(to_config_dict(settings, reveal_key=True))
    assert parse_settings(dumped, env=env) == settings
    # Every key of the file appears in the dump (api_key_file and ca_file where set).
    assert set(_key_paths(yaml.safe_load(dumped))) == set(CONFIG_KEYS) - {"server.api_key_file"}


def test_dict_hides_the_key_unless_asked(env: dict[str, str]) -> None:
    settings = parse_settings(minimal(), env=env)
    assert KEY not in repr(to_config_dict(settings))
    assert to_config_dict(settings, reveal_key=True)["server"]["api_key"] == KEY


@pytest.mark.parametrize(
    "url",
    [
        "https://photos.example.com",
        "https://photos.example.com/",
        "https://photos.example.com/api",
        "https://photos.example.com/api/",
        "  https://photos.example.com//  ",
    ],
)
def test_url_forms_are_normalized(env: dict[str, str], url: str) -> None:
    text = minimal().replace("https://photos.example.com", f"'{url}'")
    assert parse_settings(text, env=env).server.url == "https://photos.example.com"


# --------------------------------------------------------------------------- API key


def test_api_key_from_file_is_stripped_and_relative_to_config(
    env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    text = minimal().replace(f"api_key: {KEY}", "api_key_file: secrets/key")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key").write_text(f"  {KEY}\n\n")
    (tmp_path / "secrets" / "key").chmod(0o600)
    settings = parse_settings(text, env=env, base_dir=tmp_path)
    assert settings.server.key() == KEY
    assert settings.server.key_source == "api_key_file"
    assert settings.server.api_key_file == tmp_path / "secrets" / "key"
    assert settings.warnings == ()


def test_api_key_from_environment(env: dict[str, str]) -> None:
    text = minimal().replace(f"  api_key: {KEY}\n", "")
    settings = parse_settings(text, env={**env, API_KEY_ENV: KEY})
    assert settings.server.key() == KEY
    assert settings.server.key_source == "env"


def test_file_key_wins_over_environment(env: dict[str, str]) -> None:
    settings = parse_settings(minimal(), env={**env, API_KEY_ENV: "other"})
    assert settings.server.key() == KEY


def test_empty_or_multiline_key_file_is_an_error(env: dict[str, str], tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    text = minimal().replace(f"api_key: {KEY}", f"api_key_file: {key_file}")
    key_file.write_text("\n")
    assert "the API key file is empty" in problems_of(text, env)[0]
    key_file.write_text(f"{KEY}\nsecond line\n")
    (problem,) = problems_of(text, env)
    assert "must hold only the key" in problem
    assert KEY not in problem


def test_loose_key_file_permissions_warn(env: dict[str, str], tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    key_file.chmod(0o644)
    text = minimal().replace(f"api_key: {KEY}", f"api_key_file: {key_file}")
    settings = parse_settings(text, env=env)
    assert settings.warnings == (
        f"API key file {key_file} is readable by group/others: chmod 600 {key_file}",
    )


def test_loose_config_permissions_warn_only_with_inline_key(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(minimal())
    path.chmod(0o640)
    settings = load_settings(path, env=env)
    assert settings.source == path
    assert settings.warnings == (
        f"config file {path} is readable by group/others; it holds an API key: chmod 600 {path}",
    )
    path.chmod(0o600)
    assert load_settings(path, env=env).warnings == ()
    path.write_text(minimal().replace(f"  api_key: {KEY}\n", ""))
    path.chmod(0o644)
    assert load_settings(path, env={**env, API_KEY_ENV: KEY}).warnings == ()


def test_permission_warning_is_pure() -> None:
    assert permission_warning(Path("/k"), 0o600, "key") is None
    assert permission_warning(Path("/k"), None, "key") is None
    assert permission_warning(Path("/k"), 0o604, "key") == (
        "key is readable by group/others: chmod 600 /k"
    )


def test_api_key_never_shows(env: dict[str, str], home: Path) -> None:
    settings = parse_settings(minimal(), env=env)
    for text in (repr(settings), str(settings), repr(settings.server), f"{settings.server}"):
        assert KEY not in text
    assert "**********" in repr(settings.server)
    assert settings.server.api_key.get_secret_value() == KEY
    assert Secret(KEY) == settings.server.api_key
    assert str(Secret(KEY)) == f"{Secret(KEY)}" == "**********"


def test_api_key_never_in_errors(env: dict[str, str]) -> None:
    """Whatever is wrong around it, no message quotes the key."""
    broken = minimal().replace("https://", "ftp://") + "backup: {concurrency: x}\nfoo: 1\n"
    for text in (
        broken,
        broken.replace(f"api_key: {KEY}", f"api_key: [{KEY}]"),
        broken.replace(f"api_key: {KEY}", f"api_key: '{KEY} {KEY}'"),
        broken.replace(f"api_key: {KEY}", f"api_key: {KEY}\n  api_key_file: /x"),
        broken.replace(f"api_key: {KEY}", f"apikey: {KEY}"),
        broken.replace(f"api_key: {KEY}", f"api_key: {KEY}\n  api_key: {KEY}"),
    ):
        problems = problems_of(text, env)
        assert len(problems) >= 3
        assert not any(KEY in problem for problem in problems), problems


# --------------------------------------------------------------------------- paths


def test_paths_expand_home_and_variables(env: dict[str, str], photos: Path) -> None:
    assert expand_path("~/x", env) == f"{env['HOME']}/x"
    assert expand_path("$PHOTOS/a/${PHOTOS}", env) == f"{photos}/a/{photos}"
    assert expand_path("/plain", {}) == "/plain"
    with pytest.raises(ValueError, match=r"\$NOPE, \$ALSO are not set"):
        expand_path("$NOPE/$ALSO/$NOPE", env)


def test_include_is_normalized(env: dict[str, str], photos: Path) -> None:
    settings = parse_settings(minimal(include="$PHOTOS/a/../b/"), env=env)
    assert settings.albums.include == (photos / "b",)


def test_nested_and_duplicate_includes_warn(env: dict[str, str], photos: Path) -> None:
    text = minimal(include="$PHOTOS, $PHOTOS/a, $PHOTOS")
    settings = parse_settings(text, "t.yaml", env=env)
    assert settings.warnings == (
        "t.yaml:5: at 'albums.include[1]': albums.include[1] lies inside albums.include[0]; "
        "the files below it are backed up once, with the album and tag settings of "
        "albums.include[1]",
        f"t.yaml:5: at 'albums.include[2]': listed twice (also at albums.include[0]): {photos}",
    )


class FakeFileSystem:
    """The file system as a dict: proves validation needs nothing else."""

    def __init__(self, entries: dict[str, Literal["dir", "file"]], texts: dict[str, str]):
        self.entries, self.texts = entries, texts

    def kind(self, path: Path) -> Literal["dir", "file", "other", "missing"]:
        return self.entries.get(str(path), "missing")

    def read_text(self, path: Path) -> str:
        if str(path) not in self.texts:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return self.texts[str(path)]

    def mode(self, path: Path) -> int | None:
        return 0o600


def test_validation_runs_against_a_fake_file_system() -> None:
    fs = FakeFileSystem({"/photos": "dir", "/etc/key": "file"}, {"/etc/key": "k3y\n"})
    text = "server: {url: 'https://x', api_key_file: /etc/key}\nalbums: {include: [/photos]}\n"
    settings = parse_settings(text, env={"HOME": "/home/u"}, fs=fs)
    assert settings.server.key() == "k3y"
    assert settings.albums.include == (Path("/photos"),)
    # A folder not there (yet: a disk mounted later) is kept and warned about, not an error.
    later = parse_settings(text.replace("/photos", "/elsewhere"), env={}, fs=fs)
    assert later.albums.include == (Path("/elsewhere"),)
    assert any("folder does not exist (yet): /elsewhere" in w for w in later.warnings)
    with pytest.raises(ConfigError, match="not a folder: /etc/key"):
        parse_settings(text.replace("/photos", "/etc/key"), env={}, fs=fs)


# --------------------------------------------------------------------------- YAML dialect


def test_yaml_1_1_words_are_strings_not_booleans(env: dict[str, str]) -> None:
    """`no`, `on` and dates are folder names, not booleans or timestamps."""
    text = minimal() + "  exclude: [no, on, 2024-01-01]\n"
    settings = parse_settings(text, env=env)
    assert settings.albums.exclude == ("no", "on", "2024-01-01")


def test_merge_keys_work_and_keep_their_lines(env: dict[str, str]) -> None:
    text = minimal() + (
        "backup:\n"  # line 6
        "  retry:\n"
        "    <<: {initial: 1s, max: 5s}\n"
        "    max_attempts: 3\n"
    )
    assert parse_settings(text, env=env).backup.retry == RetrySettings(3, 1.0, 5.0)
    broken = text.replace("max: 5s", "max: soon")
    (problem,) = problems_of(broken, env)
    assert problem.startswith("test.yaml:8: at 'backup.retry.max': not a duration: 'soon'")


def test_control_character_is_a_yaml_error_with_a_line(env: dict[str, str]) -> None:
    assert problems_of("server:\n  url: \x01\n", env) == [
        "test.yaml:2: invalid YAML: control character U+0001 is not allowed"
    ]


def test_merge_keys_and_anchors_work(env: dict[str, str]) -> None:
    text = minimal() + (
        "backup:\n"
        "  retry: &quick {initial: 1s, max: 5s}\n"
        "  metered: {photos: true}\n"
        "notifications: {desktop: false}\n"
    )
    assert parse_settings(text, env=env).backup.retry.max == 5.0


def test_billion_laughs_is_indexed_in_linear_time(env: dict[str, str]) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    problems = problems_of("\n".join(lines) + "\n", env)
    assert "test.yaml:1: at 'server': missing required key" in problems


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("5s", 5.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1m30s", 90.0),
        ("1h 30m", 5400.0),
        ("1.5s", 1.5),
        (".5h", 1800.0),
        ("90", 90.0),
        (" 2.5 ", 2.5),
        ("0s", 0.0),
        (0, 0.0),
        (7, 7.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5s", "must not be negative"),
        (-1, "must not be negative"),
        ("", "not a duration"),
        ("5x", "not a duration"),
        ("5 minutes", "not a duration"),
        ("5M", "not a duration"),
        ("1e3s", "not a duration"),
        ("\u0663s", "not a duration"),  # an Arabic-Indic 3: \d and float() take it
        ("\uff15m", "not a duration"),  # a fullwidth 5
        ("\u1b50", "not a duration"),  # a Balinese 0, which hypothesis found
        ("s", "not a duration"),
        ("1m1h", "largest to smallest"),
        ("1s1s", "largest to smallest"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        (True, "expected a duration"),
        (None, "expected a duration"),
    ],
)
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (90, "1m30s"), (3600, "1h"), (93784.005, "1d2h3m4s5ms")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False))
@example(0.1 + 0.2)
@example(1e-9)
@example(2.0**53)
def test_format_then_parse_is_identity(seconds: float) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert re.fullmatch(r"[0-9.a-z]+", text)


@given(st.integers(min_value=0, max_value=10**9))
def test_whole_seconds_format_with_units_only(seconds: int) -> None:
    text = format_duration(seconds)
    assert "." not in text
    assert parse_duration(text) == seconds


@given(st.text(alphabet=st.characters(blacklist_characters="0123456789. \t\n\r"), min_size=1))
def test_garbage_without_digits_is_rejected(text: str) -> None:
    """A duration needs a number; a text without digits never parses (and never crashes)."""
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.text(alphabet="0123456789.msdh -x", max_size=12))
def test_parse_duration_fails_only_with_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert seconds >= 0 and math.isfinite(seconds)


@given(st.floats(max_value=-1e-300) | st.integers(max_value=-1))
def test_negative_numbers_are_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_duration(value)
    with pytest.raises(ValueError, match="negative"):
        parse_duration(f"{value}s")


# --------------------------------------------------------------------------- the example


def test_example_config_loads(home: Path, tmp_path: Path) -> None:
    settings = load_settings(EXAMPLE, env={"HOME": str(home)})

    assert settings.server.url == "https://photos.example.com"
    assert settings.server.key() == KEY
    assert settings.state_dir == home / ".local" / "state" / "immich-backupd"
    assert settings.albums.include == (home / "Pictures",)
    assert settings.albums.exclude == (f"{home}/Pictures/Screenshots", "**/WhatsApp Images")
    assert settings.warnings == ()


def test_example_config_shows_the_real_defaults(home: Path) -> None:
    """The example claims its values are the defaults: hold it to that."""
    settings = load_settings(EXAMPLE, env={"HOME": str(home)})
    assert settings.backup == BackupSettings()
    assert settings.notifications == NotificationSettings()
    assert settings.log_level == Settings.log_level
    assert settings.server.timeout == 60.0
    assert settings.server.verify_tls is True


def test_example_config_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    active = set(_key_paths(yaml.safe_load(text)))
    commented = {"server.api_key", "server.ca_file", "dashboard.tls_cert",
                 "dashboard.tls_key"}
    assert active | commented == set(CONFIG_KEYS)
    for key in commented:
        assert re.search(rf"^\s*# {key.split('.')[-1]}: ", text, re.M), key
    # Each key has a comment on its line or on the lines just above.
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^\s*[a-z_]+:", line) and "#" not in line:
            above = lines[number - 1].strip()
            assert above.startswith("#") or line.rstrip().endswith(":"), line


def _key_paths(data: object, prefix: str = "") -> list[str]:
    if not isinstance(data, dict):
        return []
    out = []
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        out.append(path)
        out.extend(_key_paths(value, path))
    return out


# --------------------------------------------------------------------------- config path


def test_default_config_path(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    assert default_config_path({CONFIG_ENV: str(path)}) == path
    assert default_config_path({CONFIG_ENV: "~/c.yaml", "HOME": "/h"}) == Path("/h/c.yaml")
    assert default_config_path({}).name == "config.yaml"
    assert "immich-backupd" in default_config_path({}).parts


def test_unreadable_config_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "missing.yaml", env={})
    assert info.value.problems == [
        f"{tmp_path / 'missing.yaml'}: cannot read the config file: No such file or directory"
    ]
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"server:\n  url: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1.yaml:2: the config file is not valid UTF-8"):
        load_settings(bad, env={})


# --------------------------------------------------------------------------- broken configs


def _expectations(path: Path) -> tuple[list[tuple[int, str]], list[str]]:
    expected, secrets = [], []
    for line in path.read_text().splitlines():
        if m := re.match(r"# expect: (\d+): (.+)$", line):
            expected.append((int(m.group(1)), m.group(2)))
        elif m := re.match(r"# secret: (.+)$", line):
            secrets.append(m.group(1))
    return expected, secrets


CORPUS_FILES = sorted(CORPUS.glob("*.yaml"))


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS_FILES) >= 20
    assert all(_expectations(path)[0] for path in CORPUS_FILES)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_broken_config(path: Path, env: dict[str, str]) -> None:
    expected, secrets = _expectations(path)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=env)
    problems = info.value.problems
    assert info.value.exit_code == ExitCode.CONFIG

    for problem in problems:
        assert "\n" not in problem
        assert problem.startswith(f"{path}:")
        assert "corpus-secret-key" not in problem
        assert not any(secret in problem for secret in secrets)
    unmatched = list(problems)
    for line, substring in expected:
        # "at 'key': text" means: the error is about that key, and its message holds text.
        prefix, text = f"{path}:{line}:", substring
        if m := re.match(r"(at '[^']+':) (.*)$", substring):
            prefix, text = f"{path}:{line}: {m.group(1)} ", m.group(2)
        found = [p for p in unmatched if p.startswith(prefix) and text in p]
        assert found, f"no error on line {line} containing {substring!r} in:\n" + "\n".join(
            problems
        )
        unmatched.remove(found[0])
    assert not unmatched, "unexpected errors:\n" + "\n".join(unmatched)


def test_errors_are_sorted_by_line(env: dict[str, str]) -> None:
    problems = problems_of(
        "log_level: loud\nserver: {url: 'x://y'}\nalbums: {include: [rel]}\n", env
    )
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines)
    assert len(problems) == 4  # log_level, url, api_key, include[0]


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(API_KEY_ENV, KEY)
    text = "server: {url: 'https://x'}\nalbums: {include: [~/Pictures]}\n"
    assert parse_settings(text).server.key() == KEY
    assert os.environ[API_KEY_ENV] == KEY


def test_api_key_from_a_systemd_credential(tmp_path):
    from immich_backupd.config import parse_settings

    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "immich-api-key").write_text("cred-key\n")
    photos = tmp_path / "photos"
    photos.mkdir()
    text = (f"server:\n  url: http://127.0.0.1:2283\nstate_dir: {tmp_path / 's'}\n"
            f"albums:\n  include: [{photos}]\n")
    settings = parse_settings(text, env={"CREDENTIALS_DIRECTORY": str(creds),
                                         "HOME": str(tmp_path)})
    assert settings.server.key() == "cred-key"
    assert settings.server.key_source == "credential"
    assert "cred-key" not in repr(settings)


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8484", ("127.0.0.1", 8484)),
    ("localhost:0", ("127.0.0.1", 0)),
    ("[::1]:9000", ("::1", 9000)),
    ("127.0.0.2:1", ("127.0.0.2", 1)),
    ("0.0.0.0:8484", ("0.0.0.0", 8484)),  # the network: served only with a password
    ("[::]:8484", ("::", 8484)),
    ("192.168.1.2:80", ("192.168.1.2", 80)),
])
def test_dashboard_listen_takes_ip_addresses(text, expected):
    from immich_backupd.config import DashboardSettings, parse_listen

    assert parse_listen(text) == expected
    host, port = expected
    assert parse_listen(DashboardSettings(host=host, port=port).listen) == expected


@pytest.mark.parametrize("text", ["example.com:80", "127.0.0.1:65536", "127.0.0.1", ":80"])
def test_dashboard_listen_refuses_names_and_nonsense(text):
    from immich_backupd.config import parse_listen

    with pytest.raises(ValueError):
        parse_listen(text)


def test_bandwidth_quiet_hours_and_job_pausing(env: dict[str, str]) -> None:
    """The run controls of issue 19: read, defaults, and each mistake named with its line."""
    settings = parse_settings(minimal(), env=env)
    assert settings.backup.bandwidth == "off" and settings.backup.quiet_hours == ""
    assert settings.backup.bandwidth_table.limit_at(__import__("datetime").datetime.now()) \
        == (None, None)
    assert not settings.server.pause_jobs_during_import
    assert settings.server.pause_jobs_threshold == 1000
    text = minimal() + (
        "backup:\n  bandwidth: 08:00,1MB/s 23:00,off\n  quiet_hours: 22:00-06:00\n")
    text = text.replace("  api_key:", "  pause_jobs_during_import: true\n"
                        "  pause_jobs_threshold: 50\n  api_key:")
    settings = parse_settings(text, env=env)
    assert settings.backup.bandwidth == "08:00,1MB/s 23:00,off"
    assert settings.backup.quiet.ranges == ((22 * 60, 6 * 60),)
    assert settings.server.pause_jobs_during_import
    assert settings.server.pause_jobs_threshold == 50
    assert parse_settings(minimal() + "backup:\n  bandwidth: off\n", env=env).backup \
        .bandwidth == "off"
    problems = problems_of(minimal() + "backup:\n  bandwidth: 5 MB/h\n"
                           "  quiet_hours: 8-18\n", env)
    assert any(":7:" in p and "backup.bandwidth" in p and "not a rate: '5 MB/h'" in p
               for p in problems), problems
    assert any(":8:" in p and "backup.quiet_hours" in p and "'8-18'" in p
               for p in problems), problems
    problems = problems_of(minimal() + "backup:\n  bandwidth: Fri-18:00,1M Xyz-08:00,2M\n",
                           env)
    assert any("no such weekday: 'Xyz'" in p for p in problems), problems


def test_dashboard_tls_files_go_together_and_must_exist(tmp_path: Path, env: dict) -> None:
    from immich_backupd.config import parse_settings as parse
    from immich_backupd.errors import ConfigError

    (tmp_path / "d.crt").write_text("cert")
    base = f"server: {{url: http://x, api_key: {KEY}}}\nalbums: {{include: [{tmp_path}]}}\n"
    ok = parse(base + "dashboard: {tls_cert: d.crt, tls_key: d.crt}\n", env=env,
               base_dir=tmp_path)
    assert ok.dashboard.tls and ok.dashboard.tls_cert == tmp_path / "d.crt"
    for text, where, what in [
        ("dashboard: {tls_cert: d.crt}", "dashboard.tls_key", "go together"),
        ("dashboard: {tls_key: d.crt}", "dashboard.tls_cert", "go together"),
        ("dashboard: {tls_cert: d.crt, tls_key: nope.key}", "dashboard.tls_key",
         "does not exist"),
        (f"dashboard: {{tls_cert: {tmp_path}, tls_key: d.crt}}", "dashboard.tls_cert",
         "not a file"),
    ]:
        with pytest.raises(ConfigError) as exc:
            parse(base + text + "\n", env=env, base_dir=tmp_path)
        message = str(exc.value)
        assert where in message and what in message, message
