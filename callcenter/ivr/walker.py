"""The flow walker: runs a call through a flow, node by node.

It talks to the call only through ``CallPort`` and to the outside only through
``IvrServices``, and tells ``IvrTrace`` every step it takes, so unit tests drive it with
fakes and virtual time while the ARI adapter gives it a real channel.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

import structlog

from callcenter.calls.errors import CallEnded
from callcenter.ivr import hours, prompts
from callcenter.ivr.schema import (
    CallbackNode,
    CollectNode,
    ConditionNode,
    GotoNode,
    HangupNode,
    LanguageNode,
    LookupNode,
    MenuNode,
    PlayNode,
    QueueNode,
    Test,
    VoicemailNode,
)
from callcenter.ivr.source import FlowSource

log = structlog.get_logger(__name__)

# interrupted: the call ended from our side while in the IVR (shutdown, Asterisk lost).
Exit = Literal["hangup", "queue", "caller_hangup", "interrupted", "error"]
MASK = "*"


class CallPort(Protocol):
    """The call, as the walker sees it."""

    caller: str | None
    dialed: str | None

    async def play(self, media: list[str], *, interruptible: bool, language: str) -> str | None:
        """Play to the end; with ``interruptible``, a key stops it and is returned."""

    async def wait_key(self, timeout: float) -> str | None:
        """A key already pressed, or pressed within ``timeout`` seconds."""

    def discard_keys(self) -> list[str]:
        """Forget keys pressed ahead (after an error, typed-ahead garbage is not reused)."""

    async def set_language(self, language: str) -> None: ...

    async def hang_up(self) -> None:
        """End the call from our side; raises CallEnded."""


@dataclass(frozen=True)
class LookupResult:
    status: Literal["found", "not_found", "error"]
    values: Mapping[str, str] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class QueueRequest:
    queue: str
    priority: int
    skills: Mapping[str, int]
    flow: str
    node: str
    # What the caller keyed and what lookups found (the flow's variables but the caller's
    # and the dialed number): for the agent's screen, never for the record.
    collected: Mapping[str, str] = field(default_factory=dict)


class IvrServices(Protocol):
    async def lookup(
        self, node: LookupNode, params: Mapping[str, str], url: str | None
    ) -> LookupResult: ...

    async def enqueue(self, request: QueueRequest) -> bool:
        """Hand the caller to the queue; False when the queue cannot take them now."""

    async def request_callback(self, number: str, queue: str | None) -> None: ...

    async def take_message(
        self, queue: str, max_seconds: float, silence_seconds: float, min_seconds: float
    ) -> float | None:
        """Record the caller's message for ``queue`` (a beep first); its length in seconds,
        or None when nothing was kept. Raises CallEnded after keeping the message of a
        caller who hung up to end it."""


@dataclass
class IvrState:
    """Where the caller is and has been; the record of their time in the IVR."""

    flow: str
    version: str
    language: str
    started_at: datetime
    variables: dict[str, str] = field(default_factory=dict)
    sensitive: set[str] = field(default_factory=set)  # variables never shown to anyone
    path: list[str] = field(default_factory=list)
    node: str | None = None
    ended_at: datetime | None = None
    exit: Exit | None = None
    queue: QueueRequest | None = None


class IvrTrace(Protocol):
    def event(self, event_type: str, /, **data: Any) -> None:
        """One step: stored as a call event (IVR_NODE, IVR_KEY, ...)."""

    def progress(self, state: IvrState) -> None:
        """The state changed in a way the call row shows (entered, left, exit)."""


class FlowError(Exception):
    """The flow cannot go on (a node or flow that is not there, a runaway loop)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class Walker:
    def __init__(
        self,
        port: CallPort,
        services: IvrServices,
        trace: IvrTrace,
        flows: Mapping[str, FlowSource],
        *,
        now: Callable[[], datetime] = _utcnow,
        business_now: Callable[[], datetime] | None = None,
        max_steps: int = 500,
    ) -> None:
        self.port = port
        self.services = services
        self.trace = trace
        self.flows = flows
        self.now = now
        self.business_now = business_now or now
        self.max_steps = max_steps
        self.state: IvrState | None = None
        self._source: FlowSource | None = None
        self._entry_flow = ""
        self._left = False

    # --- the walk ---------------------------------------------------------------------

    async def run(self, source: FlowSource) -> IvrState:
        """Walk the caller through ``source`` until they hang up, are hung up on, or are
        handed to a queue that takes them. Raises CallEnded when the call ends."""
        self._source = source
        self._entry_flow = source.flow.flow
        state = self.state = IvrState(
            flow=source.flow.flow,
            version=source.version,
            language=source.flow.language,
            started_at=self.now(),
            variables={
                "caller": self.port.caller or "",
                "dialed": self.port.dialed or "",
            },
        )
        self.trace.event("IVR_START", flow=state.flow, version=state.version)
        self.trace.progress(state)
        if state.language != "en":
            await self.port.set_language(state.language)
        try:
            await self._walk(source.flow.start)
        except CallEnded:
            if state.exit is None:
                state.exit = "caller_hangup"
            raise
        except Exception as exc:
            state.exit = "error"
            self.trace.event("IVR_ERROR", node=state.node, error=str(exc)[:500])
            log.exception("ivr.error", flow=state.flow, node=state.node)
            await self._play(source.flow.error_prompts, interruptible=False)
            state.ended_at = self.now()
            await self.port.hang_up()
        finally:
            self._leave(state)
        return state

    def _leave(self, state: IvrState) -> None:
        if not self._left:
            self._left = True
            if state.ended_at is None:
                state.ended_at = self.now()
            self.trace.event(
                "IVR_END",
                node=state.node,
                exit=state.exit,
                seconds=round((state.ended_at - state.started_at).total_seconds(), 3),
                path=state.path,
            )
            self.trace.progress(state)

    async def _walk(self, start: str) -> None:
        name: str | None = start
        steps = 0
        while name is not None:
            steps += 1
            if steps > self.max_steps:
                raise FlowError(f"more than {self.max_steps} steps: a loop in the flow?")
            name = await self._visit(name)

    async def _visit(self, name: str) -> str | None:
        assert self._source is not None and self.state is not None
        flow = self._source.flow
        node = flow.nodes.get(name)
        if node is None:
            raise FlowError(f"flow {flow.flow!r} has no node {name!r}")
        state = self.state
        state.node = name
        state.path.append(name if flow.flow == self._entry_flow else f"{flow.flow}/{name}")
        self.trace.event("IVR_NODE", node=name, kind=node.type, flow=flow.flow)
        self.trace.progress(state)
        match node:
            case PlayNode():
                await self._play(node.prompts, interruptible=False)
                return self._require(node.next, name)
            case MenuNode():
                return await self._menu(name, node)
            case CollectNode():
                return await self._collect(name, node)
            case ConditionNode():
                return self._condition(name, node)
            case LookupNode():
                return await self._lookup(name, node)
            case LanguageNode():
                state.language = node.language
                await self.port.set_language(node.language)
                self.trace.event("IVR_LANGUAGE", node=name, language=node.language)
                return self._require(node.next, name)
            case GotoNode():
                return self._goto(name, node)
            case QueueNode():
                return await self._queue(name, node)
            case CallbackNode():
                return await self._callback(name, node)
            case VoicemailNode():
                await self._voicemail(name, node)
                return None
            case HangupNode():
                await self._play(node.prompts, interruptible=False)
                state.exit = "hangup"
                state.ended_at = self.now()  # the IVR is over before the line is
                await self.port.hang_up()
                return None
        raise FlowError(f"node {name!r}: unknown kind")  # pragma: no cover

    @staticmethod
    def _require(target: str | None, name: str) -> str:
        if target is None:
            raise FlowError(f"node {name!r} has nowhere to go next")
        return target

    # --- prompts and keys -------------------------------------------------------------

    async def _play(self, texts: list[str], *, interruptible: bool) -> str | None:
        assert self.state is not None
        media, skipped = prompts.render(texts, self.state.variables)
        for note in skipped:
            self.trace.event("IVR_PROMPT_SKIPPED", node=self.state.node, detail=note)
        if not media:
            return None
        return await self.port.play(
            media, interruptible=interruptible, language=self.state.language
        )

    async def _first_key(self, texts: list[str], timeout: float) -> str | None:
        key = await self._play(texts, interruptible=True)
        if key is None:
            key = await self.port.wait_key(timeout)
        return key

    async def _retry(
        self, name: str, texts: list[str], attempt: int, attempts: int, why: str, **data: Any
    ) -> tuple[bool, str | None]:
        """Count a failed attempt; play the retry prompt unless attempts are used up.
        Returns (more attempts left, a key pressed during the retry prompt)."""
        self.trace.event(
            "IVR_NO_INPUT" if why == "no_input" else "IVR_INVALID",
            node=name,
            attempt=attempt,
            reason=why,
            **data,
        )
        if why != "no_input":
            self.port.discard_keys()
        if attempt >= attempts:
            self.trace.event("IVR_EXHAUSTED", node=name, attempts=attempt)
            return False, None
        return True, await self._play(texts, interruptible=True)

    # --- node kinds -------------------------------------------------------------------

    async def _menu(self, name: str, node: MenuNode) -> str:
        attempt = 0
        pending: str | None = None
        while True:
            key = (
                pending
                if pending is not None
                else await self._first_key(node.prompts, node.timeout)
            )
            pending = None
            if key is not None and key == node.repeat_key:
                self.trace.event("IVR_REPEAT", node=name)
                continue
            target = node.options.get(key) if key is not None else None
            if target is not None:
                self.trace.event("IVR_KEY", node=name, key=key, goto=target)
                return target
            attempt += 1
            if key is None:
                more, pending = await self._retry(
                    name, node.no_input_prompts, attempt, node.attempts, "no_input"
                )
            else:
                more, pending = await self._retry(
                    name, node.invalid_prompts, attempt, node.attempts, "invalid_key", key=key
                )
            if not more:
                return self._require(node.on_exhausted, name)

    async def _read_digits(
        self, first: str, terminator: str | None, max_digits: int, inter_digit: float
    ) -> tuple[str, bool]:
        """Digits from ``first`` on, until the terminator, a pause or ``max_digits``.
        Returns (digits, overflowed: keys kept coming past the maximum)."""
        digits = ""
        key: str | None = first
        while key is not None:
            if terminator is not None and key == terminator:
                return digits, False
            digits += key
            if len(digits) >= max_digits:
                if terminator is None:
                    return digits, False  # as Asterisk's Read(): done at the maximum
                # The caller was asked to finish with the terminator: one more digit
                # instead means they typed too many.
                key = await self.port.wait_key(inter_digit)
                if key is None or key == terminator:
                    return digits, False
                await self._drain(inter_digit)
                return digits, True
            key = await self.port.wait_key(inter_digit)
        return digits, False

    async def _drain(self, pause: float) -> None:
        """Swallow a burst of keys until the caller pauses, so the rest of a garbage burst
        does not become the answer to the next prompt."""
        self.port.discard_keys()
        for _ in range(64):
            if await self.port.wait_key(min(pause, 1.0)) is None:
                return

    def _invalid_entry(self, node: CollectNode, digits: str, overflowed: bool) -> str | None:
        if overflowed:
            return "too_long"
        if not digits:
            return "empty"
        if len(digits) < node.min_digits:
            return "too_short"
        if node.pattern is not None:
            if not re.fullmatch(node.pattern, digits):
                return "pattern"
        elif not digits.isdigit():
            return "not_digits"
        if node.check == "luhn" and not (digits.isdigit() and luhn_ok(digits)):
            return "checksum"
        return None

    async def _collect(self, name: str, node: CollectNode) -> str:
        assert self.state is not None
        attempt = 0
        pending: str | None = None
        while True:
            key = (
                pending
                if pending is not None
                else await self._first_key(node.prompts, node.timeout)
            )
            pending = None
            if key is None:
                attempt += 1
                more, pending = await self._retry(
                    name, node.no_input_prompts, attempt, node.attempts, "no_input"
                )
                if not more:
                    return self._require(node.on_exhausted, name)
                continue
            digits, overflowed = await self._read_digits(
                key, node.terminator, node.max_digits, node.inter_digit_timeout
            )
            shown = MASK * len(digits) if node.sensitive else digits
            reason = self._invalid_entry(node, digits, overflowed)
            if reason is None:
                self.state.variables[node.into] = digits
                if node.sensitive:
                    self.state.sensitive.add(node.into)
                self.trace.event("IVR_INPUT", node=name, var=node.into, value=shown)
                return self._require(node.next, name)
            attempt += 1
            more, pending = await self._retry(
                name, node.invalid_prompts, attempt, node.attempts, reason, value=shown
            )
            if not more:
                return self._require(node.on_exhausted, name)

    def _holds(self, test: Test) -> bool:
        assert self._source is not None and self.state is not None
        flow = self._source.flow
        if test.open is not None or test.closed is not None:
            schedule_name = test.open if test.open is not None else test.closed
            schedule = flow.schedules.get(schedule_name or "")
            if schedule is None:
                raise FlowError(f"no schedule {schedule_name!r}")
            is_open = hours.is_open(schedule, self.business_now())
            return is_open if test.open is not None else not is_open
        if test.caller_in is not None:
            if isinstance(test.caller_in, str):
                if test.caller_in not in flow.lists:
                    raise FlowError(f"no list {test.caller_in!r}")
                entries = flow.lists[test.caller_in]
            else:
                entries = test.caller_in
            return hours.number_in(self.port.caller, entries)
        assert test.var is not None
        value = self.state.variables.get(test.var)
        if test.present is not None:
            return bool(value) == test.present
        if value is None:
            return False
        if test.equals is not None:
            return value == test.equals
        if test.one_of is not None:
            return value in test.one_of
        assert test.matches is not None
        return re.fullmatch(test.matches, value) is not None

    def _condition(self, name: str, node: ConditionNode) -> str:
        for index, branch in enumerate(node.branches):
            if self._holds(branch.when):
                self.trace.event("IVR_CONDITION", node=name, branch=index, goto=branch.goto)
                return branch.goto
        target = self._require(node.otherwise, name)
        self.trace.event("IVR_CONDITION", node=name, branch="else", goto=target)
        return target

    async def _lookup(self, name: str, node: LookupNode) -> str:
        assert self.state is not None
        variables = self.state.variables
        params = {k: prompts.substitute(v, variables) for k, v in node.params.items()}
        url = None
        if node.http is not None:
            url = prompts.VARIABLE.sub(
                lambda m: quote(variables.get(m.group(1), ""), safe=""), node.http.url
            )
        started = time.monotonic()
        try:
            async with asyncio.timeout(node.timeout):
                result = await self.services.lookup(node, params, url)
        except TimeoutError:
            result = LookupResult("error", detail=f"timed out after {node.timeout:g} s")
        except CallEnded:
            raise
        except Exception as exc:
            result = LookupResult("error", detail=f"{type(exc).__name__}: {exc}"[:300])
        elapsed_ms = round((time.monotonic() - started) * 1000)
        for key, value in result.values.items():
            variables[f"{node.into}.{key}"] = value
        variables[node.into] = result.status
        self.trace.event(
            "IVR_LOOKUP",
            node=name,
            source="sql" if node.sql is not None else "http",
            status=result.status,
            ms=elapsed_ms,
            detail=result.detail or None,
        )
        if result.status == "found":
            return self._require(node.next, name)
        if result.status == "not_found":
            return self._require(node.not_found or node.on_error, name)
        return self._require(node.on_error, name)

    def _goto(self, name: str, node: GotoNode) -> str:
        target = self.flows.get(node.flow)
        if target is None:
            raise FlowError(f"no flow {node.flow!r}")
        self.trace.event("IVR_GOTO", node=name, flow=node.flow, version=target.version)
        self._source = target
        return node.node or target.flow.start

    async def _queue(self, name: str, node: QueueNode) -> str | None:
        assert self._source is not None and self.state is not None
        state = self.state
        hidden = {"caller", "dialed", *state.sensitive}  # a card number is not for the screen
        collected = {k: v for k, v in state.variables.items() if k not in hidden}
        request = QueueRequest(
            node.queue, node.priority, dict(node.skills), state.flow, name, collected
        )
        self.trace.event(
            "IVR_QUEUE", node=name, queue=node.queue, priority=node.priority, skills=node.skills
        )
        # The caller's time in the IVR ends as they enter the queue, however long they wait.
        state.exit = "queue"
        state.queue = request
        state.ended_at = self.now()
        self.trace.progress(state)
        if await self.services.enqueue(request):
            self._leave(state)
            return None
        # The queue cannot take the caller: they are back in the IVR.
        state.exit = None
        state.queue = None
        state.ended_at = None
        self.trace.event("IVR_QUEUE_UNAVAILABLE", node=name, queue=node.queue)
        return self._require(node.on_unavailable, name)

    async def _voicemail(self, name: str, node: VoicemailNode) -> None:
        assert self.state is not None
        await self._play(node.prompts, interruptible=False)
        self.trace.event("IVR_VOICEMAIL", node=name, queue=node.queue)
        seconds = await self.services.take_message(
            node.queue, node.max_seconds, node.silence_seconds, node.min_seconds
        )
        if seconds is not None:
            await self._play(node.done_prompts, interruptible=False)
        self.state.exit = "hangup"
        self.state.ended_at = self.now()
        await self.port.hang_up()

    async def _callback(self, name: str, node: CallbackNode) -> str:
        attempt = 0
        pending: str | None = None
        caller = self.port.caller or ""
        while True:
            key = (
                pending
                if pending is not None
                else await self._first_key(node.prompts, node.timeout)
            )
            pending = None
            number: str | None = None
            if key == "1" and caller.lstrip("+").isdigit():
                number = caller
            elif key == "2":
                first = await self._first_key(node.number_prompts, node.timeout)
                if first is not None:
                    digits, overflowed = await self._read_digits(first, "#", node.max_digits, 3.0)
                    if not overflowed and digits.isdigit() and len(digits) >= node.min_digits:
                        number = digits
            if number is not None:
                await self.services.request_callback(number, node.queue)
                self.trace.event("IVR_CALLBACK", node=name, number=number, queue=node.queue)
                await self._play(node.done_prompts, interruptible=False)
                return self._require(node.next, name)
            attempt += 1
            why = "no_input" if key is None else "invalid_key"
            more, pending = await self._retry(
                name,
                ["sound:pm-invalid-option"] if key is not None else ["sound:please-try-again"],
                attempt,
                node.attempts,
                why,
                key=key,
            )
            if not more:
                self.trace.event("IVR_CALLBACK_DECLINED", node=name)
                return self._require(node.on_declined, name)
