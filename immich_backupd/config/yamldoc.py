"""YAML text in, a value plus the line of every key out; syntax errors as one line each.

YAML 1.2 booleans, no timestamps, duplicate keys found, merge keys and aliases indexed
without walking a node twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from immich_backupd.bilingual import Line, Msg
from immich_backupd.i18n import N_


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and no timestamps.

    YAML 1.1 reads ``yes``/``no``/``on``/``off`` as booleans and ``2024-01-01`` as a date,
    which would turn a folder named ``no`` or ``2024-01-01`` in ``exclude`` into a type
    error. Here only ``true``/``false`` are booleans; ``yes`` stays a string (and is then
    rejected for a boolean key, with a message saying so).
    """


_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

KeyPath = tuple[str | int, ...]
_MISSING: Final = object()


@dataclass
class _Document:
    """A parsed YAML document: its value plus where each key sits in the text."""

    data: Any = None
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[tuple[KeyPath, int, int]] = field(default_factory=list)


def _compose(text: str) -> _Document:
    """Parse ``text`` into a ``_Document``. Raise ``yaml.YAMLError`` on bad syntax."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        doc = _Document()
        if node is None:
            return doc
        # Index before constructing: construction flattens merge keys in place.
        _index(node, (), doc.lines, doc.duplicates, set())
        doc.lines[()] = node.start_mark.line + 1
        doc.data = loader.construct_document(node)
        return doc
    finally:
        loader.dispose()


def _index(
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
    duplicates: list[tuple[KeyPath, int, int]],
    seen: set[int],
) -> None:
    """Record in ``lines`` the 1-based line of every key and list item below ``node``.

    Collects keys given twice in one mapping in ``duplicates`` as (path, line, first line).
    Each node is walked once, so aliases (and "billion laughs" documents) stay linear; paths
    reached only through an alias fall back to the alias' line.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            name = _node_key(key_node)
            line = key_node.start_mark.line + 1
            if name in first_line:
                duplicates.append(((*path, name), line, first_line[name]))
            else:
                first_line[name] = line
            lines[(*path, name)] = line  # the last one wins, as in the constructed value
            _index(value_node, (*path, name), lines, duplicates, seen)
        for merge in merges:  # explicit keys win over merged ones; earlier merges win
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    continue
                for key_node, value_node in source.value:
                    key_path = (*path, _node_key(key_node))
                    if key_path not in lines:
                        lines[key_path] = key_node.start_mark.line + 1
                        _index(value_node, key_path, lines, duplicates, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _index(item, (*path, index), lines, duplicates, seen)


def _node_key(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else "<complex key>"


def _yaml_problem(label: str, exc: yaml.YAMLError, text: str) -> Line:
    """One line for a YAML syntax error: ``file:line:column: invalid YAML: problem``.

    PyYAML's problem text is English: the translated form says "invalid YAML" in the
    user's language and gives PyYAML's text on a line of its own."""
    if isinstance(exc, yaml.reader.ReaderError):  # a control character; marks only an offset
        line = text[: exc.position].count("\n") + 1
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        return Line(f"{label}:{line}:", Msg(
            N_("invalid YAML: control character {char} is not allowed"), char=shown))
    where, problem = _yaml_where_and_problem(label, exc)
    if "'\\t'" in problem:
        return Line(where, Msg(N_("invalid YAML: a tab character where YAML wants spaces; "
                                  "indent with spaces")), inline=f"invalid YAML: {problem}")
    return Line(where, Msg(N_("invalid YAML; the YAML parser says:")), details=[problem],
                inline=f"invalid YAML: {problem}")


def _yaml_where_and_problem(label: str, exc: yaml.YAMLError) -> tuple[str, str]:
    """(``file:line:column:``, PyYAML's problem in English) for a syntax error."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem and exc.problem.startswith("but "):
            problem = f"{exc.context}, {exc.problem}"  # "expected a single document, but..."
        elif exc.context and exc.problem and exc.context_mark is not None:
            problem += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        if "'\\t'" in problem:
            problem += "; indent with spaces, YAML does not allow tabs"
        if mark is not None:
            return f"{label}:{mark.line + 1}:{mark.column + 1}:", problem
        return f"{label}:1:", problem
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{label}:1:", first_line
