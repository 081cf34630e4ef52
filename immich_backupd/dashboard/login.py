"""Logging in with the password (a dashboard listening beyond loopback).

The form (``form_page``) posts the password to ``/login``; ``Guesses`` checks it against
the hashed one in the state folder (``state.password``). Each client address tries one
password at a time and a wrong one costs it ``WRONG_DELAY`` seconds, so one address
guesses at about one try a second however many connections it opens, while a user at
another address is not kept waiting behind it; at most ``CHECKS_AT_ONCE`` scrypt checks
run at once (each takes a core for a moment), whatever the number of addresses. The
one-time links of ``immich-backupd dashboard`` still work too.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable
from pathlib import Path

from ..i18n import _
from ..state import password

WRONG_DELAY = 1.0  # seconds a wrong password costs its address (while holding its turn)
CHECKS_AT_ONCE = 2  # scrypt checks running at the same time, over every address

Sleep = Callable[[float], Awaitable[object]]


class Guesses:
    """Password checks: one at a time per client address, ``CHECKS_AT_ONCE`` in all.

    ``sleep`` is what waits out a wrong password's delay (``asyncio.sleep``; tests pass
    their own). An address's turn is forgotten once nobody from it waits, so the table
    holds only the addresses that are trying now.
    """

    def __init__(self, state_dir: Path, *, sleep: Sleep = asyncio.sleep) -> None:
        self.state_dir = state_dir
        self._sleep = sleep
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}  # address -> (turn, users)
        self._checking = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def check(self, given: str, client: str | None) -> bool:
        """True if ``given`` is the password; a wrong one returns after the delay.
        ``client`` is the asking address (None when unknown: those share one turn)."""
        key = client or ""
        turn, users = self._turns.get(key, (None, 0))
        if turn is None:
            turn = asyncio.Lock()
        self._turns[key] = (turn, users + 1)
        try:
            async with turn:
                async with self._checking:
                    ok = bool(given) and await asyncio.to_thread(
                        password.verify, self.state_dir, given)
                if not ok:
                    await self._sleep(WRONG_DELAY)
                return ok
        finally:
            lock, left = self._turns[key]
            if left <= 1:
                del self._turns[key]
            else:
                self._turns[key] = (lock, left - 1)

    def trying(self) -> int:
        """How many addresses are trying a password now."""
        return len(self._turns)


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
