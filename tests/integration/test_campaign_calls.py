"""Outbound campaigns on real calls: the dialer places calls through Asterisk 22 and the
outbound trunk to sipp customers (who answer, are busy, or never answer, by the number's last
digit) and hands live answers to sipp agents. The rules hold: a number on the do-not-call
list and a lead outside its calling hours (an injected clock) are never dialed; a live answer
with no agent within 2 s hears the message and counts as abandoned; two app instances on one
database dial each lead exactly once (sipp's own trace is the witness)."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pbx.ports import free_port
from switchboard.cli.main import app as main_app
from testkit.agents import SippAgent
from testkit.callees import SippCallees
from tests.integration.test_acd_calls import FLOW, Center, post
from tests.integration.test_acd_calls import center as center
from tests.support import AppProcess, query, wait_until

pytestmark = pytest.mark.integration

# 14:00 in New York, 03:00 the next morning in Tokyo.
NOW = datetime.fromisoformat("2026-06-10T18:00:00+00:00")
TABLES = ("dial_attempts", "leads", "campaigns", "dnc_entries", "dnc_lists")


def cli(database_url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(
        main_app,
        list(args),
        env={"DATABASE_URL": database_url, "SWITCHBOARD_BUSINESS_CLOCK_START": NOW.isoformat()},
    )
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def callees() -> Iterator[SippCallees]:
    made = SippCallees(ring_ms=300).start()
    yield made
    made.stop()


@pytest.fixture
def clean(database_url: str) -> Iterator[None]:
    for table in TABLES:
        query(database_url, f"DELETE FROM {table}")
    yield None
    for table in TABLES:
        query(database_url, f"DELETE FROM {table}")


def start_app(center: Center, name: str = "app", **extra: str) -> AppProcess:
    flows = center.tmp / "flows"
    flows.mkdir(exist_ok=True)
    (flows / "front.yaml").write_text(FLOW % "outq")
    app = center.app_factory(
        name,
        SWITCHBOARD_FLOWS_DIR=str(flows),
        SWITCHBOARD_OUTBOUND_URI=center.outbound_uri,
        SWITCHBOARD_BUSINESS_CLOCK_START=NOW.isoformat(),
        **extra,
    )
    app.start()
    app.wait_for("acd.endpoints_pushed")
    center.app = app
    return app


def phone(center: Center, name: str, **settings: Any) -> SippAgent:
    made = SippAgent(name, center.secrets[name], center.asterisk.params.sip_port, **settings)
    made.start()
    center.phones.append(made)
    wait_until(lambda: center.state(name)["registered"], 10, what=f"{name} registered")
    return made


def attempts(database_url: str, campaign: str) -> list[dict[str, Any]]:
    return query(
        database_url,
        "SELECT * FROM dial_attempts WHERE campaign = %s ORDER BY placed_at",
        campaign,
    )


def ended_attempts(database_url: str, campaign: str, count: int, timeout: float) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        rows = [a for a in attempts(database_url, campaign) if a["result"] != "dialing"]
        return {a["number"]: a for a in rows} if len(rows) >= count else None

    return wait_until(ended, timeout, what=f"{count} ended attempts")


def coded_calls(database_url: str, campaign: str, count: int) -> list[dict[str, Any]]:
    """The campaign's ended calls with their system code (set as each call ends, which may be
    a moment after its attempt is written)."""

    def found() -> list[dict[str, Any]] | None:
        rows = query(
            database_url,
            "SELECT c.*, d.code FROM calls c JOIN call_dispositions d ON d.call_id = c.id "
            "WHERE c.campaign = %s AND d.set_by = 'system' AND c.ended_at IS NOT NULL",
            campaign,
        )
        return rows if len(rows) >= count else None

    return wait_until(found, 15, what=f"{count} coded calls")


def leads(database_url: str, campaign: str) -> dict[str, dict[str, Any]]:
    rows = query(database_url, "SELECT * FROM leads WHERE campaign = %s", campaign)
    return {r["number"]: r for r in rows}


def test_progressive_campaign_dials_by_the_rules(
    center: Center,
    database_url: str,
    callees: SippCallees,
    clean: None,
    tmp_path: Path,
) -> None:
    center.outbound_uri = callees.uri
    center.agent("olga")
    center.queue("outq", ["olga"])
    cli(
        database_url,
        "campaign", "create", "spring", "--queue", "outq", "--caller-id", "+1 212 555 0000",
        "--caller-name", "Acme", "--ring-seconds", "15", "--retry", "busy=1h",
        "--max-attempts", "3", "--dispositions", "default", "--seller", "Acme Ltd",
        "--message", "sound:vm-goodbye",
    )  # fmt: skip
    cli(database_url, "dnc", "add", "+12125550111", "--reason", "asked us")
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text(
        "phone,name,tz\n"
        "+1 212 555 0101,Ann,America/New_York\n"  # answers
        "(212) 555-0102,Bob,America/New_York\n"  # busy
        "212.555.0103,Cy,America/New_York\n"  # rings, never answers
        "+12125550111,Dee,America/New_York\n"  # on the do-not-call list
        "+12125550121,Eiji,Asia/Tokyo\n"  # 03:00 where they are
    )
    out = cli(
        database_url,
        "campaign", "import", "spring", str(leads_csv), "--map", "number=phone",
        "--map", "timezone=tz",
    )  # fmt: skip
    assert "5" in out
    start_app(center)
    phone(center, "olga", ring_ms=200, hang_up_after_ms=1500)
    center.login("olga")
    out = cli(database_url, "campaign", "start", "spring")
    assert "may be called now" in out, out

    done = ended_attempts(database_url, "spring", 3, 60)
    assert set(done) == {"+12125550101", "+12125550102", "+12125550103"}
    answered, busy, unanswered = (done[f"+1212555010{d}"] for d in "123")
    assert answered["result"] == "connected" and answered["agent"] == "olga"
    assert answered["live"] and not answered["dropped"]
    assert (answered["connected_at"] - answered["answered_at"]).total_seconds() < 2
    assert busy["result"] == "busy" and not busy["live"]
    assert unanswered["result"] == "no_answer" and unanswered["ring_seconds"] >= 14.5

    # What became of each lead; nobody on the DNC list or outside their hours was dialed.
    by_number = leads(database_url, "spring")
    assert by_number["+12125550101"]["state"] == "done"
    retry = by_number["+12125550102"]
    assert retry["state"] == "pending" and retry["priority"] == 1
    assert timedelta(minutes=55) < retry["next_attempt_at"] - NOW < timedelta(minutes=70)
    assert by_number["+12125550103"]["state"] == "done"  # no retry on no answer here
    dnc = by_number["+12125550111"]
    assert dnc["state"] == "done" and dnc["closed_reason"].startswith("dnc_internal")
    far = by_number["+12125550121"]
    assert far["state"] == "pending" and far["attempts"] == 0
    assert far["next_attempt_at"] >= datetime.fromisoformat("2026-06-10T23:00:00+00:00")
    assert callees.calls_by_number() == {
        "+12125550101": 1,
        "+12125550102": 1,
        "+12125550103": 1,
    }

    # Every attempt is a call record of its own, with the platform's code.
    rows = coded_calls(database_url, "spring", 3)
    codes = {r["dialed_number"]: r["code"] for r in rows}
    assert codes == {
        "+12125550101": "answered",
        "+12125550102": "busy",
        "+12125550103": "no_answer",
    }
    assert all(r["direction"] == "outbound" and r["ended_at"] is not None for r in rows)

    status = json.loads(cli(database_url, "campaign", "status", "spring", "--json"))
    assert status["live_24h"] == 1 and status["drops_24h"] == 0
    assert status["abandonment_24h"] == 0.0
    assert status["leads_left"] == 2 and status["leads_done"] == 3

    # The agent codes the call "callback" (the default set: in 24 h): the lead comes back,
    # due then, ahead of every other lead; a code from outside the campaign's set is refused.
    code, answer = post(center, "/api/agents/olga/disposition", {"code": "nope"})
    assert code == 422 and "unknown code" in answer["error"]
    code, answer = post(center, "/api/agents/olga/disposition", {"code": "callback"})
    assert code == 200, answer
    again = leads(database_url, "spring")["+12125550101"]
    assert again["state"] == "pending" and again["priority"] == 0
    assert timedelta(hours=23) < again["next_attempt_at"] - NOW < timedelta(hours=25)
    actions = query(
        database_url,
        "SELECT type, data FROM call_events WHERE call_id = %s AND type LIKE 'ACTION_%%'",
        answered["call_id"],
    )
    assert [a["type"] for a in actions] == ["ACTION_CALLBACK"]
    assert actions[0]["data"]["lead"] == again["id"]


def test_live_answer_without_an_agent_hears_the_message_and_counts_as_abandoned(
    center: Center,
    database_url: str,
    callees: SippCallees,
    clean: None,
    tmp_path: Path,
) -> None:
    center.outbound_uri = callees.uri
    center.agent("pat")
    center.queue("outq", ["pat"])
    cli(
        database_url,
        "campaign", "create", "late", "--queue", "outq", "--caller-id", "+12125550000",
        "--ring-seconds", "15", "--seller", "Acme Ltd", "--message", "sound:vm-goodbye",
    )  # fmt: skip
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text("phone\n+12125550201\n")
    cli(database_url, "campaign", "import", "late", str(leads_csv))
    start_app(center)
    phone(center, "pat", ring_ms=None)  # rings, never answers: no agent within 2 s
    center.login("pat")
    cli(database_url, "campaign", "start", "late")

    done = ended_attempts(database_url, "late", 1, 40)
    attempt = done["+12125550201"]
    assert attempt["result"] == "dropped" and attempt["live"] and attempt["dropped"]
    assert attempt["message_played"]
    assert attempt["agent"] is None
    # The attempt is written once the message is over; the call ends with the hangup after.
    call = wait_until(
        lambda: next(
            iter(
                query(
                    database_url,
                    "SELECT * FROM calls WHERE attempt_id = %s AND ended_at IS NOT NULL",
                    attempt["id"],
                )
            ),
            None,
        ),
        10,
        what="the ended call",
    )
    assert call["outcome"] == "dropped" and call["queue_exit"] == "timeout"
    types = [
        e["type"]
        for e in query(
            database_url,
            "SELECT type FROM call_events WHERE call_id = %s ORDER BY occurred_at, id",
            call["id"],
        )
    ]
    assert "DROPPED" in types and "EXITWITHTIMEOUT" in types
    # The message was heard to its end before the hangup: over 2 s after the answer.
    assert (call["ended_at"] - call["answered_at"]).total_seconds() > 2.5
    code = query(
        database_url,
        "SELECT code FROM call_dispositions WHERE call_id = %s AND set_by = 'system'",
        call["id"],
    )
    assert [c["code"] for c in code] == ["dropped"]
    status = json.loads(cli(database_url, "campaign", "status", "late", "--json"))
    assert status["drops_24h"] == 1 and status["abandonment_24h"] == 1.0


def test_two_instances_dial_500_leads_each_exactly_once(
    center: Center,
    database_url: str,
    callees: SippCallees,
    clean: None,
    tmp_path: Path,
) -> None:
    center.outbound_uri = callees.uri
    names = ["a1", "a2", "a3", "a4"]
    for name in names:
        center.agent(name)
    center.queue("outq", names)
    cli(
        database_url,
        "campaign", "create", "blitz", "--queue", "outq", "--caller-id", "+12125550000",
        "--ring-seconds", "15", "--max-attempts", "1", "--max-calls-24h", "1",
        "--seller", "Acme Ltd", "--message", "sound:vm-goodbye",
    )  # fmt: skip
    numbers = [f"+1212555{n:03d}2" for n in range(500)]  # busy, every one
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text("phone\n" + "\n".join(numbers) + "\n")
    cli(database_url, "campaign", "import", "blitz", str(leads_csv))
    first = start_app(center, "one")
    node = center.asterisk.params.node_id
    second = start_app(
        center,
        "two",
        SWITCHBOARD_NODE_ID=f"{node}-two",
        SWITCHBOARD_ARI_APP="switchboard-two",
        SWITCHBOARD_AGI_PORT=str(free_port()),
    )
    for name in names:
        phone(center, name)
    for app in (first, second):
        center.app = app
        center.login(*names)
    cli(database_url, "campaign", "start", "blitz")

    done = ended_attempts(database_url, "blitz", 500, 180)
    rows = attempts(database_url, "blitz")
    assert len(rows) == 500 and set(done) == set(numbers)
    assert {r["result"] for r in rows} == {"busy"}
    per_node = {r["node_id"] for r in rows}
    assert per_node == {node, f"{node}-two"}, per_node
    received = callees.calls_by_number()
    assert set(received) == set(numbers) and set(received.values()) == {1}
    left = leads(database_url, "blitz")
    assert all(lead["state"] == "done" and lead["attempts"] == 1 for lead in left.values())


def get(center: Center, path: str) -> tuple[int, Any]:
    try:
        return 200, center.api("GET", path)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_preview_the_agent_sees_the_lead_then_dials_or_skips(
    center: Center,
    database_url: str,
    callees: SippCallees,
    clean: None,
    tmp_path: Path,
) -> None:
    center.outbound_uri = callees.uri
    center.agent("vic")
    center.queue("outq", ["vic"])
    cli(
        database_url,
        "campaign", "create", "look", "--queue", "outq", "--caller-id", "+12125550000",
        "--mode", "preview", "--retry", "busy=30m",
    )  # fmt: skip
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text("phone,name,plan\n+12125550301,Val,gold\n+12125550302,Wes,silver\n")
    cli(database_url, "campaign", "import", "look", str(leads_csv))
    start_app(center)
    phone(center, "vic", ring_ms=200, hang_up_after_ms=1500)
    center.login("vic")
    status, answer = get(center, "/api/agents/vic/preview")
    assert status == 409 and "no running preview campaign" in answer["error"]
    cli(database_url, "campaign", "start", "look")

    status, shown = get(center, "/api/agents/vic/preview")
    assert status == 200 and shown["lead"]["number"] == "+12125550301", shown
    assert shown["lead"]["name"] == "Val" and shown["lead"]["data"] == {"plan": "gold"}
    # Skipped: nothing was dialed, the lead is free again and counts against no cap.
    status, _ = post(center, "/api/agents/vic/preview/skip")
    assert status == 200
    assert attempts(database_url, "look") == []
    assert leads(database_url, "look")["+12125550301"]["attempts"] == 0
    status, shown = get(center, "/api/agents/vic/preview")
    assert shown["lead"]["number"] == "+12125550301"
    status, answer = post(center, "/api/agents/vic/preview/dial")
    assert status == 200, answer
    done = ended_attempts(database_url, "look", 1, 30)
    talked = done["+12125550301"]
    assert talked["result"] == "connected" and talked["agent"] == "vic" and not talked["dropped"]
    (call,) = query(database_url, "SELECT * FROM calls WHERE attempt_id = %s", talked["id"])
    assert call["agent"] == "vic" and call["connected_at"] is not None

    # The next lead is busy: the agent is freed, the lead retried later.
    wait_until(lambda: center.state("vic")["state"] == "available", 15, what="vic available")
    status, shown = get(center, "/api/agents/vic/preview")
    assert shown["lead"]["number"] == "+12125550302"
    status, answer = post(center, "/api/agents/vic/preview/dial")
    assert status == 200, answer
    done = ended_attempts(database_url, "look", 2, 30)
    assert done["+12125550302"]["result"] == "busy"
    wait_until(lambda: center.state("vic")["state"] == "available", 15, what="vic freed")
    assert leads(database_url, "look")["+12125550302"]["state"] == "pending"
    status, shown = get(center, "/api/agents/vic/preview")
    assert status == 200 and shown["lead"] is None  # the busy one is not due yet


def test_answering_machines_are_detected_and_people_reach_the_agent(
    center: Center,
    database_url: str,
    callees: SippCallees,
    clean: None,
    tmp_path: Path,
) -> None:
    center.outbound_uri = callees.uri
    center.agent("max")
    center.queue("outq", ["max"])
    cli(
        database_url,
        "campaign", "create", "robo", "--queue", "outq", "--caller-id", "+12125550000",
        "--amd", "hangup", "--seller", "Acme Ltd", "--message", "sound:vm-goodbye",
    )  # fmt: skip
    leads_csv = tmp_path / "leads.csv"
    # A machine's long greeting; a person's short "hello" and then quiet.
    leads_csv.write_text("phone\n+12125550404\n+12125550405\n")
    cli(database_url, "campaign", "import", "robo", str(leads_csv))
    start_app(center)
    phone(center, "max", ring_ms=200, hang_up_after_ms=1500)
    center.login("max")
    cli(database_url, "campaign", "start", "robo")

    done = ended_attempts(database_url, "robo", 2, 60)
    machine, person = done["+12125550404"], done["+12125550405"]
    assert machine["result"] == "machine" and machine["amd_status"] == "MACHINE", machine
    assert not machine["live"] and machine["agent"] is None
    assert person["result"] == "connected" and person["amd_status"] == "HUMAN", person["amd_cause"]
    assert person["live"] and person["agent"] == "max"
    rows = coded_calls(database_url, "robo", 2)
    codes = {r["dialed_number"]: (r["outcome"], r["code"]) for r in rows}
    assert codes["+12125550404"] == ("machine", "answering_machine")
    assert codes["+12125550405"][1] == "answered"
