"""docs/dashboard.md's Home Assistant example asks the API for what it has: the fields
its templates and attributes read are in the OpenAPI Status schema, and the button's
call is a POST route of the API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from immich_backupd.dashboard.server import HERE

DOC = Path(__file__).resolve().parents[1] / "docs" / "dashboard.md"
SPEC = json.loads((HERE / "openapi.json").read_text())


class HomeAssistantLoader(yaml.SafeLoader):
    """YAML with Home Assistant's ``!secret`` tag."""


HomeAssistantLoader.add_constructor(
    "!secret", lambda loader, node: f"<secret {loader.construct_scalar(node)}>")


def blocks() -> list[dict]:
    section = DOC.read_text().split("### Home Assistant", 1)[1].split("\n## ", 1)[0]
    return [yaml.load(text, HomeAssistantLoader)
            for text in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def test_the_home_assistant_example_reads_fields_the_api_answers_with():
    config, card = blocks()
    fields = SPEC["components"]["schemas"]["Status"]["properties"]
    (rest,) = config["rest"]
    assert urlsplit(rest["resource"]).path == "/api/v1/status"
    assert "get" in SPEC["paths"]["/api/v1/status"]
    assert rest["headers"]["Authorization"].startswith("<secret")
    read = set()
    for sensor in rest["sensor"]:
        read |= set(re.findall(r"value_json\.(\w+)", sensor["value_template"]))
        read |= set(sensor.get("json_attributes", []))
    assert read and read <= set(fields), read - set(fields)

    command = config["rest_command"]["immich_backup_now"]
    path = urlsplit(command["url"]).path
    assert command["method"] == "post" and "post" in SPEC["paths"][path]
    assert card["tap_action"]["perform_action"] == "rest_command.immich_backup_now"
