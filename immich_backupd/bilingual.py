"""Messages rendered twice: in English for the log, in the user's language for people.

The config's problems are logged by the daemon (English, so that a bug report or a
search finds them) and shown by ``check`` and every command (in the language of the
locale). So a problem is kept as its template and arguments (:class:`Msg`) and rendered
either way; an argument that is itself text for people is a :class:`Msg` too (rendered
the same way), or a :class:`Alt` when its English form comes from elsewhere (an OS
error's ``strerror``) and only its translated form from the catalogue.

:class:`Line` is an English line (a ``str``: logs, tests and ``ConfigError.problems``
read it as before) that also knows its translation. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .i18n import _

__all__ = ["Alt", "Line", "Msg", "localized", "localized_lines"]


class Msg:
    """A template (marked with ``N_`` where it is written) and its named arguments.

    Arguments that are :class:`Msg` or :class:`Alt` are rendered in the same language as
    the message around them; anything else is inserted as it is. A template without a
    catalogue entry is its own translation (``"{text}"`` carries text as it is).
    """

    __slots__ = ("args", "template")

    def __init__(self, template: str, /, **args: Any) -> None:
        self.template = template
        self.args = args

    def render(self, translate: bool) -> str:
        text = _(self.template) if translate else self.template
        return text.format(**{k: render(v, translate) for k, v in self.args.items()})

    def english(self) -> str:
        return self.render(False)

    def translated(self) -> str:
        return self.render(True)

    __str__ = english

    def __repr__(self) -> str:
        return f"Msg({self.english()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Msg) and (self.template, self.args) == (other.template,
                                                                          other.args)

    def __hash__(self) -> int:
        return hash(self.template)


class Alt:
    """An argument whose English form is given (an OS error's ``strerror``, as the log
    has always shown it) and whose translated form is a :class:`Msg`."""

    __slots__ = ("english", "translated")

    def __init__(self, english: str, translated: Msg) -> None:
        self.english = english
        self.translated = translated

    def render(self, translate: bool) -> str:
        return self.translated.render(True) if translate else self.english


def render(value: Any, translate: bool) -> Any:
    return value.render(translate) if isinstance(value, Msg | Alt) else value


class Line(str):
    """``prefix message`` in English (the ``str`` itself), with :meth:`translated`.

    ``prefix`` (``file:line: at 'key':``) is never translated: key names are the
    config's own words. ``details`` are further lines that only exist in one language
    (a YAML parser's own problem text): the English line carries them inline already
    (``inline``), the translated form puts them on lines of their own, so that no
    translated sentence embeds text in another language.
    """

    prefix: str
    message: Msg
    details: tuple[str, ...]

    def __new__(cls, prefix: str, message: Msg, *, details: Iterable[str] = (),
                inline: str | None = None) -> Line:
        english = message.english() if inline is None else inline
        self = super().__new__(cls, f"{prefix} {english}" if prefix else english)
        self.prefix = prefix
        self.message = message
        self.details = tuple(details)
        return self

    def translated_lines(self) -> list[str]:
        """The line in the user's language, then its details (indented); in English (or
        a language without this message) the English line itself, details inline."""
        text = self.message.translated()
        if text == self.message.english():
            return [str(self)]
        first = f"{self.prefix} {text}" if self.prefix else text
        return [first, *(f"  {d}" for d in self.details)]

    def translated(self) -> str:
        return "\n".join(self.translated_lines())


def localized_lines(line: str) -> list[str]:
    """The lines people read for ``line``: its translation when it is a :class:`Line`."""
    return line.translated_lines() if isinstance(line, Line) else line.splitlines() or [""]


def localized(line: str) -> str:
    return "\n".join(localized_lines(line))
