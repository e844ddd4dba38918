"""The IVR on a real call: the walker's port, trace and services, backed by ARI and our
database. Thin on purpose: what the caller goes through is decided in callcenter.ivr."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ari_app.session import CallSession, utcnow
from ari_app.voicemail import MessageLimits, take_message

if TYPE_CHECKING:
    from ari_app.acd import AcdRuntime
    from ari_app.registry import CallRegistry
from callcenter.ivr.library import FlowSet
from callcenter.ivr.schema import LookupNode
from callcenter.ivr.walker import IvrState, LookupResult, QueueRequest, Walker
from db.call_store import CallStore
from db.record_ops import RecordOp
from db.writer import RecordWriter

log = structlog.get_logger(__name__)


class SessionPort:
    """The walker's view of a CallSession."""

    def __init__(self, call: CallSession) -> None:
        self.call = call
        self.caller = call.record.caller_number
        self.dialed = call.record.dialed_number

    async def play(self, media: list[str], *, interruptible: bool, language: str) -> str | None:
        return await self.call.play(*media, interruptible=interruptible, language=language)

    async def wait_key(self, timeout: float) -> str | None:
        return await self.call.collect_digit(timeout)

    def discard_keys(self) -> list[str]:
        return self.call.discard_digits()

    async def set_language(self, language: str) -> None:
        await self.call.set_language(language)

    async def hang_up(self) -> None:
        await self.call.hangup()


class RecordTrace:
    """Walker steps become call events; its state becomes the IVR columns of the call row."""

    def __init__(self, call: CallSession) -> None:
        self.call = call

    def event(self, event_type: str, /, **data: Any) -> None:
        record = self.call.record
        self.call.sink.log_event(record.event(utcnow(), event_type, **data))

    def progress(self, state: IvrState) -> None:
        record = self.call.record
        exit_ = state.exit
        if exit_ == "caller_hangup" and record.hangup_party not in (None, "caller"):
            exit_ = "interrupted"
        if record.ivr_flow is None:
            record.ivr_flow = state.flow
            record.ivr_version = state.version
        record.ivr_path = list(state.path)
        record.ivr_started_at = state.started_at
        record.ivr_ended_at = state.ended_at
        record.ivr_exit = exit_
        record.ivr_node = state.node
        record.language = state.language
        self.call.sink.save(record, self.call.channel.name)


def _as_text(value: Any) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif not isinstance(value, list):
            flat[name] = _as_text(value)
    return flat


class IvrBackend:
    """What flows may use outside the call: our database, HTTP services, the ACD."""

    def __init__(self, engine: AsyncEngine, store: CallStore, writer: RecordWriter) -> None:
        self.engine = engine
        self.store = store
        self.writer = writer
        self._http: aiohttp.ClientSession | None = None
        self.acd: AcdRuntime | None = None
        self.registry: CallRegistry | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def lookup_sql(self, node: LookupNode, params: Mapping[str, str]) -> LookupResult:
        assert node.sql is not None
        timeout_ms = max(1, int(node.timeout * 1000))
        try:
            async with self.engine.connect() as connection, connection.begin():
                # A flow may only read, and never for longer than its timeout.
                await connection.execute(text("SET TRANSACTION READ ONLY"))
                await connection.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))
                result = await connection.execute(text(node.sql), dict(params))
                row = result.mappings().first()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
            if "statement timeout" in reason:
                reason = f"timed out after {node.timeout:g} s ({reason})"
            return LookupResult("error", detail=reason)
        if row is None:
            return LookupResult("not_found")
        return LookupResult("found", {str(k): _as_text(v) for k, v in row.items()})

    async def lookup_http(self, node: LookupNode, url: str) -> LookupResult:
        assert node.http is not None
        if self._http is None:
            self._http = aiohttp.ClientSession()
        try:
            async with self._http.request(
                node.http.method,
                url,
                headers=node.http.headers,
                timeout=aiohttp.ClientTimeout(total=node.timeout),
            ) as response:
                if response.status == 404:
                    return LookupResult("not_found", detail="HTTP 404")
                if response.status >= 300:
                    return LookupResult("error", detail=f"HTTP {response.status}")
                body = await response.text()
        except TimeoutError:
            return LookupResult("error", detail=f"timed out after {node.timeout:g} s")
        except aiohttp.ClientError as exc:
            return LookupResult("error", detail=f"{type(exc).__name__}: {exc}"[:200])
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError:
            return LookupResult("error", detail="the answer is not JSON")
        if not data:
            return LookupResult("not_found", detail="empty answer")
        if not isinstance(data, Mapping):
            return LookupResult("error", detail="the answer is not a JSON object")
        return LookupResult("found", _flatten(data))

    async def enqueue(self, call: CallSession, request: QueueRequest) -> bool:
        """The caller waits in the ACD queue until the end of their talk with an agent
        (True), or the queue refuses them at once (False: the flow's on_unavailable)."""
        if self.acd is None or self.registry is None:
            log.info("queue.unavailable", call_id=str(call.record.id), queue=request.queue)
            return False
        from ari_app.queue_call import QueueCall

        call.collected = dict(request.collected)
        visit = QueueCall(self.acd, self.registry, call)
        return await visit.serve(request.queue, request.priority, dict(request.skills))

    def save_callback(self, call: CallSession, number: str, queue: str | None) -> None:
        row = {
            "id": uuid.uuid4(),
            "call_id": call.record.id,
            "number": number,
            "queue": queue,
            "source": "ivr",
            "requested_at": utcnow(),
            "status": "pending",
        }
        self.writer.submit(RecordOp("callback", row))


class CallServices:
    """IvrBackend bound to one call, as the walker wants it."""

    def __init__(self, backend: IvrBackend, call: CallSession) -> None:
        self.backend = backend
        self.call = call

    async def lookup(
        self, node: LookupNode, params: Mapping[str, str], url: str | None
    ) -> LookupResult:
        if url is not None:
            return await self.backend.lookup_http(node, url)
        return await self.backend.lookup_sql(node, params)

    async def enqueue(self, request: QueueRequest) -> bool:
        return await self.backend.enqueue(self.call, request)

    async def request_callback(self, number: str, queue: str | None) -> None:
        self.backend.save_callback(self.call, number, queue)

    async def take_message(
        self, queue: str, max_seconds: float, silence_seconds: float, min_seconds: float
    ) -> float | None:
        limits = MessageLimits(max_seconds, silence_seconds, min_seconds)
        return await take_message(self.call, queue, limits)


NO_FLOW_PROMPTS = ("sound:ss-noservice",)


async def run_ivr(
    call: CallSession,
    *,
    flows: FlowSet,
    backend: IvrBackend,
    business_now: Callable[[], datetime],
) -> None:
    """The flow for an inbound call: the one its number selects, as it was when it came in."""
    await call.answer()
    source = flows.for_number(call.record.dialed_number)
    if source is None:
        log.error("ivr.no_flow", call_id=str(call.record.id), dialed=call.record.dialed_number)
        call.record.outcome = "no_flow"
        await call.play(*NO_FLOW_PROMPTS)
        await call.hangup()
        return
    walker = Walker(
        SessionPort(call),
        CallServices(backend, call),
        RecordTrace(call),
        flows.flows,
        now=utcnow,
        business_now=business_now,
    )
    await walker.run(source)


async def watch_flows(
    reload: Callable[[], Any], interval: float, wake: asyncio.Event, stop: asyncio.Event
) -> None:
    """Reload flows when their files change (polled) or when asked (SIGHUP)."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(reload)
        except Exception:
            log.exception("ivr.reload_failed")
        waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
        _done, pending = await asyncio.wait(
            waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        wake.clear()
