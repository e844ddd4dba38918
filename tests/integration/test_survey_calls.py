"""The post-call survey on a real call: the agent hangs up, the caller stays on the line,
rates the call (a key 1-5) and says whether the issue was resolved (1 yes, 2 no); the
answers are stored per call, agent and queue."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from switchboard.cli.main import app as main_app
from testkit.agents import SippAgent
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.integration.test_acd_calls import Center, calls, events
from tests.integration.test_acd_calls import center as center
from tests.support import query, wait_until

pytestmark = pytest.mark.integration


def test_the_caller_rates_the_call_after_the_agent_hangs_up(
    center: Center,
    database_url: str,
) -> None:
    center.agent("sue")
    center.queue("survq", ["sue"], survey=True)
    center.start("survq")
    phone = SippAgent("sue", center.secrets["sue"], center.asterisk.params.sip_port, 200)
    phone.hang_up_after_ms = 1500  # the agent ends the conversation
    phone.start()
    center.phones.append(phone)
    wait_until(lambda: center.state("sue")["registered"], 10, what="sue registered")
    center.login("sue")
    caller = "+15559100001"
    # The survey starts about 2 s after the answer: a 4 (rating), then a 1 (resolved).
    script = CallerScript(caller=caller, keys=((4500, "4"), (3000, "1")), bye_timeout_ms=30000)
    result = asyncio.run(place_calls(center.asterisk.params.sip_port, "5000", script))
    assert result.ok, result.output
    (row,) = calls(database_url, caller, 1)
    assert row["agent"] == "sue" and row["hangup_party"] == "agent"

    def survey() -> list[dict[str, Any]] | None:
        found = query(database_url, "SELECT * FROM call_surveys WHERE call_id = %s", row["id"])
        return found or None

    (answers,) = wait_until(survey, 10, what="the survey row")
    assert answers["rating"] == 4 and answers["resolved"] is True
    assert answers["agent"] == "sue" and answers["queue"] == "survq"
    assert answers["answered_at"] >= answers["started_at"] >= row["talk_ended_at"]
    kinds = [e["type"] for e in events(database_url, row["id"])]
    assert kinds.index("COMPLETEAGENT") < kinds.index("SURVEYSTART") < kinds.index("SURVEY")

    # The same call in the reports, end to end: queue figures and the survey's CSAT and FCR.
    def report(*args: str) -> list[dict[str, Any]]:
        result = CliRunner().invoke(
            main_app, ["report", *args, "--format", "json"], env={"DATABASE_URL": database_url}
        )
        assert result.exit_code == 0, result.output
        rows: list[dict[str, Any]] = json.loads(result.output)
        return rows

    (queue_row,) = [r for r in report("queues", "--queue", "survq") if r["offered"]]
    assert (queue_row["offered"], queue_row["answered"], queue_row["abandoned"]) == (1, 1, 0)
    assert queue_row["service_level"] == 1.0 and queue_row["aht"] > 1
    (survey_row,) = report("survey", "--queue", "survq")
    assert survey_row["csat"] == 1.0 and survey_row["fcr"] == 1.0
