"""Logging in with the password (a dashboard listening beyond loopback).

The form (``form_page``) posts the password to ``/login``; ``Guesses`` checks it against
the hashed one in the state folder (``state.password``) one try at a time, and makes a
wrong one cost ``WRONG_DELAY`` seconds, so guessing runs at about one try a second
however many connections ask. The one-time links of ``immich-backupd dashboard`` still
work too.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

from ..i18n import _
from ..state import password

WRONG_DELAY = 1.0  # seconds a wrong password costs (while holding the lock)


class Guesses:
    """Password checks, one at a time."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._lock = asyncio.Lock()

    async def check(self, given: str) -> bool:
        async with self._lock:
            ok = bool(given) and await asyncio.to_thread(password.verify, self.state_dir,
                                                         given)
            if not ok:
                await asyncio.sleep(WRONG_DELAY)
            return ok


def form_page(lang: str, message: str | None = None) -> str:
    """The login form, in the language in use; ``message`` says why it is shown again."""
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return (
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>immich-backupd</title>"
        '<link rel="stylesheet" href="/static/dashboard.css"></head><body><main>'
        f'<section class="card" id="login-card"><h1>immich-backupd</h1>{note}'
        '<form method="post" action="/login" id="login">'
        f'<label for="password">{html.escape(_("Password"))}</label> '
        '<input type="password" id="password" name="password" autocomplete="current-password"'
        ' required autofocus> '
        f'<button type="submit">{html.escape(_("Log in"))}</button></form></section>'
        "</main></body></html>")
