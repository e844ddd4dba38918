"""`switchboard report ...` and db/metrics_query.py on a fixed set of calls written straight
into a migrated database, checked against figures computed by hand.

Every record is in March 2003, far from anything other tests write; names start with ``rq-``
(queues), ``rp-`` (agents, campaign) and everything is deleted after each test.

T = 20 s, short abandons < 5 s, FCR window 7 days. Times are UTC; Europe/Paris is UTC+1 in
March 2003. ``arrived_at`` is 5 s before ``queued_at``.

rq-sales (inbound):
  S1  03-03 09:00:00  answered by rp-ann after 10 s; talk 300 s incl. 30 s hold (1 hold) ->
      talk 270, hold 30, wrap-up 60; caller +33100000001, who calls again (S9) within 7 days
  S2  03-03 09:10:00  answered by rp-ben after 30 s; talk 120, no hold, wrap-up 30; blind
      transfer; caller +33100000002, no repeat
  S3  03-03 09:20:00  abandoned after 3 s (short); +33100000003
  S4  03-03 09:30:00  (exactly on a 30 min boundary) abandoned after 45 s; caller "anonymous"
  (10:00-10:30: no call)
  S6  03-03 10:30:00  took a callback after 60 s (not an abandon); +33100000004
  S7  03-03 10:45:00  answered by rp-ann after exactly 20 s; 120 s incl. 2 holds of 20 s
      total -> talk 100, hold 20, wrap-up 0; no caller number (NULL)
  S8  03-03 23:30:00  (03-04 00:30 in Paris) answered by rp-ben after 5 s; talk 60, wrap-up
      10; +33100000005, who calls again 03-11 12:00 (R1: after the 7-day window)
  S9  03-04 08:00:00  answered by rp-ann after 8 s; talk 200, hold 0 (0 holds), wrap-up 20;
      caller "+33 1 00 00 00 01" (S1's number, written differently)
  R1  03-11 12:00:00  abandoned after 30 s (outside every report period)
rq-help (inbound, only abandons):
  H1  03-03 14:00:00  abandoned after 2 s (short); H2 03-03 14:10:00 abandoned after 60 s
Not offered: I1 03-03 09:15:00 an inbound call that ended in the IVR (no queue).
Campaign rp-camp (outbound), attempts on 03-03: A1 10:00 connected (live) -> O1 rp-ann talk
100 wrap-up 20; A2 10:10 connected (live) -> O2 rp-ben 210 s incl. 10 s hold, no wrap-up;
A3 10:20 live, dropped -> O3 (outcome dropped); A4 10:30 no answer; A5 10:40 machine.
rp-cid is an agent with no calls.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from callcenter.calls.numbers import normalize
from callcenter.reports.metrics import Interval, MetricParams, MetricRow, SlVariant
from db.engine import sync_engine
from db.metrics_query import (
    Grouping,
    agent_metrics,
    campaign_metrics,
    queue_metrics,
    survey_metrics,
    survey_table_exists,
)
from switchboard.cli.reports import report_app
from tests.support import query

pytestmark = pytest.mark.integration

NODE = "reports-test"
PARIS = "Europe/Paris"
NS = uuid.UUID("5e9f0c1a-0000-4000-8000-000000000000")


def cid(name: str) -> uuid.UUID:
    return uuid.uuid5(NS, name)


def utc(day: int, hh: int, mm: int, ss: float = 0) -> datetime:
    return datetime(2003, 3, day, hh, mm, tzinfo=UTC) + timedelta(seconds=ss)


def paris(day: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(2003, 3, day, hh, mm, tzinfo=ZoneInfo(PARIS))


def approx(value: float | None) -> Any:
    return None if value is None else pytest.approx(value)


# --- the records ---------------------------------------------------------------------------


def insert(url: str, table: str, **values: Any) -> None:
    names = ", ".join(values)
    marks = ", ".join("%s::jsonb" if k == "data" else "%s" for k in values)
    row = [json.dumps(v) if k == "data" else v for k, v in values.items()]
    query(url, f"INSERT INTO {table} ({names}) VALUES ({marks})", *row)


def queued_call(
    url: str,
    name: str,
    queue: str,
    queued: datetime,
    *,
    number: str | None,
    wait: float,
    exit_: str,
    agent: str | None = None,
    span: float = 0,
    hold: float | None = None,
    holds: int | None = None,
    wrap: float = 0,
    transferred: bool = False,
) -> None:
    """An inbound call queued at ``queued`` that left the queue ``wait`` s later; answered:
    ``span`` s with the agent (hold included), then ``wrap`` s of wrap-up. Its journey: one
    visit to the queue and, answered, the agent's segment (offered as they answered)."""
    left = queued + timedelta(seconds=wait)
    answered = exit_ == "connected"
    talk_end = left + timedelta(seconds=span)
    insert(
        url,
        "calls",
        id=cid(name),
        node_id=NODE,
        channel_id=f"rp-{name}",
        direction="inbound",
        caller_number=number,
        arrived_at=queued - timedelta(seconds=5),
        answered_at=queued - timedelta(seconds=4),
        ended_at=talk_end if answered else left,
        queue=queue,
        queued_at=queued,
        queue_exit=exit_,
        queue_left_at=left,
        agent=agent,
        connected_at=left if answered else None,
        hold_seconds=hold,
        hold_count=holds,
        talk_ended_at=talk_end if answered else None,
        wrap_up_ended_at=talk_end + timedelta(seconds=wrap) if answered else None,
        outcome="completed" if answered else exit_,
        caller_e164=normalize(number, "FR"),
    )
    insert(
        url,
        "queue_visits",
        id=uuid.uuid5(cid(name), "visit-1"),
        call_id=cid(name),
        seq=1,
        queue=queue,
        entered_at=queued,
        left_at=left,
        exit="answered" if answered else exit_,
        agent=agent,
    )
    if answered:
        insert(
            url,
            "agent_segments",
            id=uuid.uuid5(cid(name), "segment-1"),
            call_id=cid(name),
            seq=1,
            agent=agent,
            kind="queue",
            queue=queue,
            visit_seq=1,
            offered_at=left,
            answered_at=left,
            ended_at=talk_end,
            end_reason="transfer" if transferred else "caller",
            hold_seconds=hold or 0,
            hold_count=holds or 0,
            wrap_up_ended_at=talk_end + timedelta(seconds=wrap),
        )


def outbound_call(
    url: str, name: str, at: datetime, agent: str | None, span: float, hold: float, wrap: float
) -> None:
    connected = at + timedelta(seconds=10)
    talk_end = connected + timedelta(seconds=span)
    insert(
        url,
        "calls",
        id=cid(name),
        node_id=NODE,
        channel_id=f"rp-{name}",
        direction="outbound",
        caller_number="+33999999999",
        arrived_at=at,
        answered_at=connected,
        ended_at=talk_end,
        campaign="rp-camp",
        agent=agent,
        connected_at=connected if agent else None,
        hold_seconds=hold if agent else None,
        hold_count=1 if hold else None,
        talk_ended_at=talk_end if agent else None,
        wrap_up_ended_at=talk_end + timedelta(seconds=wrap) if agent else None,
        outcome="completed" if agent else "dropped",
    )


def attempt(url: str, name: str, at: datetime, result: str, *, live: bool = False) -> None:
    insert(
        url,
        "dial_attempts",
        id=cid("attempt-" + name),
        campaign="rp-camp",
        number="+33999999999",
        node_id=NODE,
        call_id=cid(name) if result in ("connected", "dropped") else None,
        channel_id=f"rp-attempt-{name}",
        placed_at=at,
        result=result,
        live=live,
        dropped=result == "dropped",
        mode="progressive",
    )


def cleanup(url: str) -> None:
    query(url, "DELETE FROM call_events WHERE node_id = %s", NODE)
    query(url, "DELETE FROM dial_attempts WHERE node_id = %s", NODE)
    query(url, "DELETE FROM calls WHERE node_id = %s", NODE)
    query(url, "DELETE FROM nodes WHERE id = %s", NODE)


@pytest.fixture
def records(database_url: str) -> Iterator[str]:
    url = database_url
    cleanup(url)
    query(url, "INSERT INTO nodes (id, hostname) VALUES (%s, 'test')", NODE)
    sales, helpq = "rq-sales", "rq-help"
    queued_call(url, "S1", sales, utc(3, 9, 0), number="+33100000001", wait=10,
                exit_="connected", agent="rp-ann", span=300, hold=30, holds=1, wrap=60)  # fmt: skip
    queued_call(url, "S2", sales, utc(3, 9, 10), number="+33100000002", wait=30,
                exit_="connected", agent="rp-ben", span=120, wrap=30,
                transferred=True)  # fmt: skip
    insert(
        url,
        "call_events",
        call_id=cid("S2"),
        node_id=NODE,
        occurred_at=utc(3, 9, 11),
        type="BLINDTRANSFER",
        data={"target": "queue:rq-help", "queue": sales, "agent": "rp-ben"},
    )
    queued_call(url, "S3", sales, utc(3, 9, 20), number="+33100000003", wait=3, exit_="abandoned")
    queued_call(url, "S4", sales, utc(3, 9, 30), number="anonymous", wait=45, exit_="abandoned")
    queued_call(url, "S6", sales, utc(3, 10, 30), number="+33100000004", wait=60, exit_="callback")
    queued_call(url, "S7", sales, utc(3, 10, 45), number=None, wait=20,
                exit_="connected", agent="rp-ann", span=120, hold=20, holds=2, wrap=0)  # fmt: skip
    queued_call(url, "S8", sales, utc(3, 23, 30), number="+33100000005", wait=5,
                exit_="connected", agent="rp-ben", span=60, wrap=10)  # fmt: skip
    queued_call(url, "S9", sales, utc(4, 8, 0), number="+33 1 00 00 00 01", wait=8,
                exit_="connected", agent="rp-ann", span=200, hold=0, holds=0, wrap=20)  # fmt: skip
    queued_call(url, "R1", sales, utc(11, 12, 0), number="+33100000005", wait=30,
                exit_="abandoned")  # fmt: skip
    queued_call(url, "H1", helpq, utc(3, 14, 0), number="+33100000010", wait=2, exit_="abandoned")
    queued_call(url, "H2", helpq, utc(3, 14, 10), number="+33100000011", wait=60, exit_="abandoned")
    insert(url, "calls", id=cid("I1"), node_id=NODE, channel_id="rp-I1", direction="inbound",
           caller_number="+33100000099", arrived_at=utc(3, 9, 15), ended_at=utc(3, 9, 16),
           outcome="completed")  # fmt: skip

    outbound_call(url, "O1", utc(3, 10, 0), "rp-ann", span=100, hold=0, wrap=20)
    outbound_call(url, "O2", utc(3, 10, 10), "rp-ben", span=210, hold=10, wrap=0)
    outbound_call(url, "O3", utc(3, 10, 20), None, span=0, hold=0, wrap=0)
    attempt(url, "O1", utc(3, 10, 0), "connected", live=True)
    attempt(url, "O2", utc(3, 10, 10), "connected", live=True)
    attempt(url, "O3", utc(3, 10, 20), "dropped", live=True)
    attempt(url, "A4", utc(3, 10, 30), "no_answer")
    attempt(url, "A5", utc(3, 10, 40), "machine")
    yield url
    cleanup(url)


@pytest.fixture
def engine(records: str) -> Iterator[Engine]:
    sync = sync_engine(records.replace("postgresql://", "postgresql+psycopg://", 1))
    yield sync
    sync.dispose()


# --- expected figures ------------------------------------------------------------------------

FIELDS = (
    "offered", "answered", "answered_within_t", "abandoned", "short_abandons", "callbacks",
    "transfers", "holds", "handled", "asa", "aht", "avg_talk", "avg_hold", "avg_wrap_up",
    "abandonment_rate", "fcr", "fcr_contacts",
)  # fmt: skip
# The four service levels, in SlVariant order: answered, offered, short_abandons_excluded,
# short_abandons_count_for.
VARIANTS = tuple(SlVariant)


def expect(
    offered: int = 0,
    answered: int = 0,
    answered_within_t: int = 0,
    abandoned: int = 0,
    short_abandons: int = 0,
    callbacks: int = 0,
    transfers: int = 0,
    holds: int = 0,
    handled: int = 0,
    asa: float | None = None,
    aht: float | None = None,
    avg_talk: float | None = None,
    avg_hold: float | None = None,
    avg_wrap_up: float | None = None,
    abandonment_rate: float | None = None,
    fcr: float | None = None,
    fcr_contacts: int = 0,
    sl: tuple[float | None, float | None, float | None, float | None] = (None,) * 4,
) -> dict[str, Any]:
    figures = dict(locals())
    return figures


def check(row: MetricRow, group: str, start: datetime, figures: dict[str, Any]) -> None:
    assert (row.group, row.interval_start) == (group, start)
    assert row.interval_start.utcoffset() == start.utcoffset()
    got = {f: getattr(row, f) for f in FIELDS}
    want = {f: approx(figures[f]) if isinstance(figures[f], float) else figures[f] for f in FIELDS}
    assert got == want, f"{group} {start}"
    levels = tuple(row.service_level_as(v) for v in VARIANTS)
    assert levels == tuple(approx(v) for v in figures["sl"]), f"{group} {start} SL"


SALES_DAY1_UTC = expect(
    offered=7,  # S1 S2 S3 S4 S6 S7 S8 (not I1: never queued)
    answered=4,  # S1 S2 S7 S8
    answered_within_t=3,  # S1 (10 s), S7 (20 s, on the threshold), S8 (5 s); not S2 (30 s)
    abandoned=2,  # S3 S4 (S6 took a callback)
    short_abandons=1,  # S3 (3 s)
    callbacks=1,  # S6
    transfers=1,  # S2
    holds=3,  # S1 1 + S7 2
    handled=4,
    asa=65 / 4,  # (10 + 30 + 20 + 5) / 4 = 16.25
    aht=700 / 4,  # talk 270+120+100+60=550, hold 30+0+20+0=50, wrap 60+30+0+10=100 -> 175
    avg_talk=550 / 4,
    avg_hold=50 / 4,
    avg_wrap_up=100 / 4,
    abandonment_rate=1 / 6,  # (2 - 1 short) / (7 - 1 short)
    fcr=2 / 3,  # S1 repeated by S9; S2 and S8 (repeat after 8 days) resolved; S7 anonymous
    fcr_contacts=3,
    # 3/4, 3/(4+2), 3/(4+2-1), (3+1)/(4+2)
    sl=(0.75, 0.5, 0.6, 4 / 6),
)
SALES_DAY2_UTC = expect(
    offered=1, answered=1, answered_within_t=1, handled=1,  # S9
    asa=8.0, aht=220.0, avg_talk=200.0, avg_hold=0.0, avg_wrap_up=20.0,  # 200 + 0 + 20
    abandonment_rate=0.0,  # 0 / 1
    fcr=1.0, fcr_contacts=1,  # S9: nobody calls again
    sl=(1.0, 1.0, 1.0, 1.0),
)  # fmt: skip
HELP_DAY1_UTC = expect(
    offered=2, abandoned=2, short_abandons=1,  # H1 (2 s, short), H2 (60 s)
    abandonment_rate=1.0,  # (2 - 1) / (2 - 1)
    # no answers: n/a; 0/(0+2); 0/(0+2-1); (0+1)/(0+2)
    sl=(None, 0.0, 0.0, 0.5),
)  # fmt: skip
EMPTY = expect()  # every share and time n/a, never a division error


def test_queues_by_day_in_utc(engine: Engine) -> None:
    rows = queue_metrics(engine, utc(3, 0, 0), utc(5, 0, 0), MetricParams())
    mine = [r for r in rows if r.group.startswith("rq-")]
    assert [(r.group, r.interval_start.day) for r in mine] == [
        ("rq-help", 3), ("rq-help", 4), ("rq-sales", 3), ("rq-sales", 4),
    ]  # fmt: skip
    check(mine[0], "rq-help", utc(3, 0, 0), HELP_DAY1_UTC)
    check(mine[1], "rq-help", utc(4, 0, 0), EMPTY)  # filled: no call that day
    check(mine[2], "rq-sales", utc(3, 0, 0), SALES_DAY1_UTC)
    check(mine[3], "rq-sales", utc(4, 0, 0), SALES_DAY2_UTC)
    # The row's own service level follows the chosen variant.
    assert mine[2].service_level == pytest.approx(0.75)
    for variant, level in zip(VARIANTS, SALES_DAY1_UTC["sl"], strict=True):
        [row] = queue_metrics(
            engine, utc(3, 0, 0), utc(4, 0, 0), MetricParams(sl_variant=variant), "rq-sales"
        )
        assert row.service_level == pytest.approx(level), variant


def test_queues_by_day_in_paris(engine: Engine) -> None:
    params = MetricParams(tz=PARIS)
    rows = queue_metrics(engine, paris(3), paris(5), params, queue="rq-sales")
    assert len(rows) == 2
    check(
        rows[0],
        "rq-sales",
        paris(3),  # 2003-03-03T00:00+01:00
        expect(
            offered=6,  # S1 S2 S3 S4 S6 S7 (S8 is 00:30 on the 4th in Paris)
            answered=3, answered_within_t=2,  # S1, S7
            abandoned=2, short_abandons=1, callbacks=1, transfers=1, holds=3, handled=3,
            asa=60 / 3,  # (10 + 30 + 20) / 3
            aht=630 / 3,  # talk 270+120+100=490, hold 30+0+20=50, wrap 60+30+0=90
            avg_talk=490 / 3, avg_hold=50 / 3, avg_wrap_up=90 / 3,
            abandonment_rate=1 / 5,  # (2 - 1) / (6 - 1)
            fcr=1 / 2, fcr_contacts=2,  # S1 repeated, S2 not
            sl=(2 / 3, 2 / 5, 2 / 4, 3 / 5),  # 2/3, 2/(3+2), 2/(3+2-1), (2+1)/(3+2)
        ),
    )  # fmt: skip
    check(
        rows[1],
        "rq-sales",
        paris(4),
        expect(
            offered=2, answered=2, answered_within_t=2, handled=2,  # S8 (5 s), S9 (8 s)
            asa=13 / 2,
            aht=290 / 2,  # talk 60+200, hold 0, wrap 10+20
            avg_talk=260 / 2, avg_hold=0.0, avg_wrap_up=30 / 2,
            abandonment_rate=0.0, fcr=1.0, fcr_contacts=2,
            sl=(1.0, 1.0, 1.0, 1.0),
        ),
    )  # fmt: skip
    assert str(rows[0].interval_start) == "2003-03-03 00:00:00+01:00"


BIN_0900 = expect(
    offered=3, answered=2, answered_within_t=1,  # S1 S2 S3; S1 in time
    abandoned=1, short_abandons=1, transfers=1, holds=1, handled=2,
    asa=40 / 2,  # (10 + 30) / 2
    aht=510 / 2,  # talk 270+120, hold 30+0, wrap 60+30
    avg_talk=390 / 2, avg_hold=30 / 2, avg_wrap_up=90 / 2,
    abandonment_rate=0.0,  # (1 - 1) / (3 - 1)
    fcr=1 / 2, fcr_contacts=2,
    sl=(1 / 2, 1 / 3, 1 / 2, 2 / 3),  # 1/2, 1/(2+1), 1/(2+1-1), (1+1)/(2+1)
)  # fmt: skip
BIN_0930 = expect(
    offered=1, abandoned=1,  # S4, queued exactly at 09:30:00, 45 s
    abandonment_rate=1.0,  # (1 - 0) / (1 - 0)
    sl=(None, 0.0, 0.0, 0.0),  # only an abandon: n/a, 0/1, 0/1, 0/1
)  # fmt: skip
BIN_1030 = expect(
    offered=2, answered=1, answered_within_t=1, callbacks=1, holds=2, handled=1,  # S6 S7
    asa=20.0, aht=120.0, avg_talk=100.0, avg_hold=20.0, avg_wrap_up=0.0,
    abandonment_rate=0.0,  # 0 / 2: the callback is no abandon
    fcr=None, fcr_contacts=0,  # S7 has no number
    sl=(1.0, 1.0, 1.0, 1.0),
)  # fmt: skip


@pytest.mark.parametrize("tz", ["UTC", PARIS])
def test_queues_by_half_hour(engine: Engine, tz: str) -> None:
    params = MetricParams(interval=Interval.M30, tz=tz)
    start = utc(3, 9, 0)  # 10:00 in Paris
    rows = queue_metrics(engine, start, utc(3, 11, 0), params)
    mine = [r for r in rows if r.group.startswith("rq-")]  # rq-help: no call then, no rows
    offset = timedelta(hours=1 if tz == PARIS else 0)
    bins = [start + timedelta(minutes=30 * i) for i in range(4)]
    assert [r.interval_start for r in mine] == bins
    assert [r.interval_start.utcoffset() for r in mine] == [offset] * 4
    for row, when, figures in zip(mine, bins, [BIN_0900, BIN_0930, EMPTY, BIN_1030], strict=True):
        check(row, "rq-sales", when.astimezone(row.interval_start.tzinfo), figures)
    assert queue_metrics(engine, start, utc(3, 11, 0), params, fill=False)[1].offered == 1
    unfilled = queue_metrics(engine, start, utc(3, 11, 0), params, "rq-sales", fill=False)
    assert [r.interval_start for r in unfilled] == [bins[0], bins[1], bins[3]]


def test_other_thresholds_and_window(engine: Engine) -> None:
    params = MetricParams(sl_seconds=10, short_abandon_seconds=50, fcr_window=timedelta(days=9))
    [row] = queue_metrics(engine, utc(3, 0, 0), utc(4, 0, 0), params, "rq-sales")
    assert row.answered_within_t == 2  # S1 (10 s), S8 (5 s)
    assert row.short_abandons == 2  # S3 (3 s), S4 (45 s)
    assert row.abandonment_rate == 0.0  # (2 - 2) / (7 - 2)
    assert row.fcr == pytest.approx(1 / 3)  # S8's repeat now within 9 days: only S2 resolved


def test_agents(engine: Engine) -> None:
    rows = agent_metrics(engine, utc(3, 0, 0), utc(5, 0, 0))
    mine = [r for r in rows if r.group.startswith("rp-")]
    assert [(r.group, r.interval_start) for r in mine] == [
        ("rp-ann", utc(3, 0, 0)),
        ("rp-ann", utc(4, 0, 0)),
        ("rp-ben", utc(3, 0, 0)),
        ("rp-ben", utc(4, 0, 0)),
    ]  # fmt: skip  (rp-cid took no call: no row; outbound O1/O2 are not counted here)
    check(mine[0], "rp-ann", utc(3, 0, 0), expect(
        offered=2, answered=2, answered_within_t=2, holds=3, handled=2,  # S1 (10 s), S7 (20 s)
        asa=30 / 2,
        aht=480 / 2,  # talk 270+100, hold 30+20, wrap 60+0
        avg_talk=370 / 2, avg_hold=50 / 2, avg_wrap_up=60 / 2,
        abandonment_rate=0.0,
        fcr=0.0, fcr_contacts=1,  # S1 repeated; S7 anonymous
        sl=(1.0, 1.0, 1.0, 1.0),
    ))  # fmt: skip
    check(mine[1], "rp-ann", utc(4, 0, 0), SALES_DAY2_UTC)  # S9
    check(mine[2], "rp-ben", utc(3, 0, 0), expect(
        offered=2, answered=2, answered_within_t=1, transfers=1, handled=2,  # S2 (30 s), S8
        asa=35 / 2,
        aht=220 / 2,  # talk 120+60, hold 0, wrap 30+10
        avg_talk=180 / 2, avg_hold=0.0, avg_wrap_up=40 / 2,
        abandonment_rate=0.0,
        fcr=1.0, fcr_contacts=2,
        sl=(1 / 2, 1 / 2, 1 / 2, 1 / 2),
    ))  # fmt: skip
    check(mine[3], "rp-ben", utc(4, 0, 0), EMPTY)
    assert agent_metrics(engine, utc(3, 0, 0), utc(5, 0, 0), agent="rp-cid") == []
    # In Paris, S8 (connected 00:30:05 on the 4th) moves to rp-ben's second day.
    ben = agent_metrics(engine, paris(3), paris(5), MetricParams(tz=PARIS), agent="rp-ben")
    assert [(r.interval_start, r.answered, r.asa, r.aht) for r in ben] == [
        (paris(3), 1, 30.0, 150.0),  # S2: 120 + 0 + 30
        (paris(4), 1, 5.0, 70.0),  # S8: 60 + 0 + 10
    ]


def test_campaigns(engine: Engine) -> None:
    [day] = campaign_metrics(engine, utc(3, 0, 0), utc(5, 0, 0), campaign="rp-camp")
    assert day.as_dict() == {
        "group": "rp-camp",
        "interval_start": "2003-03-03T00:00:00+00:00",
        "dials": 5, "live": 3, "dropped": 1, "connects": 2,  # A1..A5; A1 A2 A3 live; A3
        "contacts": 2, "handled": 2,  # O1 O2
        "abandonment_rate": pytest.approx(1 / 3),  # 1 drop / 3 live answers
        "aht": pytest.approx(165.0),  # (100+0+20 + 200+10+0) / 2
        "dials_per_hour": pytest.approx(5 / 24),  # the whole day lies in the period
        "connects_per_hour": pytest.approx(2 / 24),
    }  # fmt: skip
    hours = campaign_metrics(
        engine, utc(3, 10, 0), utc(3, 12, 0), MetricParams(interval=Interval.M60),
        campaign="rp-camp",
    )  # fmt: skip
    assert [(r.interval_start, r.dials, r.dials_per_hour, r.connects_per_hour) for r in hours] == [
        (utc(3, 10, 0), 5, 5.0, 2.0)
    ]
    assert campaign_metrics(engine, utc(4, 0, 0), utc(5, 0, 0), campaign="rp-camp") == []


def test_survey_without_its_table(empty_database_url: str) -> None:
    empty = sync_engine(empty_database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        assert not survey_table_exists(empty)
        assert survey_metrics(empty, Grouping.QUEUE, utc(3, 0, 0), utc(5, 0, 0)) is None
    finally:
        empty.dispose()


def test_survey(engine: Engine) -> None:
    # Answers written in a transaction rolled back at the end (the table: migration 0006).
    with engine.connect() as connection, connection.begin() as transaction:
        connection.execute(text(
            "CREATE TABLE IF NOT EXISTS call_surveys (call_id uuid, agent text, queue text,"
            " rating smallint, resolved boolean, started_at timestamptz,"
            " answered_at timestamptz)"
        ))  # fmt: skip
        for name, agent, rating, resolved, when in (
            ("S1", "rp-ann", 5, False, utc(3, 9, 10)),
            ("S2", "rp-ben", 3, True, utc(3, 9, 20)),
            ("S7", "rp-ann", None, True, utc(3, 11, 0)),
            ("S9", "rp-ann", 4, None, utc(4, 8, 10)),
            ("S8", "rp-ben", None, None, None),  # started, never answered: not counted
        ):
            connection.execute(
                text(
                    "INSERT INTO call_surveys (call_id, agent, queue, rating, resolved,"
                    " started_at, answered_at) VALUES (:c, :a, 'rq-sales', :r, :s, :b, :w)"
                ),
                {
                    "c": cid(name),
                    "a": agent,
                    "r": rating,
                    "s": resolved,
                    "w": when,
                    "b": when or utc(3, 23, 32),
                },
            )
        rows = survey_metrics(
            connection, Grouping.QUEUE, utc(3, 0, 0), utc(5, 0, 0), group="rq-sales"
        )
        assert rows is not None
        assert [r.as_dict() for r in rows] == [
            {
                "group": "rq-sales", "interval_start": "2003-03-03T00:00:00+00:00",
                "surveys": 3, "rated": 2, "satisfied": 1,  # 5 and 3 (S7 not rated)
                "csat": 0.5,  # 1 / 2
                "resolved_answers": 3, "resolved": 2,  # S2, S7 of S1 S2 S7
                "fcr": pytest.approx(2 / 3),
            },
            {
                "group": "rq-sales", "interval_start": "2003-03-04T00:00:00+00:00",
                "surveys": 1, "rated": 1, "satisfied": 1, "csat": 1.0,  # S9: 4
                "resolved_answers": 0, "resolved": 0, "fcr": None,
            },
        ]  # fmt: skip
        by_agent = survey_metrics(connection, Grouping.AGENT, utc(3, 0, 0), utc(4, 0, 0))
        assert by_agent is not None
        assert [(r.group, r.csat, r.fcr) for r in by_agent if r.group.startswith("rp-")] == [
            ("rp-ann", 1.0, 0.5),  # S1: 5, unresolved; S7: resolved
            ("rp-ben", 0.0, 1.0),  # S2: 3, resolved
        ]
        transaction.rollback()


# --- the CLI -----------------------------------------------------------------------------------


def cli(url: str, *args: str) -> Any:
    result = CliRunner().invoke(report_app, list(args), env={"DATABASE_URL": url, "COLUMNS": "250"})
    return result


SALES_DAY = ["--from", "2003-03-03", "--to", "2003-03-03", "--queue", "rq-sales"]


def test_cli_table(records: str) -> None:
    result = cli(records, "queues", *SALES_DAY, "--sl-variant", "offered")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "rq-sales" in out and "2003-03-03" in out
    assert "50.0%" in out  # SL, offered variant: 3 / 6
    assert "16.2s" in out  # ASA 16.25
    assert "175.0s" in out  # AHT
    assert "16.7%" in out  # abandonment rate 1/6
    assert "66.7%" in out  # FCR 2/3
    help_day = cli(records, "queues", "--from", "2003-03-03", "--queue", "rq-help", "--to",
                   "2003-03-03")  # fmt: skip
    assert help_day.exit_code == 0, help_day.output
    assert "n/a" in help_day.output  # SL (answered) and ASA of a day with only abandons
    empty = cli(records, "queues", "--from", "2003-03-01", "--to", "2003-03-02")
    assert empty.exit_code == 0
    assert "no calls in queues from 2003-03-01T00:00:00+00:00" in empty.output
    since = cli(records, "queues", "--from", "2003-03-03", "--queue", "rq-help", "--no-fill")
    assert since.exit_code == 0, since.output  # to the end of today, without empty days
    assert since.output.count("rq-help") == 1
    agents = cli(records, "agents", "--from", "2003-03-03", "--to", "2003-03-04", "--agent",
                 "rp-cid")  # fmt: skip
    assert agents.exit_code == 0 and "no calls taken by agents" in agents.output
    camp = cli(records, "campaigns", "--from", "2003-03-03", "--campaign", "rp-camp", "--to",
               "2003-03-03")  # fmt: skip
    assert camp.exit_code == 0, camp.output
    assert "rp-camp" in camp.output and "33.3%" in camp.output


def test_cli_csv(records: str) -> None:
    result = cli(records, "queues", "--from", "2003-03-03T10:00", "--to", "2003-03-03T12:00",
                 "--tz", PARIS, "--interval", "30m", "--format", "csv",
                 "--sl-variant", "short_abandons_count_for")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    mine = [r for r in rows if r["group"] == "rq-sales"]
    assert [r["interval_start"] for r in mine] == [
        "2003-03-03T10:00:00+01:00", "2003-03-03T10:30:00+01:00",
        "2003-03-03T11:00:00+01:00", "2003-03-03T11:30:00+01:00",
    ]  # fmt: skip
    assert [r["offered"] for r in mine] == ["3", "1", "0", "2"]
    assert [r["service_level"] for r in mine][1:] == ["0.0", "", "1.0"]  # n/a: empty
    assert float(mine[0]["service_level"]) == pytest.approx(2 / 3)  # (1 + 1) / 3
    assert mine[2]["asa"] == "" and mine[3]["asa"] == "20.0"
    empty = cli(records, "queues", "--from", "2003-03-01", "--to", "2003-03-01", "--format", "csv")
    assert empty.exit_code == 0
    assert empty.output.splitlines() == [",".join(MetricRowFields)]


def test_cli_json(records: str) -> None:
    result = cli(records, "agents", "--from", "2003-03-03", "--to", "2003-03-04", "--format",
                 "json", "--sl", "15", "--fcr-window", "24h")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.output) if r["group"].startswith("rp-")]
    ann = rows[0]
    assert (ann["group"], ann["interval_start"]) == ("rp-ann", "2003-03-03T00:00:00+00:00")
    assert ann["answered_within_t"] == 1  # S1 (10 s); S7 waited 20 s > 15
    assert ann["service_level"] == 0.5
    assert ann["fcr"] == 0.0  # S1 repeated by S9 23 h later: within 24 h
    assert ann["aht"] == 240.0
    ben_day2 = rows[3]
    assert ben_day2["group"] == "rp-ben" and ben_day2["asa"] is None
    empty = cli(records, "agents", "--from", "2003-03-01", "--to", "2003-03-01", "--format",
                "json")  # fmt: skip
    assert empty.exit_code == 0 and json.loads(empty.output) == []


def test_cli_rejects_bad_input(records: str) -> None:
    for args, message in (
        (["--interval", "7m"], "interval '7m'"),
        (["--sl-variant", "nope"], "service-level variant 'nope'"),
        (["--tz", "Mars/Olympus"], "unknown time zone"),
        (["--from", "yesterday"], "--from 'yesterday'"),
        (["--from", "2003-03-04", "--to", "2003-03-03"], "must come after"),
        (["--fcr-window", "7x"], "window '7x'"),
        (["--format", "xml"], "--format 'xml'"),
        (["--sl", "0"], "above 0"),
        (["--from", "1990-01-01", "--interval", "15m"], "--no-fill"),  # to today: too many
    ):
        result = cli(records, "queues", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


def test_chart(records: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "sl.png"
    result = cli(records, "chart", "--queue", "rq-sales", "--from", "2003-03-03T08:00",
                 "--to", "2003-03-03T12:00", "--interval", "30m", "--out", str(out),
                 "--width", "900", "--height", "500", "--target", "80")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "8 intervals" in result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (900, 500)
    none = cli(records, "chart", "--queue", "rq-nothing", "--from", "2003-03-03", "--to",
               "2003-03-03", "--out", str(tmp_path / "x.png"))  # fmt: skip
    assert none.exit_code == 1 and not (tmp_path / "x.png").exists()
    assert "no calls in queue rq-nothing" in none.output


MetricRowFields = (
    "group", "interval_start", "offered", "answered", "answered_within_t", "abandoned",
    "short_abandons", "timed_out", "overflowed", "callbacks", "voicemails", "transfers", "holds",
    "handled",
    "service_level", "asa", "aht", "avg_talk", "avg_hold", "avg_wrap_up", "abandonment_rate",
    "fcr", "fcr_contacts", "fcr_open",
)  # fmt: skip


def test_voicemails_count_as_their_own_kind(records: str, engine: Engine) -> None:
    """Queue rq-vm on 2003-03-05 (UTC), by hand:
    - V1 queued 09:00, its wait ran out at 120 s (max wait), then left a message: a visit
      timed out (X) and a voicemail;
    - V2 at 22:00, after hours: the IVR's voicemail node took its message for rq-vm; it
      never queued: a voicemail, not an offered call;
    - V3 queued 09:30, answered after 10 s.
    Offered 2, answered 1 (within 20 s: 1), timed out 1, voicemails 2; service level
    (offered variant) = A_T / (A + B + X) = 1 / (1 + 0 + 1) = 0.5."""
    url = records
    queued_call(url, "V1", "rq-vm", utc(5, 9, 0), number="+33100000021", wait=120,
                exit_="timeout")  # fmt: skip
    queued_call(url, "V3", "rq-vm", utc(5, 9, 30), number="+33100000023", wait=10,
                exit_="connected", agent="rp-ann", span=60)  # fmt: skip
    insert(url, "calls", id=cid("V2"), node_id=NODE, channel_id="rp-V2", direction="inbound",
           caller_number="+33100000022", arrived_at=utc(5, 22, 0), ended_at=utc(5, 22, 1),
           outcome="voicemail")  # fmt: skip
    for name, at in (("V1", utc(5, 9, 2, 10)), ("V2", utc(5, 22, 0, 40))):
        insert(url, "call_events", call_id=cid(name), node_id=NODE, occurred_at=at,
               type="VOICEMAIL", data={"queue": "rq-vm", "seconds": 12.5})  # fmt: skip
    [row] = queue_metrics(
        engine, utc(5, 0, 0), utc(6, 0, 0), MetricParams(sl_variant=SlVariant.OFFERED), "rq-vm"
    )
    assert (row.offered, row.answered, row.timed_out, row.voicemails) == (2, 1, 1, 2)
    assert row.service_level == pytest.approx(0.5)
    # By hour: the after-hours message has its own row, with nothing offered.
    rows = queue_metrics(
        engine, utc(5, 0, 0), utc(6, 0, 0), MetricParams(interval=Interval.M60), "rq-vm", fill=False
    )
    assert [(r.interval_start.hour, r.offered, r.voicemails) for r in rows] == [
        (9, 2, 1),
        (22, 0, 1),
    ]
