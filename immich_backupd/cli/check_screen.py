"""The ``check`` screen: items printed as they come, one line each with its mark
(✓ ok, ! warning, ✗ blocks backups, · information), labels aligned; the worst item
gives the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TextIO

from ..errors import ExitCode
from ..i18n import _

Status = Literal["ok", "warn", "fail", "info"]
MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "info": "·"}


@dataclass
class Item:
    status: Status
    label: str
    text: str
    code: ExitCode = ExitCode.OK  # for "fail": the exit code it stands for
    more: list[str] = field(default_factory=list)  # further lines: details, what to do


class Screen:
    """Prints items as they come, labels aligned; remembers the worst for the exit code."""

    def __init__(self, out: TextIO, labels: list[str]) -> None:
        self.out = out
        self.width = max(len(label) for label in labels)
        self.items: list[Item] = []

    def add(self, item: Item) -> Item:
        self.items.append(item)
        pad = " " * (self.width + 4)
        print(f"{MARKS[item.status]} {item.label:<{self.width}}  {item.text}", file=self.out)
        for line in item.more:
            print(f"{pad}{line}", file=self.out)
        self.out.flush()
        return item

    def exit_code(self) -> ExitCode:
        return next((i.code for i in self.items if i.status == "fail"), ExitCode.OK)


def labels() -> dict[str, str]:
    return {
        "config": _("Config"),
        "server": _("Server"),
        "key": _("API key"),
        "quota": _("Quota"),
        "folder": _("Folder"),
        "state": _("State folder"),
        "watch": _("Watching"),
        "power": _("Charging"),
        "network": _("Network"),
        "daemon": _("Daemon"),
    }
