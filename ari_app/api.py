"""The HTTP API for agent desktops, supervisors and the CLI (aiohttp): agent states, call
control, dispositions, preview dialing, the wallboard and Prometheus metrics.

Every ``/api/*`` route and ``/metrics`` needs a token, as ``Authorization: Bearer <token>``
(or, for GET requests such as event streams, which a browser's EventSource cannot send
headers with, ``?token=``). ``SWITCHBOARD_API_TOKEN`` is the operator's token (the CLI's);
other tokens are credentials made with ``switchboard api-users`` and ``agents add``, each
with a role: operator, supervisor or agent (``callcenter/security/roles.py``,
docs/api.md). A missing or unknown token is 401; a known one acting outside its role is
403. The pages ``/agent`` and ``/wallboard`` are public and pass their ``?token=`` on.
Errors are JSON ``{"error": "..."}`` with a 4xx or 5xx status.

Event streams are authorised when they open and again at least every ``RECHECK_SECONDS``
(with the same authenticator and its short cache): a stream whose token was revoked, or
whose credential lost the permission, ends.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from ari_app.acd import AcdRuntime, CommandRefused
from ari_app.console_view import console_view
from ari_app.dialer import Dialer
from ari_app.live_figures import LiveFigures
from ari_app.prometheus import CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE
from ari_app.prometheus import Counters, build_registry, render
from ari_app.records_api import ReadApi, register
from ari_app.wrap_up import DatabaseUnavailable, WrapUpDesk
from callcenter.acd.agents import Agent, AgentStateError
from callcenter.calls.dispositions import DispositionError
from callcenter.security.roles import Action, Principal, must_own_call, refusal
from callcenter.security.tokens import Authenticator, LookupFailed

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Did this agent talk on this call (per the record)? For an agent naming a call to code.
HandledCall = Callable[[str, str], Awaitable[bool]]
# An agent's own figures today (calls, AHT, occupancy), for their desk.
AgentToday = Callable[[str], Awaitable[dict[str, Any]]]

# What an agent may do with their current call (POST /api/agents/{name}/call/{action}).
# Joining a call ("supervise") is the ACD's too, but only through /api/supervisors/.../join.
CALL_ACTIONS = (
    "hold",
    "unhold",
    "transfer",
    "complete",
    "cancel",
    "pause_recording",
    "resume_recording",
)
# An open event stream's token and permission are checked again at least this often (the
# agent stream's keep-alive comes with each check).
RECHECK_SECONDS = 15.0


@dataclass(frozen=True)
class PhoneServer:
    """Where browser phones connect: Asterisk's secure websocket ("" when off), and the
    host part of the agents' SIP URIs."""

    wss_url: str = ""
    sip_host: str = "127.0.0.1"


STATIC = Path(__file__).parent / "static"  # scripts, styles, the SIP library: public files
PAGES = Path(__file__).parent / "pages"  # the pages, served only with their policy
PRINCIPAL = web.RequestKey("principal", Principal)  # who the request's token is


def page_policy(wss_url: str) -> str:
    """The desk's Content-Security-Policy: its own scripts and styles only (no inline code,
    no CDN), requests to this app and to Asterisk's secure websocket for the phone."""
    connect = "'self'"
    if wss_url:
        parts = urlsplit(wss_url)
        connect += f" wss://{parts.netloc}"
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src 'self' blob: mediastream:",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _agent(agent: Agent, call: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": agent.name,
        "state": agent.state.value,
        "pause_reason": agent.pause_reason,
        "registered": agent.registered,
        "call_id": agent.call_id,
        "call": call,
    }


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's JSON object (empty without a body), or the 400 answer to send."""
    if not request.body_exists:
        return {}
    raw = await request.read()  # kept by the request: the handler may read it again
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        return _error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "the body is a JSON object")
    return body


def _token(request: web.Request) -> str:
    """The token a request carries: ``Authorization: Bearer``, or ``?token=`` on a GET (an
    EventSource cannot send headers)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method in ("GET", "HEAD"):
        return request.query.get("token", "")
    return ""


def _protected(path: str) -> bool:
    return path == "/metrics" or path == "/api" or path.startswith("/api/")


def build_api(
    acd: AcdRuntime,
    authenticator: Authenticator,
    desk: WrapUpDesk | None = None,
    dialer: Dialer | None = None,
    figures: LiveFigures | None = None,
    handled_call: HandledCall | None = None,
    *,
    counters: Counters | None = None,
    recheck_seconds: float = RECHECK_SECONDS,
    phones: PhoneServer | None = None,
    today: AgentToday | None = None,
    records: ReadApi | None = None,
) -> web.Application:
    """The API's routes behind authentication. ``handled_call`` tells whether an agent
    talked on a call (for agents who name the call they code); without it they cannot.
    Event streams check their token again every ``recheck_seconds``."""
    actions: dict[Handler, Action] = {}

    def guarded(action: Action, handler: Handler) -> Handler:
        actions[handler] = action
        return handler

    async def owns_call(principal: Principal, request: web.Request) -> str | None:
        """Why an agent may not code the call their request names (None: they may)."""
        body = await _body(request)
        call = body.get("call") if isinstance(body, dict) else None
        if not isinstance(call, str) or not call:
            return None  # their latest call, or a malformed request the handler refuses
        try:
            uuid.UUID(call)
        except ValueError:
            return None  # not a call id: the handler says so
        agent = principal.own_agent
        if agent is None:  # not an agent credential (never asked of one)
            return f"the credential {principal.name!r} acts as no agent"
        state = acd.agents.get(agent)
        if call in (acd.wrapping.get(agent), state.call_id if state else None):
            return None
        if handled_call is not None and await handled_call(agent, call):
            return None
        return f"call {call} is not one agent {agent!r} handled"

    async def still_allowed(request: web.Request) -> bool:
        """Does an open stream's token still authenticate and permit it? (Through the
        authenticator, so its short cache spares the store most of these checks.)"""
        action = actions.get(request.match_info.handler)
        try:
            principal = await authenticator.identify(_token(request))
        except LookupFailed as exc:  # as for a new request: nobody the store cannot vouch for
            log.warning("api.credentials_unavailable", error=str(exc))
            return False
        why = "the token is no longer valid" if principal is None else None
        if principal is not None and action is not None:
            why = refusal(principal, action, request.match_info.get("name"))
        if why is not None:
            log.info("api.stream_closed", path=request.path, why=why)
        return why is None

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        action = actions.get(request.match_info.handler)
        if action is None and not _protected(request.path):
            return await handler(request)  # the public pages
        try:
            principal = await authenticator.identify(_token(request))
        except LookupFailed as exc:
            log.warning("api.credentials_unavailable", error=str(exc))
            return _error(503, "cannot check the API token now (database unavailable)")
        if principal is None:
            return web.json_response(
                {"error": "a valid API token is needed (Authorization: Bearer ...)"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        request[PRINCIPAL] = principal
        if action is not None:
            target = request.match_info.get("name")
            why = refusal(principal, action, target)
            if why is None and must_own_call(principal, action):
                try:
                    why = await owns_call(principal, request)
                except Exception as exc:  # the record cannot be asked: nobody gets through
                    log.warning("api.call_check_failed", error=str(exc)[:200])
                    return _error(503, "cannot check the call now (database unavailable)")
            if why is not None:
                log.info(
                    "api.forbidden", principal=principal.name, action=action.value, target=target
                )
                return _error(403, why)
        return await handler(request)

    async def state(_request: web.Request) -> web.Response:
        return web.json_response(acd.snapshot())

    async def agent_action(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        action = request.match_info["action"]
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            return _error(400, "reason is text")
        try:
            if action == "login":
                agent = acd.login(name, paused_reason=reason)
            elif action == "logout":
                agent = acd.logout(name)
            elif action == "pause":
                agent = acd.pause(name, reason or "pause")
            elif action == "resume":
                agent = acd.resume(name)
            else:
                return _error(404, f"no action {action!r} (login, logout, pause, resume)")
        except KeyError as exc:
            return _error(404, str(exc.args[0]))
        except AgentStateError as exc:
            return _error(409, str(exc))
        return web.json_response(_agent(agent))

    async def call_action(request: web.Request) -> web.Response:
        """hold, unhold, transfer {target: "agent:NAME"|"queue:NAME", attended}, complete,
        cancel, pause_recording, resume_recording: on the agent's current call."""
        name = request.match_info["name"]
        action = request.match_info["action"]
        if action not in CALL_ACTIONS:
            return _error(400, f"no call action {action!r} ({', '.join(CALL_ACTIONS)})")
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        target = body.get("target")
        if action == "transfer" and not isinstance(target, str):
            return _error(400, "a transfer needs a target: agent:NAME or queue:NAME")
        try:
            result = await acd.command(
                name, action, target=target, attended=bool(body.get("attended", False))
            )
        except CommandRefused as exc:
            return _error(exc.status, str(exc))
        return web.json_response(result)

    async def supervise(request: web.Request) -> web.Response:
        """A supervisor joins an agent's current call from their own phone: {"agent": NAME,
        "mode": "listen"|"whisper"|"barge" (the default)}; asked again, the mode changes."""
        supervisor = request.match_info["name"]
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        agent = body.get("agent")
        if not isinstance(agent, str):
            return _error(400, 'name the agent whose call to join: {"agent": NAME}')
        mode = body.get("mode", "barge")
        if not isinstance(mode, str):
            return _error(400, "mode is listen, whisper or barge")
        try:
            result = await acd.command(agent, "supervise", target=supervisor, mode=mode)
        except CommandRefused as exc:
            return _error(exc.status, str(exc))
        return web.json_response(result)

    async def disposition(request: web.Request) -> web.Response:
        """The agent codes a call: {"code": CODE, "call": ID (default: their latest),
        "note": TEXT, "callback_at": ISO time, "callback_mine": true (the callback is offered
        to this agent only)}. A final code ends their wrap-up."""
        name = request.match_info["name"]
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        if desk is None:
            return _error(503, "dispositions are not available")
        code, call, note, when = (body.get(k) for k in ("code", "call", "note", "callback_at"))
        if not isinstance(code, str) or not code:
            return _error(400, 'give the code: {"code": "resolved"}')
        if not all(v is None or isinstance(v, str) for v in (call, note, when)):
            return _error(400, "call, note and callback_at are text")
        callback_at = None
        if when:
            try:
                callback_at = datetime.fromisoformat(when)
            except ValueError:
                return _error(400, f"callback_at is not an ISO time: {when!r}")
            if callback_at.tzinfo is None:
                return _error(400, "callback_at needs a time zone, e.g. 2026-11-23T10:00:00+01:00")
        mine = body.get("callback_mine", False)
        if not isinstance(mine, bool):
            return _error(400, "callback_mine is true or false")
        try:
            result, ended = await desk.code(
                name,
                code=code,
                call_id=call,
                note=note,
                callback_at=callback_at,
                callback_mine=mine,
            )
        except DispositionError as exc:
            return _error(404 if str(exc).startswith("no agent") else 422, str(exc))
        except DatabaseUnavailable as exc:
            return _error(503, str(exc))
        return web.json_response(
            {
                "call": str(result.call_id),
                "code": result.code,
                "set": result.code_set,
                "final": result.final,
                "wrap_up_ended": ended,
                "actions": [{"kind": a.kind, "id": str(a.uid)} for a in result.actions],
            }
        )

    async def codes(request: web.Request) -> web.Response:
        """The codes an agent may set on their latest call: {"call", "set", "codes"}."""
        if desk is None:
            return _error(503, "dispositions are not available")
        try:
            return web.json_response(await desk.choices(request.match_info["name"]))
        except DispositionError as exc:
            return _error(404, str(exc))
        except DatabaseUnavailable as exc:
            return _error(503, str(exc))

    async def one_agent(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            return web.json_response(_agent(acd.agent(name), acd.screen.get(name)))
        except KeyError as exc:
            return _error(404, str(exc.args[0]))

    async def agent_events(request: web.Request) -> web.StreamResponse:
        """Server-sent events for one agent's desktop: state changes and call offers
        (with the screen pop), as they happen."""
        name = request.match_info["name"]
        try:
            agent = acd.agent(name)
        except KeyError as exc:
            return _error(404, str(exc.args[0]))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue = acd.watch(name)
        loop = asyncio.get_running_loop()
        try:
            hello = {"type": "hello", **_agent(agent, acd.screen.get(name))}
            await response.write(f"data: {json.dumps(hello)}\n\n".encode())
            next_check = loop.time() + recheck_seconds
            while True:
                message: dict[str, Any] | None
                try:
                    message = await asyncio.wait_for(
                        queue.get(), max(0.0, next_check - loop.time())
                    )
                except TimeoutError:
                    message = None  # quiet until the check: a keep-alive
                if loop.time() >= next_check:  # however busy the stream is
                    if not await still_allowed(request):
                        break
                    next_check = loop.time() + recheck_seconds
                if message is None:
                    await response.write(b": keep-alive\n\n")
                else:
                    await response.write(f"data: {json.dumps(message)}\n\n".encode())
        except ConnectionResetError:
            pass  # the desktop went away
        finally:
            acd.unwatch(name, queue)
        return response

    async def preview(request: web.Request) -> web.Response:
        """Preview dialing: GET shows the agent's next lead (claimed for them); POST
        .../preview/dial rings the agent's phone, then the lead; .../preview/skip frees it."""
        if dialer is None:
            return _error(503, "outbound dialing is not available")
        name = request.match_info["name"]
        action = request.match_info.get("action", "")
        try:
            if request.method == "GET":
                return web.json_response(await dialer.preview_next(name))
            if action == "dial":
                return web.json_response(await dialer.preview_dial(name))
            if action == "skip":
                return web.json_response(await dialer.preview_skip(name))
        except CommandRefused as exc:
            return _error(exc.status, str(exc))
        return _error(404, f"no preview action {action!r} (dial, skip)")

    registry = build_registry(figures, counters) if figures is not None else None

    async def metrics(_request: web.Request) -> web.Response:
        """Prometheus' scrape (a supervisor's or operator's token, as a bearer token)."""
        if registry is None:
            return _error(503, "metrics are not available")
        return web.Response(
            body=render(registry), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE}
        )

    async def wallboard_now(_request: web.Request) -> web.Response:
        if figures is None:
            return _error(503, "the wallboard is not available")
        return web.json_response(figures.snapshot())

    async def wallboard_events(request: web.Request) -> web.StreamResponse:
        """Server-sent events: the wallboard's figures every second, as they change."""
        if figures is None:
            return _error(503, "the wallboard is not available")
        return await stream(request, figures.snapshot)

    async def agent_today(request: web.Request) -> web.Response:
        """The agent's own figures since midnight: calls, handle time, AHT, occupancy."""
        name = request.match_info["name"]
        if today is None:
            return _error(503, "figures are not available")
        if name not in acd.agents:
            return _error(404, f"no agent {name!r}")
        try:
            return web.json_response(await today(name))
        except Exception as exc:  # the database is away: the desk shows no figures for now
            log.warning("api.today_failed", agent=name, error=str(exc)[:200])
            return _error(503, "today's figures cannot be read now (database unavailable)")

    async def console_now(_request: web.Request) -> web.Response:
        return web.json_response(console_view(acd, figures))

    async def console_events(request: web.Request) -> web.StreamResponse:
        """Server-sent events: the console's queues and agents, as they change."""
        return await stream(request, lambda: console_view(acd, figures))

    async def move_caller(request: web.Request) -> web.Response:
        """A supervisor moves a waiting caller to another queue: {"to": QUEUE}."""
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        target = body.get("to")
        if not isinstance(target, str) or not target:
            return _error(400, 'name the queue to move the caller to: {"to": QUEUE}')
        call_id = request.match_info["call"]
        entry = acd.calls.get(call_id)
        if entry is None or entry.queue != request.match_info["queue"]:
            return _error(404, f"no caller {call_id} waiting in {request.match_info['queue']!r}")
        try:
            result = await acd.move(call_id, target, request[PRINCIPAL].name)
        except CommandRefused as exc:
            return _error(exc.status, str(exc))
        return web.json_response(result)

    async def me(request: web.Request) -> web.Response:
        """Who the token is: {"name", "role", "agent"} (the agent it acts as, if any)."""
        principal = request[PRINCIPAL]
        return web.json_response(
            {"name": principal.name, "role": principal.role.value, "agent": principal.own_agent}
        )

    async def stream(
        request: web.Request, snapshot: Callable[[], dict[str, Any]]
    ) -> web.StreamResponse:
        """Server-sent events: ``snapshot()`` every second when it changed (a keep-alive
        after 15 quiet seconds); the token is checked again as for every stream."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        next_check = loop.time() + recheck_seconds
        last = ""
        quiet = 0
        try:
            while True:
                if loop.time() >= next_check:
                    if not await still_allowed(request):
                        break
                    next_check = loop.time() + recheck_seconds
                now = snapshot()
                now.pop("at", None)
                text = json.dumps(now, sort_keys=True)
                if text != last or quiet >= 15:
                    await response.write(f"data: {text}\n\n".encode())
                    last, quiet = text, 0
                else:
                    quiet += 1
                await asyncio.sleep(min(1.0, max(0.0, next_check - loop.time())))
        except ConnectionResetError:
            pass  # the page went away
        return response

    async def phone(request: web.Request) -> web.Response:
        """The agent's phone: GET the browser phone's account (where to connect, the SIP
        URI and password), POST {"phone": "browser"|"softphone"} to take calls on it."""
        name = request.match_info["name"]
        server = phones or PhoneServer()
        if request.method == "POST":
            body = await _body(request)
            if isinstance(body, web.Response):
                return body
            kind = body.get("phone")
            if kind == "browser" and not server.wss_url:
                return _error(409, "browser phones are off (SWITCHBOARD_PHONE_WSS_PORT)")
            try:
                await acd.set_phone(name, str(kind))
            except CommandRefused as exc:
                return _error(exc.status, str(exc))
        secret = acd.secrets.get(name)
        if secret is None:
            return _error(404, f"no agent {name!r}")
        account = {
            "agent": name,
            "phone": acd.phones.get(name, "softphone"),
            "wss_url": server.wss_url,
            "uri": f"sip:{name}@{server.sip_host}",
            "password": secret,
        }
        return web.json_response(account, headers={"Cache-Control": "no-store"})

    async def console_page(_request: web.Request) -> web.FileResponse:
        page = web.FileResponse(PAGES / "console.html")
        page.headers["Content-Security-Policy"] = page_policy((phones or PhoneServer()).wss_url)
        return page

    async def wallboard_page(_request: web.Request) -> web.FileResponse:
        page = web.FileResponse(PAGES / "wallboard.html")
        page.headers["Content-Security-Policy"] = page_policy("")
        return page

    async def agent_page(_request: web.Request) -> web.FileResponse:
        page = web.FileResponse(PAGES / "agent.html")
        page.headers["Content-Security-Policy"] = page_policy((phones or PhoneServer()).wss_url)
        return page

    app = web.Application(middlewares=[auth])
    app.router.add_get("/agent", agent_page)
    app.router.add_get("/wallboard", wallboard_page)
    app.router.add_get("/console", console_page)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/console", guarded(Action.CONSOLE, console_now))
    app.router.add_get("/api/console/events", guarded(Action.CONSOLE, console_events))
    app.router.add_post(
        "/api/queues/{queue}/calls/{call}/move", guarded(Action.CONSOLE, move_caller)
    )
    app.router.add_static("/static", STATIC, show_index=False, follow_symlinks=False)
    app.router.add_get("/metrics", guarded(Action.METRICS, metrics))
    app.router.add_get("/api/wallboard", guarded(Action.WALLBOARD, wallboard_now))
    app.router.add_get("/api/wallboard/events", guarded(Action.WALLBOARD, wallboard_events))
    app.router.add_get("/api/state", guarded(Action.STATE, state))
    app.router.add_get("/api/agents/{name}", guarded(Action.AGENT_READ, one_agent))
    app.router.add_get("/api/agents/{name}/events", guarded(Action.AGENT_READ, agent_events))
    app.router.add_get("/api/agents/{name}/today", guarded(Action.AGENT_READ, agent_today))
    app.router.add_post(
        "/api/agents/{name}/call/{action}", guarded(Action.CALL_CONTROL, call_action)
    )
    app.router.add_post("/api/supervisors/{name}/join", guarded(Action.SUPERVISE, supervise))
    app.router.add_post("/api/agents/{name}/disposition", guarded(Action.DISPOSITION, disposition))
    app.router.add_get("/api/agents/{name}/codes", guarded(Action.DISPOSITION, codes))
    app.router.add_get("/api/agents/{name}/preview", guarded(Action.PREVIEW, preview))
    app.router.add_post("/api/agents/{name}/preview/{action}", guarded(Action.PREVIEW, preview))
    app.router.add_get("/api/agents/{name}/phone", guarded(Action.PHONE, phone))
    app.router.add_post("/api/agents/{name}/phone", guarded(Action.PHONE, phone))
    app.router.add_post("/api/agents/{name}/{action}", guarded(Action.AGENT_STATE, agent_action))
    if records is not None:
        register(app, records, guarded)
    return app


async def start_api(
    acd: AcdRuntime,
    host: str,
    port: int,
    authenticator: Authenticator,
    desk: WrapUpDesk | None = None,
    dialer: Dialer | None = None,
    figures: LiveFigures | None = None,
    handled_call: HandledCall | None = None,
    counters: Counters | None = None,
    phones: PhoneServer | None = None,
    today: AgentToday | None = None,
    records: ReadApi | None = None,
) -> web.AppRunner:
    # Open event streams must not hold a shutdown up: they are cut after a second.
    runner = web.AppRunner(
        build_api(
            acd,
            authenticator,
            desk,
            dialer,
            figures,
            handled_call,
            counters=counters,
            phones=phones,
            today=today,
            records=records,
        ),
        access_log=None,
        shutdown_timeout=1.0,
    )
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
