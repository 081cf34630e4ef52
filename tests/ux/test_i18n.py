"""Translations: the catalogue is complete and compiled, the locale is read as gettext does."""

from __future__ import annotations

import re
import string

import pytest

from immich_backupd import i18n
from immich_backupd.report.text import count, human_ago, human_bytes

from .conftest import User


@pytest.fixture
def german():
    i18n.use({"LANG": "de_DE.UTF-8"})
    yield
    i18n.use({"LANG": "C"})


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.use({"LANG": "C"})


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_message_has_a_german_translation_with_the_same_placeholders():
    wanted = i18n.extract(i18n.package_sources())
    assert len(wanted) > 150  # the screens, errors, notifications and status line
    have = i18n.read_po(i18n.po_path("de").read_text("utf-8"))
    for (msgid, plural), places in wanted.items():
        translated = have.get((msgid, plural))
        assert translated and all(translated), f"untranslated: {msgid!r} ({places[0]})"
        for text in translated:
            assert fields(text) == fields(msgid), f"placeholders differ: {msgid!r}"


def test_the_committed_mo_is_the_compiled_po():
    po = i18n.read_po(i18n.po_path("de").read_text("utf-8"))
    assert i18n.mo_path("de").read_bytes() == i18n.compile_po(po), (
        "run `python -m immich_backupd.i18n compile`")


def test_no_message_is_built_from_a_non_literal():
    """`_(f"...")` or `_("a" + b)` would never match the catalogue."""
    bad = []
    for path in i18n.package_sources():
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if re.search(r"\b_\(f[\"']|ngettext\(f[\"']", line):
                bad.append(f"{path.name}:{n}")
    assert bad == []


@pytest.mark.parametrize(("env", "expected"), [
    ({"LANG": "de_DE.UTF-8"}, ["de_DE.UTF-8"]),
    ({"LC_ALL": "de_AT.UTF-8", "LANG": "en_US.UTF-8"}, ["de_AT.UTF-8"]),
    ({"LC_MESSAGES": "de_CH", "LANG": "en_US.UTF-8"}, ["de_CH"]),
    ({"LANG": "fr_FR.UTF-8", "LANGUAGE": "de:fr"}, ["de", "fr"]),
    ({"LANG": "C.UTF-8", "LANGUAGE": "de"}, []),  # C wins over LANGUAGE, as in GNU gettext
    ({"LANG": "POSIX"}, []),
    ({}, []),
])
def test_the_language_comes_from_the_environment_like_gettext(env, expected):
    assert i18n.languages_from(env) == expected


def test_german_and_english(german):
    assert i18n._("Backup complete") == "Sicherung vollständig"
    assert i18n.ngettext("{n} upload failed", "{n} uploads failed", 1) == \
        "{n} Upload fehlgeschlagen"
    assert count(1234567) == "1.234.567" and human_bytes(2_400_000) == "2,4 MB"
    assert human_ago(0, now=7200) == "vor 2 Stunden"
    assert i18n.language() == "de"
    i18n.use({"LANG": "fr_FR.UTF-8"})  # no French: English, not an error
    assert i18n._("Backup complete") == "Backup complete"
    assert count(1234567) == "1,234,567" and human_bytes(2_400_000) == "2.4 MB"


def test_read_po_skips_fuzzy_and_joins_lines():
    po = '\n'.join([
        'msgid ""', 'msgstr "Content-Type: text/plain; charset=UTF-8\\n"', '',
        '#, fuzzy', 'msgid "a"', 'msgstr "A?"', '',
        'msgid "b"', '"c"', 'msgstr ""', '"BC"', '',
        'msgid "{n} x"', 'msgid_plural "{n} xs"', 'msgstr[0] "{n} X"', 'msgstr[1] "{n} Xe"',
    ])
    entries = i18n.read_po(po)
    assert ("a", None) not in entries
    assert entries[("bc", None)] == ["BC"]
    assert entries[("{n} x", "{n} xs")] == ["{n} X", "{n} Xe"]


def test_the_cli_speaks_german_and_logs_stay_english(user: User, server):
    from .conftest import init_flags

    user.lang = "de_DE.UTF-8"
    proc = user.run(*init_flags(user, server))
    assert proc.returncode == 0, proc.stderr
    assert "✓ Immich 3.1.0 unter" in proc.stdout and "Als Nächstes:" in proc.stdout
    assert user.run("status").stdout.startswith("Noch keine Sicherung")
    proc = user.run("once")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("✓ Sicherung vollständig:")
    assert "INFO    connected to Immich" in proc.stderr  # the log is for the journal
    assert user.run("status").stdout.startswith("✓ Sicherung vollständig")
    check = user.run("check")
    assert "✓ Konfiguration" in check.stdout and check.returncode == 0
    assert "Keine fehlgeschlagenen Uploads" in user.run("failed").stdout
