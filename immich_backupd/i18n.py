"""Translations of what users read: ``_``, ``ngettext``, ``N_`` over gettext.

The language comes from the environment the way every GNU gettext program reads it:
``LANGUAGE`` (a colon-separated list), then ``LC_ALL``, ``LC_MESSAGES``, ``LANG``; a ``C``
locale is English whatever ``LANGUAGE`` says. The
catalogues live in ``immich_backupd/locale/<lang>/LC_MESSAGES/immich-backupd.mo``; a
language without one, and ``C``/``POSIX``, read English (the source strings).

What is translated: the screens of the command line (``check``, ``status``, ``failed``,
``init``, the summary of ``once``), its error hints, desktop notifications and the
service's STATUS= line, and the config's problems (``bilingual``: each is kept as its
template and arguments, English in the log, translated where people read it). What is
not: log lines (the journal stays English, so that a bug report or a search finds them)
and the messages the engine raises (server errors), which are English.

The build half (``extract``, ``compile_po``; ``python -m immich_backupd.i18n``) needs
nothing beyond the standard library: a small ``ast`` extractor finds every ``_()``,
``N_()`` and ``ngettext()`` literal in the package, and ``compile_po`` writes the ``.mo``
the way CPython's ``Tools/i18n/msgfmt.py`` does. The ``.mo`` is committed; a test keeps
it equal to what ``compile_po`` makes of the ``.po``, and the ``.po`` complete.
"""

from __future__ import annotations

import ast
import gettext as _gettext
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

DOMAIN = "immich-backupd"
LOCALE_DIR = Path(__file__).parent / "locale"
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_current: _gettext.NullTranslations | None = None
# A language for one task (a dashboard request), over the process's own: asyncio tasks
# and asyncio.to_thread copy it, so the code below them needs no parameter.
_scoped: ContextVar[_gettext.NullTranslations | None] = ContextVar(
    "immich_backupd_translation", default=None)


def languages_from(env: Mapping[str, str]) -> list[str]:
    """The languages ``env`` asks for, as GNU gettext reads them; [] means English.

    The locale is the first of ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set; ``C`` or
    ``POSIX`` (or none) means untranslated, whatever ``LANGUAGE`` says. Otherwise
    ``LANGUAGE`` (a list such as ``de:en``), when set, wins over the locale.
    """
    locale = next((env[v] for v in ENV_VARS[1:] if env.get(v)), "")
    if locale.split(".")[0] in ("", "C", "POSIX"):
        return []
    listed = [lang for lang in env.get("LANGUAGE", "").split(":") if lang]
    return listed or [locale]


def translation(env: Mapping[str, str] | None = None) -> _gettext.NullTranslations:
    """Return the catalogue for the language ``env`` (default ``os.environ``) asks for."""
    languages = languages_from(os.environ if env is None else env)
    if not languages:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, LOCALE_DIR, languages=languages, fallback=True)


def use(env: Mapping[str, str] | None = None) -> _gettext.NullTranslations:
    """Switch every later ``_()`` to the language of ``env`` (tests; the CLI never needs it)."""
    global _current
    _current = translation(env)
    return _current


def current() -> _gettext.NullTranslations:
    global _current
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    if _current is None:
        _current = translation()
    return _current


def for_languages(languages: Iterable[str]) -> _gettext.NullTranslations:
    """The catalogue for the first of ``languages`` (``de``, ``de_AT``, ``en-US``) that we
    speak: English (the source strings) or one with a catalogue. English when none is."""
    have = set(languages_available())
    for lang in languages:
        code = lang.replace("-", "_").strip()
        base = code.split("_")[0].lower()
        if base == "en":
            break
        if base in have or code in have:
            return _gettext.translation(DOMAIN, LOCALE_DIR, languages=[code, base],
                                        fallback=True)
    return _gettext.NullTranslations()


@contextmanager
def scoped(translation: _gettext.NullTranslations) -> Iterator[None]:
    """``_()`` in this task (and the threads and tasks it starts) uses ``translation``."""
    token = _scoped.set(translation)
    try:
        yield
    finally:
        _scoped.reset(token)


def languages_available() -> list[str]:
    """The languages with a compiled catalogue (``["de"]``); English needs none."""
    if not LOCALE_DIR.is_dir():
        return []
    return sorted(d.name for d in LOCALE_DIR.iterdir() if (d / "LC_MESSAGES").is_dir())


def _(message: str) -> str:
    """Translate ``message`` (a literal: the extractor finds it)."""
    return current().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate with the plural form for ``n`` (literals: the extractor finds them)."""
    return current().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (translate it later)."""
    return message


def language() -> str:
    """The language in use: ``de`` or ``en``, for tests and ``check``."""
    info = current().info()
    return info.get("language", "en") if info else "en"


# ------------------------------------------------------------------------------ build
# Used by the tests and by `python -m immich_backupd.i18n`; nothing above depends on it.

Message = tuple[str, str | None]  # (msgid, msgid_plural)


def extract(paths: Iterable[Path]) -> dict[Message, list[str]]:
    """Return every translatable literal in the Python files ``paths``, with its places.

    Finds ``_("…")``, ``N_("…")`` and ``ngettext("…", "…", n)`` whose arguments are string
    literals (implicitly concatenated literals count as one).
    """
    found: dict[Message, list[str]] = {}
    for path in sorted(paths):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str)
                    else None for a in node.args]
            if node.func.id in ("_", "N_") and len(args) == 1 and args[0] is not None:
                key: Message = (args[0], None)
            elif node.func.id == "ngettext" and len(args) == 3 and None not in args[:2]:
                key = (str(args[0]), args[1])
            else:
                continue
            found.setdefault(key, []).append(f"{path.name}:{node.lineno}")
    return found


def package_sources() -> list[Path]:
    return sorted(Path(__file__).parent.rglob("*.py"))


def _po_unquote(text: str) -> str:
    return ast.literal_eval(text)  # a .po string is a C string; these are Python-compatible


def read_po(text: str) -> dict[Message, list[str]]:
    """Parse a .po file: (msgid, msgid_plural) → the translations (one per plural form).

    Handles what ``write_po`` and translators produce: comments, ``msgctxt``-free entries,
    multi-line strings. Fuzzy entries are skipped, as msgfmt does.
    """
    entries: dict[Message, list[str]] = {}
    msgid: str | None = None
    plural: str | None = None
    strs: dict[int, str] = {}
    fuzzy = next_fuzzy = False
    field: tuple[str, int] | None = None

    def flush() -> None:
        if msgid is not None and not fuzzy:
            entries[(msgid, plural)] = [strs[i] for i in sorted(strs)]

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            next_fuzzy = True  # applies to the entry that follows
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid_plural "):
            plural, field = _po_unquote(line[13:]), ("plural", 0)
        elif line.startswith("msgid "):
            flush()
            msgid, plural, strs = _po_unquote(line[6:]), None, {}
            fuzzy, next_fuzzy = next_fuzzy, False
            field = ("id", 0)
        elif line.startswith("msgstr["):
            index = int(line[7:line.index("]")])
            strs[index] = _po_unquote(line[line.index("]") + 1:].strip())
            field = ("str", index)
        elif line.startswith("msgstr "):
            strs[0], field = _po_unquote(line[7:]), ("str", 0)
        elif line.startswith('"') and field is not None:
            part = _po_unquote(line)
            if field[0] == "id":
                msgid = (msgid or "") + part
            elif field[0] == "plural":
                plural = (plural or "") + part
            else:
                strs[field[1]] += part
    flush()
    return entries


def compile_po(entries: Mapping[Message, list[str]]) -> bytes:
    """The GNU .mo file for ``entries`` (CPython's msgfmt.py layout, little-endian)."""
    catalog: dict[bytes, bytes] = {}
    for (msgid, plural), strs in entries.items():
        if not any(strs) and msgid:
            continue  # untranslated: gettext falls back to the msgid
        key = msgid if plural is None else f"{msgid}\0{plural}"
        catalog[key.encode()] = "\0".join(strs).encode()
    keys = sorted(catalog)
    ids = strs_ = b""
    offsets = []
    for k in keys:
        offsets.append((len(ids), len(k), len(strs_), len(catalog[k])))
        ids += k + b"\0"
        strs_ += catalog[k] + b"\0"
    keystart = 7 * 4 + 16 * len(keys)
    valuestart = keystart + len(ids)
    koffsets: list[int] = []
    voffsets: list[int] = []
    for o1, l1, o2, l2 in offsets:
        koffsets += [l1, o1 + keystart]
        voffsets += [l2, o2 + valuestart]
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + len(keys) * 8,
                         0, 0)
    return (header + struct.pack(f"{len(koffsets)}i", *koffsets)
            + struct.pack(f"{len(voffsets)}i", *voffsets) + ids + strs_)


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def languages() -> list[str]:
    return sorted(p.name for p in LOCALE_DIR.iterdir() if po_path(p.name).exists())


def _po_quote(text: str) -> str:
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\t", "\\t"))
    return f'"{escaped}"'


def write_pot(found: Mapping[Message, list[str]]) -> str:
    """The template (.pot) for ``found``, sorted by first place of use."""
    out = [
        "# Messages of immich-backupd. Generated by `python -m immich_backupd.i18n extract`.",
        'msgid ""',
        'msgstr ""',
        '"Content-Type: text/plain; charset=UTF-8\\n"',
        "",
    ]
    for (msgid, plural), places in found.items():
        out.append(f"#: {' '.join(places)}")
        if "{" in msgid:
            out.append("#, python-brace-format")
        out.append(f"msgid {_po_quote(msgid)}")
        if plural is None:
            out.append('msgstr ""')
        else:
            out += [f"msgid_plural {_po_quote(plural)}", 'msgstr[0] ""', 'msgstr[1] ""']
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "compile"
    if command == "extract":
        sys.stdout.write(write_pot(extract(package_sources())))
        return 0
    if command == "compile":
        for lang in languages():
            mo_path(lang).write_bytes(compile_po(read_po(po_path(lang).read_text("utf-8"))))
            print(f"wrote {mo_path(lang)}")
        return 0
    if command == "missing":
        wanted = extract(package_sources())
        status = 0
        for lang in languages():
            have = read_po(po_path(lang).read_text("utf-8"))
            for key in wanted:
                if not any(have.get(key, [])):
                    print(f"{lang}: untranslated: {key[0]!r}")
                    status = 1
        return status
    print("usage: python -m immich_backupd.i18n [extract|compile|missing]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
