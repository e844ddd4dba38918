"""`switchboard demo`: the call center on real calls, in about half a minute.

Two demo agents with sipp softphones log in to the queues of the example flow
(flows/main.yaml, with its office hours opened for the run); five sipp callers go through the
menu: two are answered at once, one waits with music until an agent has coded their last
call, one gives up waiting, one asks for a callback. The agents code each call from wrap-up
through the HTTP API, as the agent page does. Everything goes through the local Asterisk
and ends up in PostgreSQL; the CLI prints the calls and the queue report of the run.
Again and again: agents, queues and credentials are reused or re-issued."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select

from ari_app.app import Application
from callcenter.config import Settings
from db.acd_store import AcdError, add_agent, add_member, add_queue, set_queue
from db.api_credential_store import (
    CredentialError,
    add_credential,
    issue_agent_token,
    revoke_credential,
)
from db.engine import sync_engine
from db.models import Agent, Call, CallbackRequest, CallDisposition, QueueVisit
from switchboard.api_client import ApiError, call_api
from testkit.agents import SippAgent
from testkit.runner import place_calls
from testkit.scenario import CallerScript

EXAMPLE_FLOW = Path(__file__).resolve().parents[1] / "flows" / "main.yaml"
AGENTS = ("demo-ann", "demo-bob")
QUEUES = ("sales", "support", "billing")  # the example flow's queues
SUPERVISOR = "demo-supervisor"
TALK_MS = 8000  # each agent's phone hangs up after this much talk
WRAP_UP_SECONDS = 30  # the agent's code ends it long before
MENU_WAIT_MS = 2500  # the caller presses a key this long after the menu starts


@dataclass(frozen=True)
class DemoCaller:
    number: str
    name: str
    story: str
    start_s: float
    keys: tuple[tuple[int, str], ...]
    hang_up_after_ms: int | None = None  # None: until the far end hangs up
    code: str | None = None  # what the agent codes the call


CALLERS = (
    DemoCaller(
        "+12025550101", "Ada Lovelace", "menu 1 (sales), answered", 0.0, ((MENU_WAIT_MS, "1"),),
        code="sale",
    ),
    DemoCaller(
        "+12025550102", "Ben Franklin", "menu 1, answered", 0.7, ((MENU_WAIT_MS, "1"),),
        code="interested",
    ),
    DemoCaller(
        "+12025550103", "Cy Young", "menu 1, waits with music for a free agent", 1.4,
        ((MENU_WAIT_MS, "1"),), code="resolved",
    ),
    DemoCaller(
        "+12025550104", "Di Prince", "menu 1, gives up after 6 s of waiting", 2.1,
        ((MENU_WAIT_MS, "1"),), hang_up_after_ms=6000,
    ),
    DemoCaller(
        "+12025550105", "Ed Sullivan", "menu 2, 2, 2: asks for a callback", 2.8,
        ((MENU_WAIT_MS, "2"), (2000, "2"), (2000, "2"), (2500, "1")),
    ),
)  # fmt: skip


@dataclass
class DemoRun:
    """What the demo did, for the CLI to print."""

    started: datetime
    ended: datetime
    calls: list[tuple[str, ...]] = field(default_factory=list)
    callbacks: int = 0
    sipp_failures: int = 0
    agent_pages: dict[str, str] = field(default_factory=dict)
    wallboard: str = ""
    console: str = ""
    coded: int = 0


def demo_flows(folder: Path, example: Path = EXAMPLE_FLOW) -> Path:
    """The example flow, its office open around the clock (the demo runs at any hour)."""
    flow = yaml.safe_load(example.read_text())
    for schedule in flow.get("schedules", {}).values():
        schedule["hours"] = {"mon-sun": "00:00-24:00"}
        schedule["holidays"] = []
    folder.mkdir(parents=True, exist_ok=True)
    (folder / example.name).write_text(
        "# Written by `switchboard demo` from flows/main.yaml, open around the clock.\n"
        + yaml.safe_dump(flow, sort_keys=False)
    )
    return folder


def provision(engine: Engine) -> dict[str, str]:
    """Demo agents in every queue of the example flow, queues with the default codes; the
    agents' SIP secrets by name. Whatever exists already is reused."""
    secrets: dict[str, str] = {}
    for name in AGENTS:
        try:
            secrets[name] = add_agent(engine, name, name.replace("-", " ").title(), {}).secret
        except AcdError:  # there already: its phone uses the secret it has
            with engine.connect() as connection:
                secrets[name] = connection.execute(
                    select(Agent.sip_secret).where(Agent.name == name)
                ).scalar_one()
    for queue in QUEUES:
        with contextlib.suppress(AcdError):  # there already
            add_queue(engine, queue, {})
        set_queue(engine, queue, {"disposition_set": "default", "wrap_up_seconds": WRAP_UP_SECONDS})
        for name in AGENTS:
            with contextlib.suppress(AcdError):  # a member already
                add_member(engine, queue, name, 0)
    return secrets


def supervisor_token(engine: Engine) -> str:
    """A fresh token for the demo supervisor (tokens are shown once and stored hashed)."""
    with contextlib.suppress(CredentialError):
        revoke_credential(engine, SUPERVISOR)
    return add_credential(engine, SUPERVISOR, "supervisor")


async def _until(check: Callable[[], bool], seconds: float, what: str) -> None:
    try:
        async with asyncio.timeout(seconds):
            while not check():  # noqa: ASYNC110 (state owned by other tasks and threads)
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise RuntimeError(f"the demo waited {seconds:g} s for {what}") from None


async def _api(
    settings: Settings, method: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    return await asyncio.to_thread(call_api, settings, method, path, body)


async def _start(application: Application, stop: asyncio.Event) -> asyncio.Task[None]:
    running = asyncio.create_task(application.run(stop))
    try:
        async with asyncio.timeout(30):
            while not application.ari.connected.is_set():
                if running.done():
                    running.result()
                    raise RuntimeError("the application stopped before it connected")
                await asyncio.sleep(0.1)
    except TimeoutError:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)
        raise RuntimeError(
            "could not connect to Asterisk: is it up ('switchboard asterisk up')?"
        ) from None
    return running


async def _log_in(settings: Settings, application: Application) -> None:
    """Each demo agent's phone is registered; the agent logs in (as from the agent page)."""
    agents = application.acd.agents
    await _until(
        lambda: all(a in agents and agents[a].registered for a in AGENTS),
        30,
        "the demo agents' sipp phones to register",
    )
    for name in AGENTS:
        state = (await _api(settings, "GET", f"/api/agents/{name}"))["state"]
        if state == "logged_out":
            await _api(settings, "POST", f"/api/agents/{name}/login")
        elif state == "paused":
            await _api(settings, "POST", f"/api/agents/{name}/unpause")


def _caller_of(engine: Engine, call_id: str | None) -> str | None:
    if call_id is None:
        return None
    with engine.connect() as connection:
        number: str | None = connection.execute(
            select(Call.caller_number).where(Call.id == call_id)
        ).scalar()
    return number


async def _code_from_wrap_up(
    settings: Settings, engine: Engine, name: str, done: asyncio.Event
) -> int:
    """The agent's side: in wrap-up, code the call just ended (which ends the wrap-up)."""
    codes = {c.number: c.code for c in CALLERS if c.code}
    coded = 0
    while not done.is_set():
        if (await _api(settings, "GET", f"/api/agents/{name}"))["state"] == "wrap_up":
            call = (await _api(settings, "GET", f"/api/agents/{name}/codes"))["call"]
            number = await asyncio.to_thread(_caller_of, engine, call)
            body = {"code": codes.get(number or "", "resolved"), "call": call}
            try:
                await _api(settings, "POST", f"/api/agents/{name}/disposition", body)
                coded += 1
            except ApiError:
                pass  # the wrap-up ended meanwhile; the next poll sees it
        await asyncio.sleep(0.3)
    return coded


async def _call(settings: Settings, dialed: str, caller: DemoCaller) -> bool:
    await asyncio.sleep(caller.start_s)
    script = CallerScript(
        caller=caller.number,
        caller_name=caller.name,
        keys=caller.keys,
        hang_up_after_ms=caller.hang_up_after_ms,
    )
    result = await place_calls(settings.sip_port, dialed, script, timeout_s=90)
    return result.ok


async def run_demo(settings: Settings, dialed: str, work: Path) -> DemoRun:
    engine = sync_engine(settings.database_url)
    try:
        return await _run(settings, engine, dialed, work)
    finally:
        engine.dispose()


async def _run(settings: Settings, engine: Engine, dialed: str, work: Path) -> DemoRun:
    secrets = provision(engine)
    supervisor = supervisor_token(engine)
    agent_tokens = {name: issue_agent_token(engine, name) for name in AGENTS}
    settings = settings.model_copy(update={"flows_dir": demo_flows(work / "flows")})
    run = DemoRun(started=datetime.now(UTC), ended=datetime.now(UTC))
    phones = [
        SippAgent(name, secrets[name], settings.sip_port, ring_ms=600, hang_up_after_ms=TALK_MS)
        for name in AGENTS
    ]
    application = Application(settings)
    stop = asyncio.Event()
    running = await _start(application, stop)
    coders: list[asyncio.Task[int]] = []
    done = asyncio.Event()
    try:
        for phone in phones:
            await asyncio.to_thread(phone.start)
        await _log_in(settings, application)
        coders = [
            asyncio.create_task(_code_from_wrap_up(settings, engine, name, done)) for name in AGENTS
        ]
        results = await asyncio.gather(*(_call(settings, dialed, c) for c in CALLERS))
        run.sipp_failures = results.count(False)
        await _until(
            lambda: all(application.acd.agents[a].state.value == "available" for a in AGENTS),
            WRAP_UP_SECONDS + 10,
            "the agents back to available",
        )
        done.set()
        run.coded = sum(await asyncio.gather(*coders))
        await application.writer.drain(timeout=10)
    finally:
        done.set()
        for task in coders:
            task.cancel()
        stop.set()
        await asyncio.gather(running, return_exceptions=True)
        for phone in phones:
            phone.stop()
    run.ended = datetime.now(UTC)
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    base = f"http://{host}:{settings.api_port}"
    run.wallboard = f"{base}/wallboard?token={supervisor}"
    run.console = f"{base}/console?token={supervisor}"
    run.agent_pages = {
        name: f"{base}/agent?agent={name}&token={token}" for name, token in agent_tokens.items()
    }
    _read_back(engine, run)
    return run


def _clock(value: datetime | None) -> str:
    return value.astimezone().strftime("%H:%M:%S") if value else "-"


def _secs(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def _read_back(engine: Engine, run: DemoRun) -> None:
    """The demo's calls as PostgreSQL has them: one line per queue visit (or per call
    without one), with the agent who answered and the code they set."""
    stories = {c.number: c.story for c in CALLERS}
    with engine.connect() as connection:
        calls = connection.execute(
            select(Call)
            .where(Call.arrived_at >= run.started, Call.caller_number.in_(stories))
            .order_by(Call.arrived_at)
        ).all()
        ids = [c.id for c in calls]
        visits = connection.execute(
            select(QueueVisit).where(QueueVisit.call_id.in_(ids)).order_by(QueueVisit.seq)
        ).all()
        coded = dict(
            connection.execute(
                select(CallDisposition.call_id, CallDisposition.code).where(
                    CallDisposition.call_id.in_(ids), CallDisposition.code_set != "system"
                )
            ).all()
        )
        run.callbacks = len(
            connection.execute(
                select(CallbackRequest.id).where(
                    CallbackRequest.call_id.in_(ids), CallbackRequest.status == "pending"
                )
            ).all()
        )
    by_call: dict[Any, list[Any]] = {}
    for visit in visits:
        by_call.setdefault(visit.call_id, []).append(visit)
    for call in calls:
        ivr = " ".join(call.digits or "") or "-"
        for visit in by_call.get(call.id) or [None]:
            run.calls.append(
                (
                    call.caller_number or "",
                    stories.get(call.caller_number or "", ""),
                    _clock(call.arrived_at),
                    ivr,
                    visit.queue if visit else "-",
                    _secs(visit.wait_seconds) if visit else "-",
                    (visit.exit or "-") if visit else (call.outcome or "-"),
                    (visit.agent or "-") if visit else "-",
                    _secs(call.talk_seconds),
                    coded.get(call.id, "-"),
                )
            )
