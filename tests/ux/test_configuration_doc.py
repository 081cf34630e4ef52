"""docs/configuration.md cannot drift from the config model: keys, types, defaults, examples."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from immich_backupd.config import (
    CONFIG_KEYS,
    SECTIONS,
    default_state_dir,
    parse_settings,
    to_config_dict,
)
from immich_backupd.schedule.durations import parse_duration

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"
ROW = re.compile(r"^\| `([a-z_.]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| (.+) \|$")


def rows() -> dict[str, dict[str, str]]:
    out = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            key, kind, default, example, text = (g.strip() for g in m.groups())
            assert key not in out, f"{key} listed twice"
            out[key] = {"type": kind, "default": default, "example": example, "text": text}
    return out


def yaml_value(cell: str) -> Any:
    assert cell.startswith("`") and cell.endswith("`"), cell
    return yaml.safe_load(cell[1:-1])


def dig(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


def minimal_settings(tmp_path: Path):
    return parse_settings(
        f"server: {{url: https://x.example, api_key: k}}\n"
        f"albums: {{include: [{tmp_path}]}}\n", base_dir=tmp_path)


def test_every_key_is_documented_once_and_nothing_else():
    documented = set(rows())
    assert documented == set(CONFIG_KEYS), (
        f"missing: {sorted(set(CONFIG_KEYS) - documented)}; "
        f"unknown: {sorted(documented - set(CONFIG_KEYS))}")


def test_sections_are_marked_as_sections():
    sections = {name for name in SECTIONS if name}
    for key, row in rows().items():
        assert (row["type"] == "section") == (key in sections), key


def test_defaults_are_the_real_defaults(tmp_path):
    actual = to_config_dict(minimal_settings(tmp_path))
    for key, row in rows().items():
        default, kind = row["default"], row["type"]
        if default in ("required", "none"):
            # Required keys have no default; "none" keys are simply absent by default.
            assert default != "none" or key not in ("server.url", "albums.include"), key
            continue
        if kind == "section":
            assert default == "`{}`", key
            continue
        if key == "state_dir":
            if sys.platform.startswith("linux") and not os.environ.get("XDG_STATE_HOME"):
                assert Path(os.path.expanduser(yaml_value(default))) == default_state_dir()
            continue
        value = yaml_value(default)
        real = dig(actual, key)
        if kind == "duration":
            assert parse_duration(value) == parse_duration(real), key
        else:
            assert value == real, f"{key}: doc says {value!r}, the model {real!r}"


class FakeFS:
    """Every path exists: folders are folders, .pem files are files, the key file reads."""

    def kind(self, path: Path) -> Literal["dir", "file", "other", "missing"]:
        return "file" if path.suffix in (".pem",) or path.name == "api-key" else "dir"

    def read_text(self, path: Path) -> str:
        return "a-key"

    def mode(self, path: Path) -> int | None:
        return 0o600


def nested(pairs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted, value in pairs.items():
        node = out
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


@pytest.mark.parametrize("key_by", ["server.api_key", "server.api_key_file"])
def test_the_examples_together_are_a_valid_config(key_by):
    examples = {key: yaml_value(row["example"]) for key, row in rows().items()
                if row["type"] != "section"}
    other = {"server.api_key", "server.api_key_file"} - {key_by}
    examples = {k: v for k, v in examples.items() if k not in other}
    if key_by == "server.api_key":
        examples["server.api_key"] = "a-key"  # the doc shortens it with an ellipsis
    text = yaml.safe_dump(nested(examples))
    settings = parse_settings(text, "<doc>", env={"HOME": "/home/u"}, base_dir=Path("/etc"),
                              fs=FakeFS())
    assert settings.backup.concurrency == examples["backup.concurrency"]


def test_types_match_the_defaults(tmp_path):
    actual = to_config_dict(minimal_settings(tmp_path))
    expected = {"boolean": bool, "integer": int}
    for key, row in rows().items():
        if row["type"] in expected and row["default"].startswith("`"):
            assert type(dig(actual, key)) is expected[row["type"]], key


def test_readme_links_the_configuration_and_service_docs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/configuration.md" in readme and "docs/service.md" in readme
