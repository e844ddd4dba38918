"""The ACD on real calls: sipp callers through Asterisk 22 into a queue, sipp softphones as
agents that register with their generated secrets and answer (or not); PostgreSQL rows and
call events prove who got which call and why."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from db.acd_store import add_agent, add_member, add_queue
from db.engine import sync_engine
from pbx.instance import AsteriskInstance
from pbx.ports import free_tcp_udp_port
from switchboard.cli.main import app as main_app
from testkit.agents import SippAgent
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.conftest import AppFactory
from tests.support import AppProcess, query, wait_until

pytestmark = pytest.mark.integration

FLOW = """\
flow: front
default: true
start: to_queue
nodes:
  to_queue: {type: queue, queue: %s, on_unavailable: sorry}
  sorry: {type: hangup, prompts: [sound:beep]}
"""


class Center:
    """Provisioned agents and queues, the app, and the agents' softphones."""

    def __init__(
        self, app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, tmp: Path
    ) -> None:
        self.app_factory = app_factory
        self.asterisk = asterisk
        self.database_url = database_url
        self.tmp = tmp
        self.engine = sync_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
        self.secrets: dict[str, str] = {}
        self.phones: list[SippAgent] = []
        self.app: AppProcess | None = None
        self.outbound_uri = ""

    def agent(self, name: str) -> None:
        self.secrets[name] = add_agent(self.engine, name, None, {}).secret

    def queue(self, name: str, members: list[str], **settings: Any) -> None:
        add_queue(self.engine, name, settings)
        for member in members:
            add_member(self.engine, name, member, 0)

    def start(self, queue: str, flow: str | None = None, **env: str) -> AppProcess:
        """The app, with a flow that sends every call to ``queue`` (or ``flow``'s YAML);
        ``env``: more settings."""
        flows = self.tmp / "flows"
        flows.mkdir(exist_ok=True)
        (flows / "front.yaml").write_text(flow or FLOW % queue)
        self.app = self.app_factory(
            SWITCHBOARD_FLOWS_DIR=str(flows), SWITCHBOARD_OUTBOUND_URI=self.outbound_uri, **env
        )
        self.app.start()
        self.app.wait_for("acd.endpoints_pushed")
        return self.app

    def phone(self, name: str, ring_ms: int | None = 200, audio_ms: int = 0) -> SippAgent:
        phone = SippAgent(
            name, self.secrets[name], self.asterisk.params.sip_port, ring_ms, audio_ms=audio_ms
        )
        phone.start()
        self.phones.append(phone)
        wait_until(lambda: self.state(name)["registered"], 10, what=f"{name} registered")
        return phone

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self.app is not None
        port = self.app.env["SWITCHBOARD_API_PORT"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=json.dumps(body or {}).encode() if method == "POST" else None,
            method=method,
        )
        request.add_header("Authorization", f"Bearer {self.app.env['SWITCHBOARD_API_TOKEN']}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def state(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", f"/api/agents/{name}")
        return result

    def login(self, *names: str) -> None:
        for name in names:
            self.api("POST", f"/api/agents/{name}/login")

    def close(self) -> None:
        for phone in self.phones:
            phone.stop()
        self.engine.dispose()


@pytest.fixture
def center(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, tmp_path: Path
) -> Iterator[Center]:
    forget_acd(database_url)
    made = Center(app_factory, asterisk, database_url, tmp_path)
    yield made
    made.close()
    forget_acd(database_url)


def forget_acd(database_url: str) -> None:
    """The session's database is shared: no agent or queue outlives its test."""
    for table in ("queue_members", "queues", "agents"):
        query(database_url, f"DELETE FROM {table}")


def calls(database_url: str, caller: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    sql = (
        "SELECT * FROM calls WHERE caller_number = %s AND ended_at IS NOT NULL ORDER BY arrived_at"
    )
    wait_until(
        lambda: len(query(database_url, sql, caller)) >= count, timeout, what=f"{count} calls"
    )
    return query(database_url, sql, caller)


def events(database_url: str, call_id: Any) -> list[dict[str, Any]]:
    return query(
        database_url,
        "SELECT type, data FROM call_events WHERE call_id = %s ORDER BY occurred_at, id",
        call_id,
    )


def agree_with_asterisk_cdr(row: dict[str, Any], database_url: str, cdr: list[Any]) -> None:
    """Asterisk's own CDR for the caller's channel and for the agent's leg is the independent
    witness: the same start, answer by the agent and end, within a second."""
    caller_lines = [c for c in cdr if c.uniqueid == row["channel_id"]]
    assert caller_lines, f"no CDR for {row['channel_id']}"
    assert abs(min(c.start for c in caller_lines) - row["arrived_at"].timestamp()) < 1.0
    assert abs(max(c.end or 0 for c in caller_lines) - row["ended_at"].timestamp()) < 1.0
    connect = next(e["data"] for e in events(database_url, row["id"]) if e["type"] == "CONNECT")
    agent_lines = [c for c in cdr if c.uniqueid == connect["channel"]]
    assert agent_lines, f"no CDR for the agent leg {connect['channel']}"
    # The agent's leg: answered when we say the agent answered. (Asterisk keeps the
    # bridged talk on the caller's CDR, whose span is checked above.)
    assert all(c.disposition == "ANSWERED" for c in agent_lines)
    answered = min(c.answer for c in agent_lines if c.answer is not None)
    assert abs(answered - row["connected_at"].timestamp()) < 1.0
    span = max(c.end or 0 for c in caller_lines) - min(c.start for c in caller_lines)
    assert abs(span - (row["ended_at"] - row["arrived_at"]).total_seconds()) < 1.0


def test_longest_idle_agent_gets_each_call(center: Center, database_url: str) -> None:
    for name in ("ann", "ben", "cat"):
        center.agent(name)
    center.queue("support", ["ann", "ben", "cat"], strategy="leastrecent")
    center.start("support")
    for name in ("ann", "ben", "cat"):
        center.phone(name)
    center.login("cat", "ann", "ben")  # idle since login: cat longest, then ann, then ben
    caller = "+15558000001"
    result = asyncio.run(
        place_calls(
            center.asterisk.params.sip_port,
            "5000",
            CallerScript(caller=caller, keys=(), hang_up_after_ms=1500),
            calls=21,
            rate=0.5,
            concurrent=1,
            timeout_s=120,
        )
    )
    assert result.ok, result.output
    rows = calls(database_url, caller, 21)
    agents = [r["agent"] for r in rows]
    assert Counter(agents) == {"ann": 7, "ben": 7, "cat": 7}, agents
    assert agents[:3] == ["cat", "ann", "ben"]
    # Each call went to whoever had been idle longest: a strict rotation.
    assert all(agents[i] == agents[i % 3] for i in range(21)), agents
    cdr = center.asterisk.cdr_rows()
    for row in rows:
        agree_with_asterisk_cdr(row, database_url, cdr)
        assert row["queue"] == "support" and row["queue_exit"] == "connected"
        assert row["queued_at"] <= row["connected_at"] <= row["ended_at"]
        assert row["hangup_party"] == "caller"
        kinds = [e["type"] for e in events(database_url, row["id"])]
        assert kinds.index("ENTERQUEUE") < kinds.index("CONNECT") < kinds.index("COMPLETECALLER")


def test_ring_no_answer_moves_on_and_autopauses(center: Center, database_url: str) -> None:
    center.agent("sleepy")
    center.agent("quick")
    center.queue("sales", ["sleepy", "quick"], strategy="linear", ring_timeout=2, autopause_after=1)
    center.start("sales")
    center.phone("sleepy", ring_ms=None)
    center.phone("quick")
    center.login("sleepy", "quick")
    caller = "+15558000002"
    result = asyncio.run(
        place_calls(
            center.asterisk.params.sip_port,
            "5000",
            CallerScript(caller=caller, keys=(), hang_up_after_ms=6000),
        )
    )
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    assert row["agent"] == "quick"
    steps = events(database_url, row["id"])
    missed = [e["data"] for e in steps if e["type"] == "RINGNOANSWER"]
    assert len(missed) == 1 and missed[0]["agent"] == "sleepy" and missed[0]["autopaused"]
    assert 1500 <= missed[0]["ringtime_ms"] <= 4000
    assert center.state("sleepy")["state"] == "paused"
    assert center.state("sleepy")["pause_reason"] == "autopause: no answer"
    paused = query(
        database_url,
        "SELECT type, reason FROM agent_events WHERE agent = 'sleepy' ORDER BY occurred_at, id",
    )
    assert [p["type"] for p in paused] == ["REGISTERED", "AGENTLOGIN", "RINGING", "PAUSE"]
    assert (
        query(database_url, "SELECT state FROM agents WHERE name = 'sleepy'")[0]["state"]
        == "paused"
    )


def test_abandon_in_queue_is_recorded_with_its_wait(center: Center, database_url: str) -> None:
    center.agent("away")
    center.queue("billing", ["away"])
    center.start("billing")  # the only member never logs in: the caller waits, then gives up
    caller = "+15558000003"
    result = asyncio.run(
        place_calls(
            center.asterisk.params.sip_port,
            "5000",
            CallerScript(caller=caller, keys=(), hang_up_after_ms=3000),
        )
    )
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    assert row["queue_exit"] == "abandoned" and row["agent"] is None
    (abandon,) = [e["data"] for e in events(database_url, row["id"]) if e["type"] == "ABANDON"]
    assert abandon["queue"] == "billing" and abandon["origpos"] == 1
    assert 2.0 <= abandon["waittime"] <= 4.5


def call_in_background(
    center: Center, caller: str, talk_ms: int, keys: tuple[tuple[int, str], ...] = ()
) -> Future[Any]:
    """A caller who hangs up ``talk_ms`` after the keys (0: waits for our BYE)."""
    pool = ThreadPoolExecutor(max_workers=1)
    script = CallerScript(caller=caller, keys=keys, hang_up_after_ms=talk_ms or None)
    future = pool.submit(
        lambda: asyncio.run(place_calls(center.asterisk.params.sip_port, "5000", script))
    )
    pool.shutdown(wait=False)
    return future


def ari_get(center: Center, path: str) -> Any:
    p = center.asterisk.params
    request = urllib.request.Request(f"http://127.0.0.1:{p.http_port}/ari{path}")
    token = base64.b64encode(f"{p.ari_user}:{p.ari_password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def post(center: Center, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    try:
        return 200, center.api("POST", path, body)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_state(center: Center, agent: str, state: str, timeout: float = 15) -> None:
    wait_until(lambda: center.state(agent)["state"] == state, timeout, what=f"{agent} {state}")


def test_hold_and_unhold_are_measured(center: Center, database_url: str) -> None:
    center.agent("hal")
    center.agent("idle")
    center.queue("care", ["hal"], record_calls=True)
    center.start("care")
    center.phone("hal")
    center.login("hal", "idle")
    caller = "+15558000004"
    done = call_in_background(center, caller, 9000)
    wait_state(center, "hal", "on_call")
    assert post(center, "/api/agents/idle/call/hold")[0] == 409  # not their call
    status, answer = post(center, "/api/agents/hal/call/transfer", {"target": "queue:nope"})
    assert status == 404 and "no queue" in answer["error"]
    assert post(center, "/api/agents/hal/call/unhold")[0] == 409  # not on hold
    assert post(center, "/api/agents/hal/call/hold") == (200, {"held": True})
    assert center.state("hal")["state"] == "on_hold"
    time.sleep(2)
    assert post(center, "/api/agents/hal/call/unhold") == (200, {"held": False})
    assert center.state("hal")["state"] == "on_call"
    result = done.result(timeout=60)
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    assert row["hold_count"] == 1 and 1.8 <= row["hold_seconds"] <= 3.5
    # The conversation was recorded, hold included, and Asterisk has the file.
    assert row["recording"] == f"call-{row['id']}", [
        (e["type"], e["data"]) for e in events(database_url, row["id"]) if "RECORD" in e["type"]
    ]
    stored = ari_get(center, f"/recordings/stored/{row['recording']}")
    assert stored["format"] == "wav"
    steps = events(database_url, row["id"])
    kinds = [e["type"] for e in steps]
    assert kinds.index("CONNECT") < kinds.index("CALLERONHOLD") < kinds.index("CALLEROFFHOLD")
    off = next(e["data"] for e in steps if e["type"] == "CALLEROFFHOLD")
    assert abs(off["held"] - row["hold_seconds"]) < 0.01
    agent_steps = query(
        database_url, "SELECT type FROM agent_events WHERE agent = 'hal' ORDER BY occurred_at, id"
    )
    kinds_of_hal = [a["type"] for a in agent_steps]
    assert kinds_of_hal.index("CONNECT") < kinds_of_hal.index("HOLD")
    assert kinds_of_hal.index("HOLD") < kinds_of_hal.index("UNHOLD") < kinds_of_hal.index("CALLEND")


def test_blind_transfer_to_another_agent(center: Center, database_url: str) -> None:
    center.agent("amy")
    center.agent("bob")
    center.queue("front", ["amy"])
    center.start("front")
    center.phone("amy")
    center.phone("bob")
    center.login("amy", "bob")
    caller = "+15558000005"
    done = call_in_background(center, caller, 8000)
    wait_state(center, "amy", "on_call")
    status, answer = post(center, "/api/agents/amy/call/transfer", {"target": "agent:bob"})
    assert status == 200 and answer == {"ringing": "bob", "attended": False}
    wait_state(center, "bob", "on_call")
    assert center.state("amy")["state"] == "available"
    result = done.result(timeout=60)
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    assert row["agent"] == "amy" and row["hangup_party"] == "caller"
    steps = events(database_url, row["id"])
    kinds = [e["type"] for e in steps]
    blind = next(e["data"] for e in steps if e["type"] == "BLINDTRANSFER")
    assert blind["agent"] == "amy" and blind["target"] == "agent:bob"
    assert kinds.index("BLINDTRANSFER") < kinds.index("COMPLETECALLER")
    complete = next(e["data"] for e in steps if e["type"] == "COMPLETECALLER")
    assert complete["agent"] == "bob"
    wait_state(center, "bob", "available")


def test_attended_transfer_consults_then_completes(center: Center, database_url: str) -> None:
    center.agent("ava")
    center.agent("ben2")
    center.queue("front", ["ava"])
    center.start("front")
    center.phone("ava")
    center.phone("ben2")
    center.login("ava", "ben2")
    caller = "+15558000006"
    done = call_in_background(center, caller, 10000)
    wait_state(center, "ava", "on_call")
    status, answer = post(
        center, "/api/agents/ava/call/transfer", {"target": "agent:ben2", "attended": True}
    )
    assert status == 200 and answer == {"ringing": "ben2", "attended": True}
    assert center.state("ava")["state"] == "on_hold"  # the caller hears music meanwhile
    wait_state(center, "ben2", "on_call")
    assert post(center, "/api/agents/ava/call/complete") == (200, {"transferred_to": "ben2"})
    wait_state(center, "ava", "available")
    result = done.result(timeout=60)
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    steps = events(database_url, row["id"])
    kinds = [e["type"] for e in steps]
    assert kinds.index("CONSULT") < kinds.index("ATTENDEDTRANSFER") < kinds.index("COMPLETECALLER")
    assert next(e["data"] for e in steps if e["type"] == "COMPLETECALLER")["agent"] == "ben2"
    assert row["hold_count"] == 1 and row["hold_seconds"] > 0


def test_callback_keeps_the_callers_place_and_calls_back(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, tmp_path: Path
) -> None:
    forget_acd(database_url)
    customer = SippAgent("customer", "", asterisk.params.sip_port, ring_ms=300)
    customer.hang_up_after_ms = 2000
    customer.port = free_tcp_udp_port("127.0.0.1")
    center = Center(app_factory, asterisk, database_url, tmp_path)
    center.outbound_uri = f"sip:127.0.0.1:{customer.port}"
    try:
        customer.start(register=False)
        center.agent("solo")
        center.queue("help", ["solo"], callback_key="*")
        center.start("help")
        center.phone("solo")
        center.api("POST", "/api/agents/solo/login", {"reason": "briefing"})  # paused
        first, later = "+15558000007", "+15558000008"
        asked = call_in_background(center, first, 0, keys=((1500, "*"), (1500, "1")))
        time.sleep(1.0)
        waits = call_in_background(center, later, 14000)
        wait_until(
            lambda: query(database_url, "SELECT 1 FROM callback_requests WHERE number = %s", first),
            20,
            what="the callback request",
        )
        result = asked.result(timeout=30)
        assert result.ok, result.output
        center.api("POST", "/api/agents/solo/resume")
        result = waits.result(timeout=60)
        assert result.ok, result.output
        (asked_row,) = calls(database_url, first, 1)
        assert asked_row["queue_exit"] == "callback" and asked_row["outcome"] == "callback"
        kinds = [e["type"] for e in events(database_url, asked_row["id"])]
        assert "CALLBACK" in kinds and "ABANDON" not in kinds
        back = wait_until(
            lambda: query(
                database_url,
                "SELECT * FROM calls WHERE dialed_number = %s AND direction = 'outbound' "
                "AND ended_at IS NOT NULL",
                first,
            ),
            30,
            what="the call back",
        )[0]
        assert back["agent"] == "solo" and back["queue"] == "help"
        (later_row,) = calls(database_url, later, 1)
        # The caller who came later did not jump ahead of the callback.
        assert later_row["connected_at"] > back["connected_at"]
        status = query(
            database_url, "SELECT status FROM callback_requests WHERE number = %s", first
        )
        assert status == [{"status": "done"}]
    finally:
        customer.stop()
        center.close()
        forget_acd(database_url)


def test_position_announcements_and_overflow_on_max_wait(center: Center, database_url: str) -> None:
    center.agent("busy")
    center.agent("spare")
    center.queue("spare-queue", ["spare"])
    # "You are now first in line..." lasts 5.4 s; the next comes a second after it ends:
    # at about 1 s and 7.5 s, and the third would be at 14 s, after the maximum wait.
    center.queue(
        "main", ["busy"], announce_seconds=1, max_wait_seconds=11, overflow_queue="spare-queue"
    )
    center.start("main")
    center.phone("spare")
    center.login("spare")  # "busy" never logs in: nobody answers in main
    caller = "+15558000009"
    done = call_in_background(center, caller, 16000)
    result = done.result(timeout=60)
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    steps = events(database_url, row["id"])
    kinds = [e["type"] for e in steps]
    announcements = [e for e in steps if e["type"] == "ANNOUNCE"]
    assert len(announcements) == 2, kinds
    assert all(a["data"]["position"] == 1 and a["data"]["queue"] == "main" for a in announcements)
    timeout = next(e["data"] for e in steps if e["type"] == "EXITWITHTIMEOUT")
    assert timeout["queue"] == "main" and 10.5 <= timeout["waittime"] <= 12.5
    entered = [e["data"]["queue"] for e in steps if e["type"] == "ENTERQUEUE"]
    assert entered == ["main", "spare-queue"]
    assert kinds.index("EXITWITHTIMEOUT") < kinds.index("CONNECT")
    assert row["agent"] == "spare" and row["queue"] == "spare-queue"


def test_screen_pop_shows_a_repeat_callers_history(center: Center, database_url: str) -> None:
    center.agent("pia")
    center.queue("desk", ["pia"])
    center.start("desk")
    center.phone("pia")
    # Operators drive agent states from the CLI, through the running app's API.
    cli = CliRunner()
    assert center.app is not None
    env = {k: center.app.env[k] for k in ("SWITCHBOARD_API_PORT", "SWITCHBOARD_API_TOKEN")}
    done = cli.invoke(main_app, ["agents", "login", "pia", "--paused", "briefing"], env=env)
    assert done.exit_code == 0 and "paused" in done.output, done.output
    refused = cli.invoke(main_app, ["agents", "logout", "nobody"], env=env)
    assert refused.exit_code == 1 and "no agent 'nobody'" in refused.output
    done = cli.invoke(main_app, ["agents", "resume", "pia"], env=env)
    assert done.exit_code == 0 and "available" in done.output, done.output
    caller = "+15558000010"
    first = call_in_background(center, caller, 1500)
    assert first.result(timeout=60).ok
    (first_row,) = calls(database_url, caller, 1)
    wait_state(center, "pia", "available")
    assert center.state("pia")["call"] is None
    assert center.app is not None
    port = center.app.env["SWITCHBOARD_API_PORT"]
    token = center.app.env["SWITCHBOARD_API_TOKEN"]
    stream = urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/agents/pia/events?token={token}", timeout=20
    )
    hello = json.loads(stream.readline().decode().removeprefix("data: "))
    assert hello["type"] == "hello" and hello["state"] == "available"
    second = call_in_background(center, caller, 3000)
    offer = None
    while offer is None:
        line = stream.readline().decode().strip()
        if line.startswith("data: "):
            message = json.loads(line.removeprefix("data: "))
            if message["type"] == "offer":
                offer = message["call"]
    stream.close()
    assert offer["caller_number"] == caller and offer["queue"] == "desk"
    assert offer["repeat_caller"] is True
    assert offer["recent_calls"][0]["call_id"] == str(first_row["id"])
    assert offer["recent_calls"][0]["agent"] == "pia"
    wait_state(center, "pia", "on_call")
    shown = center.state("pia")["call"]
    assert shown["repeat_caller"] is True and shown["call_id"] == offer["call_id"]
    assert second.result(timeout=60).ok
    wait_state(center, "pia", "available")
    assert center.state("pia")["call"] is None


def test_feature_codes_from_the_agents_own_phone(center: Center, database_url: str) -> None:
    center.agent("fay")
    center.queue("codes", ["fay"])
    center.start("codes")
    phone = center.phone("fay")
    phone.dial("*51")
    assert center.state("fay")["state"] == "available"
    phone.dial("*53")
    assert center.state("fay")["state"] == "paused"
    assert center.state("fay")["pause_reason"] == "feature code"
    phone.dial("*54")
    assert center.state("fay")["state"] == "available"
    phone.dial("*51")  # already logged in: refused, nothing changes
    assert center.state("fay")["state"] == "available"
    phone.dial("*52")
    assert center.state("fay")["state"] == "logged_out"
    kinds = [
        r["type"]
        for r in query(
            database_url,
            "SELECT type FROM agent_events WHERE agent = 'fay' "
            "AND type NOT IN ('PHONEBUSY', 'PHONEFREE') ORDER BY occurred_at, id",
        )
    ]
    assert kinds == ["REGISTERED", "AGENTLOGIN", "PAUSE", "UNPAUSE", "AGENTLOGOFF"]


def test_supervisor_joins_and_transfer_to_an_outside_number(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, tmp_path: Path
) -> None:
    forget_acd(database_url)
    outside = SippAgent("outside", "", asterisk.params.sip_port, ring_ms=200)
    outside.port = free_tcp_udp_port("127.0.0.1")
    center = Center(app_factory, asterisk, database_url, tmp_path)
    center.outbound_uri = f"sip:127.0.0.1:{outside.port}"
    try:
        outside.start(register=False)
        center.agent("kim")
        center.agent("sam")  # the supervisor
        center.queue("sales2", ["kim"])
        center.start("sales2")
        center.phone("kim")
        center.phone("sam")
        center.login("kim")
        caller = "+15558000012"
        done = call_in_background(center, caller, 15000)
        wait_state(center, "kim", "on_call")
        status, answer = post(center, "/api/supervisors/nobody/join", {"agent": "kim"})
        assert status == 404
        assert post(center, "/api/supervisors/sam/join", {"agent": "kim"}) == (
            200,
            {"ringing": "sam", "mode": "barge"},
        )
        wait_until(
            lambda: "SUPERVISORJOIN" in kinds_of(database_url, caller), 10, what="supervisor"
        )
        status, answer = post(center, "/api/agents/kim/call/transfer", {"target": "number:12x"})
        assert status == 400 and "not a phone number" in answer["error"]
        status, answer = post(
            center, "/api/agents/kim/call/transfer", {"target": "number:+15550001111"}
        )
        assert status == 200, answer
        wait_state(center, "kim", "available")
        wait_until(
            lambda: kinds_of(database_url, caller).count("CONNECT") >= 2,
            15,
            what="the outside party answering",
        )
        result = done.result(timeout=60)
        assert result.ok, " ".join(kinds_of(database_url, caller))
        (row,) = calls(database_url, caller, 1)
        steps = events(database_url, row["id"])
        kinds = [e["type"] for e in steps]
        assert kinds.index("SUPERVISORJOIN") < kinds.index("BLINDTRANSFER")
        blind = next(e["data"] for e in steps if e["type"] == "BLINDTRANSFER")
        assert blind["target"] == "number:+15550001111" and blind["agent"] == "kim"
        # The outside party answered and talked to the caller until the caller hung up.
        connects = [e["data"] for e in steps if e["type"] == "CONNECT"]
        assert connects[-1]["agent"] == "number:+15550001111"
        assert "SUPERVISORLEAVE" in kinds
    finally:
        outside.stop()
        center.close()
        forget_acd(database_url)


def kinds_of(database_url: str, caller: str) -> list[str]:
    rows = query(
        database_url,
        "SELECT e.type FROM call_events e JOIN calls c ON c.id = e.call_id "
        "WHERE c.caller_number = %s ORDER BY e.occurred_at, e.id",
        caller,
    )
    return [r["type"] for r in rows]


def test_empty_queue_and_unregistered_phone_never_leave_a_caller_in_silence(
    center: Center, database_url: str
) -> None:
    center.agent("ghost")  # logged in, but no softphone registered
    center.queue("nobody", [])
    center.queue("phantom", ["ghost"])
    center.start("nobody")
    center.login("ghost")
    assert center.state("ghost")["registered"] is False
    # A queue without members refuses the caller: the flow's on_unavailable plays and hangs up.
    caller = "+15558000013"
    done = call_in_background(center, caller, 0)
    assert done.result(timeout=60).ok
    (row,) = calls(database_url, caller, 1)
    steps = events(database_url, row["id"])
    refused = next(e["data"] for e in steps if e["type"] == "JOINREFUSED")
    assert refused["reason"] == "joinempty" and refused["queue"] == "nobody"
    assert row["ivr_path"] == ["to_queue", "sorry"] and row["hangup_party"] == "system"
    # A member whose phone is not registered is never rung.
    assert center.app is not None
    flows = center.tmp / "flows" / "front.yaml"
    flows.write_text(FLOW % "phantom")
    center.app.wait_for("ivr.flows_loaded", 10, 2)
    caller = "+15558000014"
    done = call_in_background(center, caller, 3000)
    assert done.result(timeout=60).ok
    (row,) = calls(database_url, caller, 1)
    assert row["queue"] == "phantom" and row["queue_exit"] == "abandoned"
    rung = query(
        database_url, "SELECT 1 FROM agent_events WHERE agent = 'ghost' AND type = 'RINGING'"
    )
    assert rung == []


def test_full_queue_refuses_and_a_key_leaves_it(center: Center, database_url: str) -> None:
    center.agent("off")  # never logs in: nobody answers
    center.queue("small", ["off"], max_callers=1, exit_key="0")
    center.start("small")
    first, second = "+15558000015", "+15558000016"
    waiting = call_in_background(center, first, 0, keys=((4000, "0"),))
    time.sleep(1.5)
    refused = call_in_background(center, second, 0)
    assert refused.result(timeout=60).ok
    (row,) = calls(database_url, second, 1)
    reason = next(e["data"] for e in events(database_url, row["id"]) if e["type"] == "JOINREFUSED")
    assert reason["reason"] == "full" and row["ivr_path"] == ["to_queue", "sorry"]
    assert waiting.result(timeout=60).ok
    (row,) = calls(database_url, first, 1)
    assert row["queue_exit"] == "exitkey" and row["hangup_party"] == "system"
    left = next(e["data"] for e in events(database_url, row["id"]) if e["type"] == "EXITWITHKEY")
    assert left["key"] == "0" and 3.0 <= left["waittime"] <= 5.5


def test_max_wait_offers_a_callback_first(center: Center, database_url: str) -> None:
    center.agent("late")  # never logs in
    center.queue("busyline", ["late"], max_wait_seconds=2, callback_key="*")
    center.start("busyline")
    caller = "+15558000017"
    # At the maximum wait the caller is offered a callback, and takes it with 1.
    done = call_in_background(center, caller, 0, keys=((6000, "1"),))
    assert done.result(timeout=60).ok
    (row,) = calls(database_url, caller, 1)
    kinds = [e["type"] for e in events(database_url, row["id"])]
    assert kinds.index("CALLBACKOFFER") < kinds.index("CALLBACK")
    assert "EXITWITHTIMEOUT" not in kinds and "ABANDON" not in kinds
    assert row["queue_exit"] == "callback"
    pending = query(database_url, "SELECT status FROM callback_requests WHERE number = %s", caller)
    assert pending == [{"status": "pending"}]


def test_an_agent_on_a_call_of_their_own_gets_no_offer(center: Center, database_url: str) -> None:
    center.agent("own")
    center.queue("direct", ["own"])
    center.start("direct")
    center.phone("own")
    center.login("own")
    # Someone rings the agent's phone directly (not through a queue), and she answers.
    p = center.asterisk.params
    request = urllib.request.Request(
        f"http://127.0.0.1:{p.http_port}/ari/channels?endpoint=PJSIP/own"
        "&context=switchboard-selftest&extension=hold&priority=1&channelId=personal-call",
        method="POST",
    )
    token = base64.b64encode(f"{p.ari_user}:{p.ari_password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    urllib.request.urlopen(request, timeout=10).close()
    wait_until(
        lambda: query(
            database_url, "SELECT 1 FROM agent_events WHERE agent = 'own' AND type = 'PHONEBUSY'"
        ),
        10,
        what="the phone seen busy",
    )
    caller = "+15558000018"
    done = call_in_background(center, caller, 6000)
    time.sleep(3)
    assert center.state("own")["state"] == "available"  # not offered while on her own call
    hang_up = urllib.request.Request(
        f"http://127.0.0.1:{p.http_port}/ari/channels/personal-call", method="DELETE"
    )
    hang_up.add_header("Authorization", f"Basic {token}")
    urllib.request.urlopen(hang_up, timeout=10).close()
    wait_state(center, "own", "on_call", 10)  # free again: the waiting caller gets her
    assert done.result(timeout=60).ok
    (row,) = calls(database_url, caller, 1)
    assert row["agent"] == "own" and (row["connected_at"] - row["queued_at"]).total_seconds() > 3


def test_provisioning_from_the_cli(database_url: str) -> None:
    forget_acd(database_url)
    cli = CliRunner()
    env = {"DATABASE_URL": database_url}

    def run(*args: str) -> Any:
        return cli.invoke(main_app, list(args), env=env)

    added = run("agents", "add", "lea", "--name", "Léa Dupont", "--skill", "french=90")
    assert added.exit_code == 0 and "password" in added.output, added.output
    secret = query(database_url, "SELECT sip_secret FROM agents WHERE name = 'lea'")[0]
    assert len(secret["sip_secret"]) >= 20 and secret["sip_secret"] in added.output
    assert run("agents", "add", "lea").exit_code == 1
    assert "already exists" in run("agents", "add", "lea").output
    assert run("agents", "add", "Bad Name").exit_code == 1
    assert "level is a whole number" in run("agents", "add", "x1", "--skill", "french=200").output
    made = run("queues", "add", "fr", "--strategy", "skills", "--wrap-up", "5", "--record")
    assert made.exit_code == 0, made.output
    assert "one of ringall" in run("queues", "add", "q2", "--strategy", "nope").output
    assert run("queues", "add-member", "fr", "lea", "--penalty", "1").exit_code == 0
    assert "no agent 'ghost'" in run("queues", "add-member", "fr", "ghost").output
    assert "cannot overflow into itself" in run("queues", "set", "fr", "--overflow", "fr").output
    listed = run("queues", "list")
    assert "fr" in listed.output and "lea(1)" in listed.output and "skills" in listed.output
    agents = run("agents", "list")
    assert "lea" in agents.output and "french=90" in agents.output and "fr" in agents.output
    row = query(database_url, "SELECT strategy, wrap_up_seconds, record_calls FROM queues")[0]
    assert row == {"strategy": "skills", "wrap_up_seconds": 5.0, "record_calls": True}
    assert run("agents", "remove", "lea").exit_code == 0
    assert query(database_url, "SELECT * FROM queue_members") == []
    forget_acd(database_url)
