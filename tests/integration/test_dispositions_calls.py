"""Dispositions on real calls: an agent codes the call in wrap-up (HTTP API and the *55
feature code from their own softphone), bad codes are refused with the reason, a final code
ends wrap-up, actions put the number on the do-not-call list and schedule a callback, and
the callback is held until the do-not-call entry expires (an injected clock), then dialed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from pbx.ports import free_tcp_udp_port
from switchboard.cli.main import app as main_app
from testkit.agents import SippAgent
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.integration.test_acd_calls import (
    Center,
    call_in_background,
    calls,
    center,  # noqa: F401  (the fixture)
    events,
    post,
    wait_state,
)
from tests.support import query, wait_until

pytestmark = pytest.mark.integration

# Quotes, SQL, a backslash and characters from far outside ASCII: stored exactly, harmless.
NAME = "O'Brien \"Bobby\" '); DROP TABLE calls; -- Zoë ☎ 東京"


def sip_quoted(name: str) -> str:
    """The name as a SIP quoted-string, as the (Latin-1) sipp scenario file carries UTF-8."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return escaped.encode("utf-8").decode("iso-8859-1")


def cli(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(main_app, list(args), env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.output


def codes(database_url: str, call_id: object) -> list[dict[str, object]]:
    return query(
        database_url,
        "SELECT code_set, code, set_by, agent FROM call_dispositions WHERE call_id = %s "
        "ORDER BY set_at, id",
        call_id,
    )


@pytest.fixture
def sets(database_url: str) -> Iterator[None]:
    for statement in (
        "DELETE FROM dnc_entries",
        "DELETE FROM callback_requests",
        "DELETE FROM disposition_sets WHERE name IN ('sales', 'other')",
    ):
        query(database_url, statement)
    cli(database_url, "dispositions", "add-set", "sales")
    cli(
        database_url,
        "dispositions", "add", "sales", "sold", "Sale", "--digits", "1", "--success", "--not-final",
    )  # fmt: skip
    cli(
        database_url,
        "dispositions", "add", "sales", "dnc30", "Do not contact for 30 days",
        "--digits", "2", "--dnc", "--action", "dnc:30",
    )  # fmt: skip
    cli(
        database_url,
        "dispositions", "add", "sales", "later", "Call back later",
        "--digits", "3", "--not-final", "--callback", "--action", "callback:60",
    )  # fmt: skip
    cli(database_url, "dispositions", "add-set", "other")
    cli(database_url, "dispositions", "add", "other", "elsewhere", "Another campaign's code")
    yield None
    query(database_url, "DELETE FROM queues")
    query(database_url, "DELETE FROM disposition_sets WHERE name IN ('sales', 'other')")
    query(database_url, "DELETE FROM dnc_entries")
    query(database_url, "DELETE FROM callback_requests")


def test_agent_codes_in_wrap_up_and_the_rules_hold(
    center: Center,  # noqa: F811
    database_url: str,
    sets: object,
) -> None:
    customer = SippAgent("customer", "", center.asterisk.params.sip_port, ring_ms=300)
    customer.hang_up_after_ms = 2000
    customer.port = free_tcp_udp_port("127.0.0.1")
    center.outbound_uri = f"sip:127.0.0.1:{customer.port}"
    center.agent("dee")
    center.agent("eve")
    center.queue("sales", ["dee", "eve"], wrap_up_seconds=60)
    cli(database_url, "queues", "set", "sales", "--dispositions", "sales")
    center.start("sales")
    phone = center.phone("dee")
    center.login("dee")
    caller = "+15558100001"
    script = CallerScript(caller=caller, caller_name=sip_quoted(NAME), hang_up_after_ms=2000)
    result = asyncio.run(place_calls(center.asterisk.params.sip_port, "5000", script))
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    assert row["caller_name"] == NAME  # exactly, every quote and character
    assert row["agent"] == "dee"
    wait_state(center, "dee", "wrap_up")
    call_id = str(row["id"])
    legs = query(
        database_url, "SELECT * FROM call_legs WHERE call_id = %s ORDER BY created_at", row["id"]
    )
    assert [leg["role"] for leg in legs] == ["caller", "agent"]
    agent_leg = legs[1]
    assert agent_leg["channel_name"].startswith("PJSIP/dee")
    assert abs((agent_leg["answered_at"] - row["connected_at"]).total_seconds()) < 1
    assert agent_leg["ended_at"] is not None and agent_leg["hangup_cause"] == 16

    # Refused, with the reason: unknown code, another set's code, someone else's call.
    status, answer = post(center, "/api/agents/dee/disposition", {"code": "nope"})
    assert status == 422 and "unknown code 'nope'" in answer["error"]
    status, answer = post(center, "/api/agents/dee/disposition", {"code": "elsewhere"})
    assert status == 422 and "belongs to other" in answer["error"]
    status, answer = post(center, "/api/agents/eve/disposition", {"code": "sold", "call": call_id})
    assert status == 422 and "not eve's" in answer["error"]
    status, answer = post(center, "/api/agents/dee/disposition", {})
    assert status == 400
    assert [c["code"] for c in codes(database_url, row["id"])] == ["answered"]

    # A code that is not final: noted, and the agent stays in wrap-up.
    status, answer = post(center, "/api/agents/dee/disposition", {"code": "sold"})
    assert status == 200 and answer["call"] == call_id and not answer["wrap_up_ended"]
    assert center.state("dee")["state"] == "wrap_up"

    # The final code, keyed on the phone: *55 then 2 (do not contact for 30 days).
    phone.dial("*552")
    wait_state(center, "dee", "available")
    now = datetime.now(UTC)
    entries = query(database_url, "SELECT * FROM dnc_entries WHERE number = %s", caller)
    assert len(entries) == 1
    expires = entries[0]["expires_at"]
    # A +1 number: the request lasts 5 years whatever dnc:30 says (47 CFR 64.1200(d)(6)).
    assert timedelta(days=1826, seconds=-60) < expires - now < timedelta(days=1827, seconds=60)
    set_codes = codes(database_url, row["id"])
    assert [(c["code"], c["set_by"]) for c in set_codes] == [
        ("answered", "system"),
        ("sold", "agent:dee"),
        ("dnc30", "agent:dee"),
    ]
    final = wait_until(
        lambda: query(
            database_url,
            "SELECT * FROM calls WHERE id = %s AND wrap_up_ended_at IS NOT NULL",
            row["id"],
        ),
        10,
        what="the wrap-up's end on the call",
    )[0]
    # Wrap-up ended when the final code came, well before its 60 s ran out.
    assert 0 <= final["wrap_up_seconds"] < 45
    assert final["talk_seconds"] > 0 and final["wait_seconds"] >= 0
    kinds = [e["type"] for e in events(database_url, row["id"])]
    assert kinds.count("DISPOSITION") == 2 and "ACTION_DNC" in kinds

    # An operator schedules a callback now: the number is on the list, so it is held.
    cli(database_url, "dispositions", "code", call_id, "later", "--callback-at", now.isoformat())
    held = wait_until(
        lambda: query(
            database_url,
            "SELECT * FROM callback_requests WHERE call_id = %s AND due_at > now() + "
            "interval '29 days'",
            row["id"],
        ),
        15,
        what="the callback held by the do-not-call list",
    )[0]
    assert held["status"] == "pending" and held["due_at"] == expires
    # The event goes through the record writer, a moment after the row's own update.
    wait_until(
        lambda: "CALLBACKHELD" in [e["type"] for e in events(database_url, row["id"])],
        10,
        what="the CALLBACKHELD event",
    )
    time.sleep(3)
    assert not query(
        database_url,
        "SELECT 1 FROM calls WHERE direction = 'outbound' AND dialed_number = %s",
        caller,
    )

    # 5 years and a day later (an injected clock): the entry has expired and the callback is
    # dialed, the agent first, then the customer.
    assert center.app is not None
    center.app.stop()
    customer.start(register=False)
    try:
        later = center.app_factory(
            "later",
            SWITCHBOARD_FLOWS_DIR=str(center.tmp / "flows"),
            SWITCHBOARD_OUTBOUND_URI=center.outbound_uri,
            SWITCHBOARD_BUSINESS_CLOCK_START=(expires + timedelta(days=1)).isoformat(),
        )
        later.start()
        center.app = later
        later.wait_for("acd.endpoints_pushed")
        wait_until(lambda: center.state("dee")["registered"], 15, what="dee registered")
        if center.state("dee")["state"] == "logged_out":
            center.login("dee")
        back = wait_until(
            lambda: query(
                database_url,
                "SELECT * FROM calls WHERE direction = 'outbound' AND ended_at IS NOT NULL "
                "AND dialed_number = %s",
                caller,
            ),
            40,
            what="the callback's call",
        )[0]
        assert back["agent"] == "dee" and back["dialed_number"] == caller
        status_rows = query(
            database_url, "SELECT status FROM callback_requests WHERE id = %s", held["id"]
        )
        assert status_rows == [{"status": "done"}]
    finally:
        customer.stop()


def test_a_caller_who_waited_too_long_gets_a_system_code(
    center: Center,  # noqa: F811
    database_url: str,
) -> None:
    center.agent("gone")
    center.queue("empty", ["gone"], max_wait_seconds=2)
    center.start("empty")
    caller = "+15558100002"
    done = call_in_background(center, caller, 0)
    result = done.result(timeout=40)
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    assert row["queue_exit"] == "timeout"
    assert [(c["code"], c["set_by"]) for c in codes(database_url, row["id"])] == [
        ("queue_timeout", "system")
    ]
    assert 1.5 < row["wait_seconds"] < 5


def test_a_callback_the_agent_keeps_is_offered_to_them_only(
    center: Center,  # noqa: F811
    database_url: str,
    sets: object,
) -> None:
    """kit takes a call and codes it "callback" for herself, due 3 s later. lia comes first
    in the queue's linear order and is free, yet the callback rings kit: only she is
    offered it, and the callback's call is hers."""
    customer = SippAgent("customer", "", center.asterisk.params.sip_port, ring_ms=300)
    customer.hang_up_after_ms = 2000
    customer.port = free_tcp_udp_port("127.0.0.1")
    center.outbound_uri = f"sip:127.0.0.1:{customer.port}"
    center.agent("kit")
    center.agent("lia")
    center.queue("keep", ["lia", "kit"], strategy="linear", wrap_up_seconds=1)
    center.start("keep")
    center.phone("kit")
    center.phone("lia")
    center.login("kit")
    caller = "+15558600005"
    script = CallerScript(caller=caller, hang_up_after_ms=1500)
    assert asyncio.run(place_calls(center.asterisk.params.sip_port, "5000", script)).ok
    (row,) = calls(database_url, caller, 1)
    assert row["agent"] == "kit"
    customer.start(register=False)
    try:
        due = datetime.now(UTC) + timedelta(seconds=3)
        body = {"code": "callback", "callback_at": due.isoformat(), "callback_mine": True}
        status, answer = post(center, "/api/agents/kit/disposition", body)
        assert status == 200, answer
        kept = query(
            database_url, "SELECT agent FROM callback_requests WHERE call_id = %s", row["id"]
        )
        assert kept == [{"agent": "kit"}]
        center.login("lia")
        wait_state(center, "kit", "available")
        back = wait_until(
            lambda: query(
                database_url,
                "SELECT * FROM calls WHERE direction = 'outbound' AND ended_at IS NOT NULL "
                "AND dialed_number = %s",
                caller,
            ),
            30,
            what="the callback's call",
        )[0]
        assert back["agent"] == "kit"
        rung = [
            e["data"]["agent"]
            for e in events(database_url, row["id"])
            if e["type"] == "CALLBACKQUEUED" or e["type"] == "RINGING"
            if "agent" in e["data"]
        ]
        assert "lia" not in rung and "kit" in rung
        # A code without a callback cannot keep one.
        status, answer = post(
            center, "/api/agents/kit/disposition", {"code": "sale", "callback_mine": True}
        )
        assert status == 422 and "asks for no callback" in answer["error"]
    finally:
        customer.stop()
