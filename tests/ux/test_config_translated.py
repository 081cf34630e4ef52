"""Config problems are read by people in their language and by the journal in English.

Every problem is one ``file:line: at 'key':`` location (never translated: key names are
the config's own words) and a message; ``check`` and every command show the message in
the locale's language, the daemon's log and ``ConfigError.problems`` keep it English.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from immich_backupd import i18n
from immich_backupd.config import parse_settings
from immich_backupd.errors import ConfigError

from .conftest import User

BROKEN = """\
server:
  url: ftp://photos.example.com
  api_key: k
  timeout: soon
albums:
  include: [relative, /etc/hostname]
backup:
  concurrency: 0
  album_sync: yes
  rescan_interval: 1m1h
  retyr: 3
  trigger_delay: -5s
dashboard:
  listen: 10.0.0.1:99999
log_level: verbose
"""

LOCATION = re.compile(r"^(\S+:\d+:(?: at '[^']+':)?) (.+)$")


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.use({"LANG": "C"})


def problems(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "config.yaml", env={"HOME": "/nowhere"})
    return info.value


def split(lines: list[str]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        match = LOCATION.match(line)
        assert match, line
        out.append((match.group(1), match.group(2)))
    return out


def test_each_problem_renders_in_english_for_the_log_and_in_german_for_people():
    i18n.use({"LANG": "de_DE.UTF-8"})
    exc = problems(BROKEN)
    english, german = split(exc.problems), split(exc.translated())
    assert len(english) == len(german) == 11
    assert str(exc) == "\n".join(exc.problems)  # what a log or a traceback shows
    assert [where for where, _ in english] == [where for where, _ in german]
    for (where, en), (_, de) in zip(english, german, strict=True):
        assert en != de, f"{where} untranslated: {en}"
    said = dict(english)
    assert said["config.yaml:2: at 'server.url':"].startswith("must start with http://")
    assert dict(german)["config.yaml:2: at 'server.url':"].startswith(
        "muss mit http:// oder https:// beginnen")
    # English arguments are translated with their sentence: "string 'yes'" is "Text 'yes'".
    assert "Text 'yes'" in dict(german)["config.yaml:9: at 'backup.album_sync':"]
    assert "not a duration" in said["config.yaml:10: at 'backup.rescan_interval':"]
    assert "keine Dauer" in dict(german)["config.yaml:10: at 'backup.rescan_interval':"]


def test_english_is_the_same_whatever_the_locale():
    english = problems(BROKEN).problems
    i18n.use({"LANG": "de_DE.UTF-8"})
    assert problems(BROKEN).problems == english
    assert problems(BROKEN).translated() != english


def test_yaml_syntax_errors_keep_the_parsers_text_on_a_line_of_its_own():
    i18n.use({"LANG": "de_DE.UTF-8"})
    exc = problems('server:\n  url: "x\nalbums: [\n')
    assert exc.problems == [
        "config.yaml:4:1: invalid YAML: found unexpected end of stream (while scanning a "
        "quoted scalar started at line 2)"]
    first, detail = exc.translated()
    assert first == "config.yaml:4:1: ungültiges YAML; der YAML-Parser meldet (auf Englisch):"
    assert detail == ("  found unexpected end of stream (while scanning a quoted scalar "
                      "started at line 2)")
    tab = problems("server:\n  url: x\n\tapi_key: y\n")
    assert "indent with spaces" in tab.problems[0]
    assert tab.translated() == ["config.yaml:3:1: ungültiges YAML: ein Tabulator, wo YAML "
                                "Leerzeichen verlangt; mit Leerzeichen einrücken"]


def test_os_errors_are_named_in_words_not_strerror(tmp_path: Path):
    config = ("server:\n  url: https://photos.example.com\n  api_key_file: {key}\n"
              "albums:\n  include: [{home}]\n")
    i18n.use({"LANG": "de_DE.UTF-8"})
    for key, german in ((tmp_path / "none", "existiert nicht"),
                        (tmp_path, "ist ein Ordner, keine Datei")):
        exc = problems(config.format(key=key, home=tmp_path))
        assert "No such file or directory" in exc.problems[0] or \
            "Is a directory" in exc.problems[0]
        assert exc.translated() == [
            f"config.yaml:3: at 'server.api_key_file': die API-Schlüsseldatei {key} kann "
            f"nicht gelesen werden: {german}"]


def english_sentences(user: User, *args: str) -> set[str]:
    user.lang = "C.UTF-8"
    proc = user.run(*args)
    return {m.group(2) for line in proc.stdout.splitlines() + proc.stderr.splitlines()
            if (m := LOCATION.match(line.strip().removeprefix("immich-backupd: ")))}


def test_a_german_check_shows_german_problems_with_their_place(user: User):
    config = user.home / "config.yaml"
    config.write_text(BROKEN)
    english = english_sentences(user, "--config", "config.yaml", "check")
    assert len(english) == 11
    user.lang = "de_DE.UTF-8"
    proc = user.run("--config", "config.yaml", "check")
    assert proc.returncode == 78, proc.stdout + proc.stderr
    assert "✗ Konfiguration  config.yaml hat 11 Probleme:" in proc.stdout
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert "config.yaml:8: at 'backup.concurrency': muss zwischen 1 und 16 liegen, " \
        "erhalten: 0" in lines
    assert "config.yaml:11: at 'backup.retyr': unbekannter Schlüssel 'retyr' " \
        "(war 'retry' gemeint?)" in lines
    for sentence in english:
        assert sentence not in proc.stdout


def test_every_command_prints_config_errors_in_german_but_run_in_english(user: User):
    config = user.home / "config.yaml"
    config.write_text(BROKEN)
    user.lang = "de_DE.UTF-8"
    status = user.run("--config", "config.yaml", "status")
    assert status.returncode == 78
    assert "immich-backupd: config.yaml:15: at 'log_level': erwartet einen von debug, info, " \
        "warning, error; erhalten: Text 'verbose'" in status.stderr
    assert "expected one of" not in status.stderr
    run = user.run("--config", "config.yaml", "run")  # its stderr is the journal
    assert run.returncode == 78
    assert "config.yaml:15: at 'log_level': expected one of debug, info, warning, error; " \
        "got string 'verbose'" in run.stderr
    assert "erwartet" not in run.stderr


def test_config_warnings_follow_the_locale_in_check(user: User, server):
    from .conftest import init_flags

    assert user.run(*init_flags(user, server)).returncode == 0
    config = yaml.safe_load(user.config.read_text())
    missing = user.home / "USB" / "Photos"
    config["albums"]["include"].insert(0, str(missing))
    user.config.write_text(yaml.safe_dump(config))
    user.lang = "de_DE.UTF-8"
    proc = user.run("check")
    assert f"Ordner existiert (noch) nicht: {missing}; er wird gesichert, sobald er da " \
        "ist" in proc.stdout, proc.stdout
    assert "does not exist (yet)" not in proc.stdout


def test_in_english_people_read_the_log_line():
    exc = problems('server:\n  url: "x\nalbums: [\n')
    assert exc.translated() == exc.problems
    exc = problems(BROKEN)
    assert exc.translated() == exc.problems


def test_a_german_check_names_a_server_it_cannot_reach_in_german(user: User):
    config = user.home / "config.yaml"
    photos = user.lib.include[0]
    config.write_text(f"server:\n  url: http://127.0.0.1:9\n  api_key: k\n"
                      f"albums:\n  include: [{photos}]\n")
    config.chmod(0o600)
    user.lang = "de_DE.UTF-8"
    proc = user.run("--config", "config.yaml", "check")
    assert proc.returncode == 69, proc.stdout + proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert "Verbindung abgelehnt" in lines, proc.stdout
    assert "Connect call failed" not in proc.stdout and "refused" not in proc.stdout
