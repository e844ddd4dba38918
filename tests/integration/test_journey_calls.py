"""Journeys on real calls: a caller overflows from one queue to another and hangs up there;
another is answered, transferred to a second queue and answered there by a second agent.
The queue visits and agent segments the app writes, the reports per queue and per agent,
and Asterisk's own CDR for the same channels must agree."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from callcenter.reports.metrics import MetricParams
from db.call_query import queue_log_lines
from db.metrics_query import agent_metrics, queue_metrics
from tests.integration.test_acd_calls import (
    Center,
    call_in_background,
    calls,
    center,
    post,
    wait_state,
)
from tests.support import query, wait_until

pytestmark = pytest.mark.integration
__all__ = ["center"]  # the fixture, used by name


def visits(url: str, call_id: Any) -> list[dict[str, Any]]:
    return query(url, "SELECT * FROM queue_visits WHERE call_id = %s ORDER BY seq", call_id)


def segments(url: str, call_id: Any) -> list[dict[str, Any]]:
    return query(url, "SELECT * FROM agent_segments WHERE call_id = %s ORDER BY seq", call_id)


def near(a: Any, b: Any, within: float = 1.0) -> bool:
    gap = a - b
    seconds = gap.total_seconds() if isinstance(gap, timedelta) else float(gap)
    return abs(seconds) < within


def test_overflow_and_transfer_journeys_and_their_figures(
    center: Center, database_url: str
) -> None:
    # Agents and queues of this test only: the session's database has other tests' calls
    # (an "ann" of another file answered 8 calls today, and the report per agent counts them).
    for name in ("jghost", "jann", "jbob"):
        center.agent(name)
    center.queue("jbackup", ["jghost"])
    center.queue("jcare", ["jghost"], max_wait_seconds=3, overflow_queue="jbackup")
    center.queue("jsales", ["jann"])
    center.queue("jbilling", ["jbob"])
    center.start("jcare")
    center.phone("jann")
    center.phone("jbob")
    center.login("jann", "jbob")

    # 1. Waits 3 s in jcare (nobody logged in), overflows to jbackup, hangs up there.
    lost = "+15558200001"
    first = call_in_background(center, lost, 6000)
    assert first.result(timeout=60).ok
    (gone,) = calls(database_url, lost, 1)
    care, backup = visits(database_url, gone["id"])
    assert (care["queue"], care["exit"], backup["queue"], backup["exit"]) == (
        "jcare",
        "overflow",
        "jbackup",
        "abandoned",
    )
    assert 2.5 <= care["wait_seconds"] <= 4.5
    assert near(backup["left_at"], gone["ended_at"])
    # queue_log as app_queue writes it: each queue's own ENTERQUEUE and exit, with its wait.
    with center.engine.connect() as connection:
        lines = [
            line.split("|")
            for line in queue_log_lines(connection, since=gone["arrived_at"])
            if line.split("|")[1] == str(gone["linkedid"] or gone["id"])
        ]
    assert [(f[2], f[4]) for f in lines] == [
        ("jcare", "ENTERQUEUE"),
        ("jcare", "EXITWITHTIMEOUT"),
        ("jbackup", "ENTERQUEUE"),
        ("jbackup", "ABANDON"),
    ]
    assert int(lines[1][7]) == round(care["wait_seconds"])  # pos|origpos|waittime
    assert int(lines[3][7]) == round(backup["wait_seconds"])

    # 2. Answered in jsales by ann, who transfers the caller to jbilling after ~2 s; bob
    # answers; the caller hangs up 10 s after the start.
    flows = center.tmp / "flows" / "front.yaml"
    flows.write_text(flows.read_text().replace("queue: jcare", "queue: jsales"))
    time.sleep(2.5)  # the flow reloads (SWITCHBOARD_FLOWS_POLL_SECONDS 2)
    caller = "+15558200002"
    done = call_in_background(center, caller, 10000)
    wait_state(center, "jann", "on_call")
    time.sleep(2)
    status, answer = post(center, "/api/agents/jann/call/transfer", {"target": "queue:jbilling"})
    assert status == 200, answer
    assert done.result(timeout=60).ok
    (row,) = calls(database_url, caller, 1)
    wait_until(
        lambda: all(s["ended_at"] for s in segments(database_url, row["id"])),
        5,
        what="both segments closed",
    )
    sales, billing = visits(database_url, row["id"])
    ann, bob = segments(database_url, row["id"])
    assert (sales["queue"], sales["exit"], sales["agent"]) == ("jsales", "answered", "jann")
    assert (billing["queue"], billing["exit"], billing["agent"]) == ("jbilling", "answered", "jbob")
    assert (ann["agent"], ann["end_reason"], bob["agent"], bob["end_reason"]) == (
        "jann",
        "transfer",
        "jbob",
        "caller",
    )
    # ann talked from her answer to the transfer (~2 s), bob from his to the hang-up; the
    # wait in jbilling is nobody's talk.
    assert 1.5 <= ann["talk_seconds"] <= 4.0
    assert near(ann["ended_at"], billing["entered_at"])
    assert near(bob["ended_at"], row["ended_at"])
    assert near(bob["talk_seconds"], (row["ended_at"] - bob["answered_at"]).total_seconds())

    # Asterisk's CDR: each agent's own leg was answered when their segment says; the
    # caller's lines bridged to that agent (dstchannel) end when the segment ends (ann's at
    # the transfer, bob's at the hang-up); the caller's channel spans the call.
    cdr = center.asterisk.cdr_rows()
    legs = query(database_url, "SELECT * FROM call_legs WHERE call_id = %s", row["id"])
    caller_lines = [c for c in cdr if c.uniqueid == row["channel_id"]]
    for segment in (ann, bob):
        (leg,) = [
            leg
            for leg in legs
            if leg["role"] == "agent"
            and leg["answered_at"] is not None
            and f"-{segment['agent']}-" in leg["channel_id"]
        ]
        own = [c for c in cdr if c.uniqueid == leg["channel_id"]]
        assert own, f"no CDR for {leg['channel_id']}"
        assert near(min(c.answer or 0 for c in own), segment["answered_at"].timestamp())
        bridged = [c for c in caller_lines if c.dstchannel == leg["channel_name"]]
        assert bridged, f"no CDR line of the caller with {leg['channel_name']}"
        assert near(max(c.end or 0 for c in bridged), segment["ended_at"].timestamp())
    assert near(min(c.start or 0 for c in caller_lines), row["arrived_at"].timestamp())
    assert near(max(c.end or 0 for c in caller_lines), row["ended_at"].timestamp())

    # The reports, per queue and per agent, from these journeys.
    engine = center.engine
    day_start = row["arrived_at"].replace(hour=0, minute=0, second=0, microsecond=0)
    if gone["arrived_at"] < day_start:  # (a test run across midnight UTC)
        day_start -= timedelta(days=1)
    end = day_start + timedelta(days=2)
    by_queue = {r.group: r for r in queue_metrics(engine, day_start, end, MetricParams(),
                                                  fill=False)}  # fmt: skip
    assert (by_queue["jcare"].offered, by_queue["jcare"].overflowed) == (1, 1)
    assert (by_queue["jbackup"].offered, by_queue["jbackup"].abandoned) == (1, 1)
    assert (by_queue["jsales"].answered, by_queue["jsales"].transfers) == (1, 1)
    assert by_queue["jsales"].asa == pytest.approx(sales["wait_seconds"])
    assert by_queue["jbilling"].asa == pytest.approx(billing["wait_seconds"])
    assert by_queue["jsales"].avg_talk == pytest.approx(ann["talk_seconds"])
    assert by_queue["jbilling"].avg_talk == pytest.approx(bob["talk_seconds"])
    by_agent = {r.group: r for r in agent_metrics(engine, day_start, end, MetricParams(),
                                                  fill=False)}  # fmt: skip
    assert (by_agent["jann"].answered, by_agent["jann"].transfers) == (1, 1)
    assert by_agent["jann"].avg_talk == pytest.approx(ann["talk_seconds"])
    assert by_agent["jbob"].avg_talk == pytest.approx(bob["talk_seconds"])
    # Nothing of either call is counted twice, and nothing went to the wrong queue.
    assert sum(r.offered for r in by_queue.values() if r.group.startswith("j")) == 4
