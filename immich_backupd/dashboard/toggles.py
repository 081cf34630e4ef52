"""The settings screen's switches: each a boolean config key the dashboard may change.

Pure: ``toggles`` reads a ``Settings``; ``parse_toggle`` checks a request body. A change
is written like any config edit (``config_edit.apply_edit``) and applied by a reload.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings, to_config_dict
from ..config.edit import ValueEdit
from ..i18n import _


def _labels() -> dict[str, str]:
    return {
        "backup.album_sync": _("Put each file into an album named after its folder"),
        "backup.require_unmetered": _("Back up only on an unmetered network"),
        "backup.require_charging": _("Back up only while charging"),
        "backup.ignore_cloud_placeholders": _("Skip cloud placeholders (files not on this disk)"),
        "backup.metered.photos": _("Upload photos over a metered network"),
        "backup.metered.videos": _("Upload videos over a metered network"),
    }


KEYS = ("backup.album_sync", "backup.require_unmetered", "backup.require_charging",
        "backup.ignore_cloud_placeholders", "backup.metered.photos", "backup.metered.videos")


def toggles(settings: Settings) -> list[dict[str, Any]]:
    """``[{"key", "value", "label"}]`` in screen order, labels in the language in use."""
    data = to_config_dict(settings)
    labels = _labels()
    out = []
    for key in KEYS:
        value: Any = data
        for part in key.split("."):
            value = value[part]
        out.append({"key": key, "value": bool(value), "label": labels[key]})
    return out


def parse_toggle(body: Any) -> ValueEdit | None:
    """The edit a ``POST /api/v1/settings`` body asks for (``{"key": one of KEYS,
    "value": true|false}``), or None if it is not one."""
    if (not isinstance(body, dict) or set(body) != {"key", "value"}
            or body["key"] not in KEYS or not isinstance(body["value"], bool)):
        return None
    return ValueEdit(tuple(body["key"].split(".")), body["value"])
