"""The 2-second rule on real calls: a sipp person says a short hello; AMD says HUMAN 800 ms
after it ends; the clock started at the end of the hello. An agent whose phone honours
auto-answer is connected in time though it would ring 3 s; one whose phone rings 1.4 s
whatever it is asked is too late by the rule (in time if the clock started at the verdict),
so the call is a drop: the message, counted as abandoned."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.callees import SippCallees
from tests.integration.test_acd_calls import Center
from tests.integration.test_acd_calls import center as center
from tests.integration.test_campaign_calls import (
    callees as callees,
)
from tests.integration.test_campaign_calls import (
    clean as clean,
)
from tests.integration.test_campaign_calls import (
    cli,
    ended_attempts,
    phone,
    start_app,
)
from tests.support import query

pytestmark = pytest.mark.integration


def run_campaign(
    center: Center, database_url: str, callees: SippCallees, tmp_path: Path, **agent: object
) -> dict[str, object]:
    center.outbound_uri = callees.uri
    center.agent("ava")
    center.queue("outq", ["ava"])
    cli(
        database_url,
        "campaign", "create", "hello", "--queue", "outq", "--caller-id", "+12125550000",
        "--amd", "hangup", "--seller", "Acme Ltd", "--message", "sound:vm-goodbye",
    )  # fmt: skip
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text("phone\n+12125550405\n")  # a person: a short "hello", then quiet
    cli(database_url, "campaign", "import", "hello", str(leads_csv))
    start_app(center)
    phone(center, "ava", hang_up_after_ms=1500, **agent)
    center.login("ava")
    cli(database_url, "campaign", "start", "hello")
    attempt: dict[str, object] = ended_attempts(database_url, "hello", 1, 60)["+12125550405"]
    return attempt


def events_of(database_url: str, call_id: object) -> list[dict[str, object]]:
    return query(
        database_url,
        "SELECT type, data FROM call_events WHERE call_id = %s ORDER BY occurred_at, id",
        call_id,
    )


def test_an_auto_answering_agent_is_connected_within_two_seconds_of_the_greeting(
    center: Center, database_url: str, callees: SippCallees, clean: None, tmp_path: Path
) -> None:
    attempt = run_campaign(center, database_url, callees, tmp_path, ring_ms=3000)
    assert attempt["result"] == "connected" and attempt["amd_status"] == "HUMAN"
    assert attempt["live"] and not attempt["dropped"] and attempt["agent"] == "ava"
    steps = events_of(database_url, attempt["call_id"])
    (live,) = [e["data"] for e in steps if e["type"] == "LIVECONNECT"]
    assert isinstance(live, dict)
    # From the end of the hello to the agent's answer: AMD's 800 ms and the set-up, no ring.
    assert 800 <= live["after_greeting_ms"] < 2000


def test_an_agent_ringing_past_the_two_seconds_makes_a_drop(
    center: Center, database_url: str, callees: SippCallees, clean: None, tmp_path: Path
) -> None:
    attempt = run_campaign(center, database_url, callees, tmp_path, ring_ms=1400, auto_answer=False)
    # 0.8 s (AMD's wait) + 1.4 s of ringing > 2 s from the end of the hello: abandoned.
    assert attempt["result"] == "dropped" and attempt["live"] and attempt["dropped"]
    assert attempt["message_played"]
    kinds = [e["type"] for e in events_of(database_url, attempt["call_id"])]
    assert "EXITWITHTIMEOUT" in kinds and "DROPPED" in kinds and "LIVECONNECT" not in kinds
    status = cli(database_url, "campaign", "status", "hello", "--json")
    assert '"drops_24h": 1' in status
