"""`switchboard campaign ...` and `switchboard dnc import` against a real PostgreSQL (no
Asterisk): clear refusals of bad settings, state changes, warnings when a campaign starts
with no agent ready or nobody callable now, and the national do-not-call list's age."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchboard.cli.main import app as main_app
from tests.support import query

pytestmark = pytest.mark.integration

# 14:00 in New York; 03:00 the next day in Tokyo.
NOW = "2026-06-10T18:00:00+00:00"
TABLES = ("dial_attempts", "leads", "campaigns", "dnc_entries", "dnc_lists", "queue_members")


def run(database_url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(
        main_app,
        list(args),
        env={"DATABASE_URL": database_url, "SWITCHBOARD_BUSINESS_CLOCK_START": NOW},
    )
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def setup(database_url: str) -> Iterator[None]:
    for table in (*TABLES, "queues", "agents"):
        query(database_url, f"DELETE FROM {table}")
    run(database_url, "queues", "add", "outq")
    yield None
    for table in (*TABLES, "queues", "agents"):
        query(database_url, f"DELETE FROM {table}")


def test_bad_settings_are_refused_with_the_reason(database_url: str, setup: None) -> None:
    def refused(*args: str, says: str, code: int = 1) -> None:
        out = run(database_url, "campaign", "create", "bad", *args, code=code)
        assert says in out, out

    base = ("--queue", "outq", "--caller-id", "+12125550000")
    refused("--queue", "nope", "--caller-id", "+12125550000", says="no queue 'nope'")
    refused("--queue", "outq", "--caller-id", "12", says="caller ID '12'")
    refused(*base, "--ring-seconds", "10", says="at least 15 s")
    refused(*base, "--abandon-limit", "0.1", says="at most 0.03")
    refused(*base, "--abandon-limit", "0.04", says="at most 0.03")  # 4%: over the law's 3%
    refused(*base, "--mode", "turbo", says="preview, progressive, predictive")
    refused(*base, "--amd", "maybe", says="off, hangup, message, agent")
    refused(*base, "--hours", "mon=21:00-08:00", says="calling hours", code=2)
    refused(*base, "--retry", "busy=soon", says="RESULT=DELAY", code=2)
    refused(*base, "--national-dnc", "usa", says="no national do-not-call list 'usa'")
    refused(*base, "--region", "XX", says="region 'XX'")
    run(database_url, "campaign", "create", "good", *base)
    out = run(database_url, "campaign", "create", "good", *base, code=1)
    assert "exists already" in out


def test_states_and_the_warnings_on_start(database_url: str, setup: None, tmp_path: Path) -> None:
    run(database_url, "campaign", "create", "night", "--queue", "outq", "--caller-id",
        "+12125550000", "--seller", "Acme Ltd", "--message", "sound:vm-goodbye")  # fmt: skip
    leads = tmp_path / "leads.csv"
    leads.write_text("phone,tz\n+12125550121,Asia/Tokyo\n+12125550131,Asia/Tokyo\n")
    run(database_url, "campaign", "import", "night", str(leads), "--map", "timezone=tz")
    out = run(database_url, "campaign", "start", "night")
    assert "its queue has no agents" in out
    assert "none of the next 2 leads may be called now" in out
    assert "calling_hours 2" in out and "2026-06-10T23:00" in out
    assert "is running already" in run(database_url, "campaign", "start", "night", code=1)
    run(database_url, "campaign", "pause", "night")
    run(database_url, "campaign", "resume", "night")
    run(database_url, "campaign", "stop", "night")
    assert "resume applies to paused" in run(database_url, "campaign", "resume", "night", code=1)
    status = json.loads(run(database_url, "campaign", "status", "night", "--json"))
    assert status["state"] == "stopped" and status["leads_left"] == 2
    assert status["abandonment_24h"] is None  # no live answer yet: n/a, not a division
    assert "no campaign 'gone'" in run(database_url, "campaign", "status", "gone", code=1)
    table = run(database_url, "campaign", "list")
    assert "night" in table and "stopped" in table


def test_a_stale_national_list_stops_the_start(
    database_url: str, setup: None, tmp_path: Path
) -> None:
    registry = tmp_path / "national.txt"
    registry.write_text("number\n+12125550141\n(212) 555-0142\nnot a number\n")
    out = run(database_url, "dnc", "import", str(registry), "--date", "2026-05-01")
    assert "2 numbers" in out
    run(database_url, "campaign", "create", "reg", "--queue", "outq", "--caller-id",
        "+12125550000", "--national-dnc", "national", "--seller", "Acme Ltd", "--message",
        "sound:vm-goodbye")  # fmt: skip
    out = run(database_url, "campaign", "start", "reg", code=1)
    assert "40 days old" in out and "import a fresh copy" in out
    run(database_url, "dnc", "import", str(registry), "--date", "2026-06-01")
    run(database_url, "campaign", "start", "reg")
    entries = query(
        database_url, "SELECT number FROM dnc_entries WHERE list_name = 'national' ORDER BY 1"
    )
    assert [e["number"] for e in entries] == ["+12125550141", "+12125550142"]


def test_a_dialing_campaign_needs_a_message_that_names_the_seller(
    database_url: str, setup: None
) -> None:
    """47 CFR 64.1200(a)(7) and (b): who drops a call plays a message naming the seller with
    an opt-out; without one the campaign does not start (a preview campaign drops nobody)."""
    base = ("--queue", "outq", "--caller-id", "+12125550000")
    run(database_url, "campaign", "create", "nameless", *base)
    out = run(database_url, "campaign", "start", "nameless", code=1)
    assert "has no seller" in out and "--seller" in out
    run(database_url, "campaign", "set", "nameless", "--seller", "Acme Ltd")
    out = run(database_url, "campaign", "start", "nameless", code=1)
    assert "stock message, which names nobody" in out and "press 9" in out
    run(database_url, "campaign", "set", "nameless", "--message", "sound:acme-sorry",
        "--optout-key", "8")  # fmt: skip
    assert "start done" in run(database_url, "campaign", "start", "nameless")
    run(database_url, "campaign", "create", "look", *base, "--mode", "preview")
    assert "start done" in run(database_url, "campaign", "start", "look")
    out = run(database_url, "campaign", "set", "look", "--optout-key", "99", code=1)
    assert "one key, 0-9, * or #" in out
