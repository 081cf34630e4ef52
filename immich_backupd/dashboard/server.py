"""The dashboard's web server: pages, the JSON API under ``/api/v1/``, live events.

Started by the daemon (``Dashboard(controls).start()``) on its own event loop; it reads
what ``status --json`` shows (``report.status``) and acts through ``Controls``. Every
request passes ``_guard`` first (Host, Origin, login, CSRF: see ``guard``), and every
answer carries the security headers, a Content-Security-Policy with no outside origin
among them. The API answers one JSON document per request, as ``openapi.json`` (served
at ``/api/v1/openapi.json``) describes; ``/api/v1/events`` streams the page's view as
server-sent events when something changes (the daemon's live file, an action), and at
least every ``REFRESH`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
import socket
import ssl
import string
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from .. import i18n
from ..config import Settings
from ..config.edit import Edit, apply_edit
from ..errors import ConfigError
from ..i18n import _
from ..report.live import LIVE_NAME
from ..report.status import failed_items, status_data
from ..state import StateReader, password
from . import folders, guard, login, toggles, tokens
from .logtail import RecentWarnings
from .view import page_texts, status_view

log = logging.getLogger("immich_backupd.dashboard")

HERE = Path(__file__).parent
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
REFRESH = 10.0  # seconds between events when nothing is seen to change
WATCH = 0.5  # seconds between looks at the live file
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Controls(Protocol):
    """What the dashboard needs of the daemon."""

    @property
    def settings(self) -> Settings: ...

    @property
    def paused(self) -> bool: ...

    @property
    def config_path(self) -> Path: ...

    def request_reload(self) -> None: ...

    def backup_now(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...


def accept_languages(header: str | None) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first."""
    ranked = []
    for i, part in enumerate((header or "").split(",")):
        lang, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if lang and lang != "*" and q > 0:
            ranked.append((-q, i, lang))
    return [lang for _, _, lang in sorted(ranked)]


class Changes:
    """Wakes every event stream at once when something changed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def poke(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()


class Dashboard:
    def __init__(self, controls: Controls) -> None:
        self.controls = controls
        self.sessions = guard.Sessions()
        self.changes = Changes()
        self.url: str | None = None
        self._hosts: frozenset[str] = frozenset()
        self._scheme = "http"
        self._guesses = login.Guesses(controls.settings.state_dir)
        self._warnings: RecentWarnings | None = None
        self._api_token = ""
        self._token_sig: tuple[int, int] | None = None  # the api-token file's version
        self._runner: web.AppRunner | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._closing = False
        self._editing = asyncio.Lock()  # one config edit at a time: none is lost
        self._applied: Settings | None = None  # what the last edit wrote
        self._static = {name: (HERE / "static" / name).read_bytes() for name in STATIC}
        self._template = string.Template((HERE / "templates" / "index.html").read_text())
        self.openapi = (HERE / "openapi.json").read_bytes()

    @property
    def state_dir(self) -> Path:
        return self.controls.settings.state_dir

    # -- life ----------------------------------------------------------------------
    async def start(self) -> str:
        """Listen on the configured address; return the URL (``http://host:port``)."""
        cfg = self.controls.settings.dashboard
        self._api_token = await asyncio.to_thread(tokens.ensure_api_token, self.state_dir)
        self._token_sig = await asyncio.to_thread(tokens.token_signature, self.state_dir)
        app = web.Application(middlewares=[self._guard])
        app.on_response_prepare.append(_security_headers)
        app.router.add_get("/", self.index)
        app.router.add_get("/login", self.login)
        app.router.add_post("/login", self.login_password)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/api/v1/openapi.json", self.api_openapi)
        app.router.add_get("/api/v1/status", self.api_status)
        app.router.add_get("/api/v1/failed", self.api_failed)
        app.router.add_get("/api/v1/events", self.api_events)
        app.router.add_post("/api/v1/retry", self.api_retry)
        app.router.add_post("/api/v1/backup", self.api_backup)
        app.router.add_post("/api/v1/pause", self.api_pause)
        app.router.add_post("/api/v1/resume", self.api_resume)
        app.router.add_get("/api/v1/folders", self.api_folders)
        app.router.add_get("/api/v1/folders/browse", self.api_browse)
        app.router.add_post("/api/v1/folders", self.api_edit_folders)
        app.router.add_get("/api/v1/settings", self.api_settings)
        app.router.add_post("/api/v1/settings", self.api_edit_settings)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        context = None
        if cfg.tls_cert is not None and cfg.tls_key is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
            self._scheme = "https"
        site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        names = () if cfg.loopback else (socket.gethostname(), socket.getfqdn(),
                                         socket.gethostname() + ".local")
        self._hosts = guard.allowed_hosts(cfg.host, port, names)
        shown = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
        if cfg.host in ("0.0.0.0", "::"):  # everywhere: the link names this machine
            shown = socket.gethostname()
        self.url = f"{self._scheme}://{shown}:{port}"
        await asyncio.to_thread(tokens.write_address, self.state_dir, self.url, os.getpid())
        self._watcher = asyncio.create_task(self._watch_live())
        self._warnings = RecentWarnings(asyncio.get_running_loop(), self.changes.poke)
        logging.getLogger("immich_backupd").addHandler(self._warnings)
        log.info("dashboard at %s (`immich-backupd dashboard` prints a login link)", self.url)
        return self.url

    async def close(self) -> None:
        self._closing = True
        if self._warnings is not None:
            logging.getLogger("immich_backupd").removeHandler(self._warnings)
        self.changes.poke()
        if self._watcher is not None:
            self._watcher.cancel()
        tokens.remove_address(self.state_dir)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _watch_live(self) -> None:
        seen: int | None = None
        while True:
            try:
                mtime = (self.state_dir / LIVE_NAME).stat().st_mtime_ns
            except OSError:
                mtime = None
            if mtime != seen:
                seen = mtime
                self.changes.poke()
            await asyncio.sleep(WATCH)

    # -- the guard -----------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        api = request.path.startswith("/api/")
        translation = i18n.for_languages(accept_languages(
            request.headers.get("Accept-Language")))
        with i18n.scoped(translation):
            if not guard.host_allowed(request.headers.get("Host"), self._hosts):
                return _refuse(421, _("this address is not the dashboard's (wrong Host)"),
                               api)
            if not guard.origin_allowed(request.method, request.headers.get("Origin"),
                                        request.headers.get("Sec-Fetch-Site"), self._hosts,
                                        self._scheme):
                return _refuse(403, _("refused: the request came from another site"), api)
            if request.path != "/login" and not request.path.startswith("/static/"):
                await self._follow_rotation()
                refused = self._authenticate(request, api)
                if refused is not None and refused.status == 401 and not api and \
                        await asyncio.to_thread(password.has_password, self.state_dir):
                    return web.HTTPSeeOther("/login")  # the password form
                if refused is not None:
                    return refused
            return await handler(request)

    async def _follow_rotation(self) -> None:
        """When ``dashboard --rotate`` replaced the API token file: take the new token
        and end every session, before this request is judged (the old ones are refused
        at once)."""
        sig = await asyncio.to_thread(tokens.token_signature, self.state_dir)
        if sig == self._token_sig:
            return
        token = await asyncio.to_thread(tokens.ensure_api_token, self.state_dir)
        self._api_token, self._token_sig = token, await asyncio.to_thread(
            tokens.token_signature, self.state_dir)
        self.sessions.end_all()
        self.changes.poke()  # open event streams look again, and end
        log.info("dashboard: the API token was rotated; every session ended")

    def _authenticate(self, request: web.Request, api: bool) -> web.Response | None:
        token = guard.bearer(request.headers.get("Authorization"))
        if token is not None:
            if guard.token_equal(token, self._api_token):
                return None
            return _refuse(401, _("wrong API token (see `immich-backupd dashboard "
                                     "--api-token`)"), api)
        session = self.sessions.get(request.cookies.get(guard.SESSION_COOKIE), time.time())
        if session is None:
            return _refuse(401, _("not logged in: open the link that `immich-backupd "
                                  "dashboard` prints"), api)
        request["session"] = session
        if request.method not in guard.SAFE_METHODS and not guard.token_equal(
                request.headers.get(guard.CSRF_HEADER), session.csrf):
            return _refuse(403, _("refused: missing or wrong CSRF token"), api)
        return None

    # -- pages ---------------------------------------------------------------------
    async def login(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "")
        if not token and await asyncio.to_thread(password.has_password, self.state_dir):
            return web.Response(content_type="text/html",
                                text=login.form_page(i18n.language()))
        ok = bool(token) and await asyncio.to_thread(tokens.consume_login_token,
                                                     self.state_dir, token)
        if not ok:
            return _refuse(401, _("this login link was used already or has expired: run "
                                  "`immich-backupd dashboard` for a new one"), False)
        return self._new_session()

    async def login_password(self, request: web.Request) -> web.StreamResponse:
        """The login form's answer: a session for the right password (see ``login``)."""
        form = await request.post()
        given = form.get("password")
        if isinstance(given, str) and await self._guesses.check(given, request.remote):
            log.info("dashboard: logged in with the password from %s", request.remote)
            return self._new_session()
        log.warning("dashboard: a wrong password from %s", request.remote)
        return web.Response(status=401, content_type="text/html", text=login.form_page(
            i18n.language(), _("wrong password")))

    def _new_session(self) -> web.StreamResponse:
        sid, _session = self.sessions.create(time.time())
        response = web.HTTPSeeOther("/")
        response.set_cookie(guard.SESSION_COOKIE, sid, httponly=True, samesite="Strict",
                            path="/", max_age=int(guard.SESSION_TTL),
                            secure=self._scheme == "https")
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.end(request.cookies.get(guard.SESSION_COOKIE))
        self.changes.poke()  # its open event streams end
        response = web.HTTPSeeOther("/")
        response.del_cookie(guard.SESSION_COOKIE, path="/")
        return response

    async def index(self, request: web.Request) -> web.StreamResponse:
        view = await asyncio.to_thread(self._view)
        texts = page_texts()
        session = request.get("session")
        body = self._template.substitute(
            lang=html.escape(i18n.language()),
            csrf=html.escape(session.csrf if session else ""),
            view_json=_script_json(view),
            **{k: html.escape(v) for k, v in texts.items()})
        return web.Response(text=body, content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=self._static[name], content_type=STATIC[name])

    # -- the API ---------------------------------------------------------------------
    def _snapshot(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        settings = self.controls.settings
        return status_data(settings), failed_items(settings)

    def _view(self) -> dict[str, Any]:
        data, failed = self._snapshot()
        warnings = self._warnings.items() if self._warnings is not None else []
        return status_view(data, failed, self.controls.paused, warnings)

    async def api_openapi(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self.openapi, content_type="application/json")

    async def api_status(self, request: web.Request) -> web.StreamResponse:
        data = await asyncio.to_thread(status_data, self.controls.settings)
        return _json({**data, "paused": self.controls.paused})

    async def api_failed(self, request: web.Request) -> web.StreamResponse:
        items = await asyncio.to_thread(failed_items, self.controls.settings)
        return _json({"count": len(items), "items": items})

    async def api_retry(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        paths: list[Path] | None
        if isinstance(body, dict) and body.get("all") is True and "paths" not in body:
            paths = None
        elif (isinstance(body, dict) and "all" not in body
              and isinstance(body.get("paths"), list) and body["paths"]
              and all(isinstance(p, str) and os.path.isabs(p) for p in body["paths"])):
            paths = [Path(os.path.normpath(p)) for p in body["paths"]]
        else:
            return _refuse(400, _('expected a JSON object: "all": true, or "paths" with a list '
                                    "of absolute paths"), True)
        changed = await asyncio.to_thread(_retry, self.state_dir, paths)
        if changed:
            self.controls.backup_now()
        self.changes.poke()
        return _json({"count": len(changed), "retried": [str(p) for p in changed]})

    async def api_backup(self, request: web.Request) -> web.StreamResponse:
        self.controls.backup_now()
        self.changes.poke()
        return _json({"started": True, "paused": self.controls.paused})

    async def api_pause(self, request: web.Request) -> web.StreamResponse:
        self.controls.pause()
        self.changes.poke()
        return _json({"paused": self.controls.paused})

    async def api_resume(self, request: web.Request) -> web.StreamResponse:
        self.controls.resume()
        self.changes.poke()
        return _json({"paused": self.controls.paused})

    async def api_folders(self, request: web.Request) -> web.StreamResponse:
        return _json(await asyncio.to_thread(folders.listed, self.controls.config_path))

    async def api_browse(self, request: web.Request) -> web.StreamResponse:
        include = self.controls.settings.albums.include
        text = request.query.get("path") or str(include[0] if include else Path.home())
        if not os.path.isabs(text):
            return _refuse(400, _("path: expected an absolute folder, got {path}").format(
                path=text), True)
        path = Path(os.path.normpath(text))
        try:
            return _json(await asyncio.to_thread(folders.browse, path, self.state_dir))
        except OSError as exc:
            return _refuse(404, _("path: the daemon cannot read the folder {path} ({reason})")
                           .format(path=path, reason=exc.strerror or exc), True)

    async def api_edit_folders(self, request: web.Request) -> web.StreamResponse:
        edit = folders.parse_folder_edit(await _body(request))
        if edit is None:
            return _refuse(400, _('expected a JSON object: "list": "include" or "exclude", '
                                  '"op": "add" or "remove", "entry": a folder or pattern'), True)
        refused = await self._apply(edit)
        if refused is not None:
            return refused
        log.info("dashboard: %s %s albums.%s; reloading", edit.op.value, edit.entry,
                 edit.which.value)
        return _json(await asyncio.to_thread(folders.listed, self.controls.config_path))

    async def api_settings(self, request: web.Request) -> web.StreamResponse:
        return _json({"toggles": toggles.toggles(self.controls.settings)})

    async def api_edit_settings(self, request: web.Request) -> web.StreamResponse:
        edit = toggles.parse_toggle(await _body(request))
        if edit is None:
            return _refuse(400, _('expected a JSON object: "key": one of {keys}, "value": true '
                                  'or false').format(keys=", ".join(toggles.KEYS)), True)
        refused = await self._apply(edit)
        if refused is not None:
            return refused
        log.info("dashboard: %s set to %s; reloading", ".".join(edit.path), edit.value)
        return _json({"toggles": toggles.toggles(self._applied)})

    async def _apply(self, edit: Edit) -> web.Response | None:
        """Write ``edit`` to the config file and have the daemon reload it; a refusal
        (the loader's problems, or why the file cannot be written) if not done."""
        async with self._editing:
            try:
                self._applied = await asyncio.to_thread(apply_edit, self.controls.config_path,
                                                        edit)
            except ConfigError as exc:
                return _refuse(422, " ".join(exc.translated()), True)
            except OSError as exc:
                return _refuse(500, _("cannot write the config file: {reason}").format(
                    reason=exc.strerror or exc), True)
        self.controls.request_reload()
        self.changes.poke()
        return None

    async def api_events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store"})
        await response.prepare(request)
        last = None
        try:
            while not self._closing:
                await self._follow_rotation()
                if self._authenticate(request, True) is not None:
                    break  # logged out, or the tokens were rotated: the stream ends
                text = json.dumps(await asyncio.to_thread(self._view))
                if text != last:
                    await response.write(f"event: status\ndata: {text}\n\n".encode())
                    last = text
                else:
                    await response.write(b": still here\n\n")
                await self.changes.wait(REFRESH)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _retry(state_dir: Path, paths: list[Path] | None) -> list[Path]:
    reader = StateReader(state_dir)
    try:
        return reader.retry(paths)
    finally:
        reader.close()


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in guard.SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def _refuse(status: int, message: str, api: bool) -> web.Response:
    """A refusal: a JSON error document for the API, a short page for a browser."""
    if api:
        return _json({"error": {"status": status, "message": message}}, status)
    return web.Response(status=status, content_type="text/html", text=(
        "<!doctype html><meta charset=utf-8><title>immich-backupd</title>"
        f"<p>{html.escape(message)}</p>"))


def _script_json(data: Any) -> str:
    """JSON for a ``<script type="application/json">`` block (no ``</script>`` inside)."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")
