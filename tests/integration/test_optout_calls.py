"""The abandoned-call message on a real call: a person answers, no agent is free, they hear
the campaign's message (the seller's recording, the number to call back, "press 9") and
press 9: their number is on the company do-not-call list at once, for 5 years."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from testkit.callees import SippCallees
from tests.integration.test_acd_calls import Center
from tests.integration.test_acd_calls import center as center
from tests.integration.test_campaign_calls import callees as callees
from tests.integration.test_campaign_calls import clean as clean
from tests.integration.test_campaign_calls import cli, ended_attempts, phone, start_app
from tests.support import query, wait_until

pytestmark = pytest.mark.integration


def test_the_drop_message_offers_an_opt_out_that_works_at_once(
    center: Center, database_url: str, callees: SippCallees, clean: None, tmp_path: Path
) -> None:
    center.outbound_uri = callees.uri
    center.agent("pat")
    center.queue("outq", ["pat"])
    cli(
        database_url,
        "campaign", "create", "acme", "--queue", "outq", "--caller-id", "+12125550000",
        "--amd", "hangup", "--seller", "Acme Ltd", "--message", "sound:vm-goodbye",
        "--retry", "dropped=1m",
    )  # fmt: skip
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text("phone\n+12125550406\n")  # says hello, presses 9 four seconds later
    cli(database_url, "campaign", "import", "acme", str(leads_csv))
    start_app(center)
    phone(center, "pat", ring_ms=None)  # rings, never answers: the live answer is a drop
    center.login("pat")
    cli(database_url, "campaign", "start", "acme")
    # The callee presses 9 in the middle of the message: by then the drop is in the
    # database for every dialer's budget, though the call goes on.
    wait_until(
        lambda: query(database_url, "SELECT 1 FROM dnc_entries WHERE number = %s", "+12125550406"),
        60,
        what="the opt-out on the do-not-call list",
    )
    (during,) = query(database_url, "SELECT * FROM dial_attempts WHERE campaign = 'acme'")
    assert during["live"] and during["dropped"], during
    attempt = ended_attempts(database_url, "acme", 1, 60)["+12125550406"]
    assert attempt["result"] == "dropped" and attempt["live"] and attempt["message_played"]
    (entry,) = wait_until(
        lambda: query(database_url, "SELECT * FROM dnc_entries WHERE number = %s", "+12125550406"),
        10,
        what="the opt-out on the do-not-call list",
    )
    assert entry["list_name"] == "internal" and entry["call_id"] == attempt["call_id"]
    assert entry["expires_at"] - entry["added_at"] == timedelta(days=5 * 365 + 1)
    kinds = [
        e["type"]
        for e in query(
            database_url,
            "SELECT type FROM call_events WHERE call_id = %s ORDER BY occurred_at, id",
            attempt["call_id"],
        )
    ]
    assert kinds.index("DROPPED") < kinds.index("OPTOUT")
    check = cli(database_url, "dnc", "check", "+12125550406", code=1)  # 1: on a list
    assert "internal" in check
    # (The gate refuses every number on a list before it is dialed: test_campaign_calls and
    # test_campaign_claims prove it; this campaign is over its abandonment limit anyway.)
    assert callees.calls_by_number() == {"+12125550406": 1}
