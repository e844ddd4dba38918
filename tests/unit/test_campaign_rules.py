"""The dialer's plain rules: results from hangup causes, what becomes of a lead after an
attempt, and the operator's input for hours, retries and caller IDs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from ari_app.attempt import unanswered_result
from db.campaign_admin import CampaignError, check_caller_id, parse_hours, parse_retries
from db.campaign_store import CampaignConfig, lead_after

NOW = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


def campaign(**changes: object) -> CampaignConfig:
    row = SimpleNamespace(
        name="spring",
        mode="progressive",
        state="running",
        queue="outq",
        caller_id="+12125550000",
        caller_name=None,
        abandon_limit=0.03,
        ring_seconds=25,
        amd="off",
        message_prompt="sound:please-try-call-later",
        max_attempts=3,
        retry_delays={"busy": 600, "no_answer": 3600},
        hours={},
        max_calls_24h=3,
        max_calls_30d=None,
        uk_mode=False,
        national_dnc=None,
        seller_name="Acme Ltd",
        optout_key="9",
    )
    for key, value in changes.items():
        setattr(row, key, value)
    return CampaignConfig.from_row(row)


@pytest.mark.parametrize(
    ("cause", "result"),
    [(17, "busy"), (19, "no_answer"), (18, "no_answer"), (0, "no_answer"), (16, "no_answer"),
     (34, "congestion"), (38, "congestion"), (1, "failed"), (21, "no_answer"), (88, "failed")],
)  # fmt: skip
def test_results_from_causes(cause: int, result: str) -> None:
    assert unanswered_result(cause) == result


def test_a_busy_lead_is_retried_after_its_delay_then_closed_at_the_maximum() -> None:
    c = campaign()
    first = lead_after(c, "busy", 1, NOW)
    assert first["state"] == "pending" and first["priority"] == 1
    assert first["next_attempt_at"] == NOW + timedelta(seconds=600)
    assert first["lease_owner"] is None
    last = lead_after(c, "busy", 3, NOW)
    assert last["state"] == "done" and last["closed_reason"] == "maximum attempts reached"


def test_results_without_a_retry_rule_close_the_lead() -> None:
    closed = lead_after(campaign(), "machine", 1, NOW)
    assert closed["state"] == "done" and closed["closed_reason"] == "no retry for machine"
    connected = lead_after(campaign(), "connected", 1, NOW)
    assert connected["state"] == "done" and connected["closed_reason"] == "connected"


def test_hours_from_the_command_line() -> None:
    hours = parse_hours(["mon-fri=09:00-12:00,13:00-20:00", "sat=10:00-14:00", "sun="], [])
    assert hours["days"]["wed"] == [["09:00", "12:00"], ["13:00", "20:00"]]
    assert hours["days"]["sun"] == []
    assert parse_hours([], ["2026-12-25", "2026-12-25"]) == {"holidays": ["2026-12-25"]}
    for bad in (["fri-mon=09:00-10:00"], ["xyz=09:00-10:00"], ["mon=9-10"], ["mon"]):
        with pytest.raises(CampaignError):
            parse_hours(bad, [])
    with pytest.raises(CampaignError, match="calling hours"):
        parse_hours(["mon=20:00-09:00"], [])


def test_retry_delays_from_the_command_line() -> None:
    assert parse_retries(["busy=10m", "no_answer=2h", "machine=1d", "dropped=90"]) == {
        "busy": 600,
        "no_answer": 7200,
        "machine": 86400,
        "dropped": 90,
    }
    for bad in (["busy"], ["sale=1h"], ["busy=soon"], ["busy=-5"]):
        with pytest.raises(CampaignError):
            parse_retries(bad)


def test_caller_ids_must_be_numbers_callees_can_call_back() -> None:
    assert check_caller_id("(212) 555-0000", "US") == "+12125550000"
    for bad in ("12", "not a number", "+1 999 555 0000"):
        with pytest.raises(CampaignError):
            check_caller_id(bad, "US")
