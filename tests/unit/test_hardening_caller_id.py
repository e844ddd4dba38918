"""Caller IDs as an attacker sends them (hypothesis): SQL, quotes, backslashes, terminal escape
sequences, line ends, NULs and any Unicode go through the real record path (CallRecord, the
record operations, the spool, the writer) into the PostgreSQL test database and come back
exactly, NUL stored as U+FFFD (PostgreSQL refuses NUL in text); the whole record is there; and
`switchboard calls` shows them in a table or CSV without sending a control character to the
terminal, and with no formula a spreadsheet would run."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.calls.record import CallRecord
from db.call_query import LIST_COLUMNS, CallFilter, call_detail, list_calls
from db.call_store import CallStore, call_op, event_op, leg_op, system_disposition_op
from db.engine import async_engine, sync_engine
from db.record_ops import NUL_STORED_AS, RecordOp, decode, encode, storable
from db.spool import Spool
from db.writer import RecordWriter
from switchboard.cli.calls import (
    FORMULA_STARTS,
    PLAIN_NUMBER,
    _calls_table,
    _write_csv,
)
from switchboard.cli.common import visible
from tests.support import query

NODE = "hardening-node"
HOSTILE = [
    "'; DROP TABLE calls;--",
    "Robert'); DROP TABLE calls; --",
    '"',
    "\\",
    '\\"',
    'O\'Brien "Bobby"',
    "\x1b[2J\x1b[31mred\x1b[0m",
    "\x1b]0;pwned\x07",
    "\x9b31m",
    "a\r\nb",
    "\r",
    "\x00",
    "a\x00b",
    '=HYPERLINK("http://x","y")',
    "+15555550100",
    "-2+3",
    "@SUM(A1)",
    "\ufeff",
    "😀👨‍👩‍👧",
    "مرحبا",
    "\u202eevil\u202c",
    "e\u0301",
    "東京 ☎",
    "%s%n",
    "${CALLERID(num)}",
    "[bold]x[/]",
    ":smile:",
]
TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=4).map("".join),
    st.text(max_size=40),  # any Unicode but surrogates (hypothesis never draws them here)
)
CALLER = st.tuples(TEXT, TEXT)  # (number, name)


def stored(value: str) -> str:
    """What PostgreSQL holds for ``value``: the same text, NUL as U+FFFD."""
    return value.replace("\x00", NUL_STORED_AS)


@dataclass
class Harness:
    runner: asyncio.Runner
    engine: AsyncEngine
    writer: RecordWriter
    url: str
    times: Iterator[datetime]


@pytest.fixture(scope="module")
def harness(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    runner = asyncio.Runner()
    engine = async_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    store = CallStore(engine, NODE)
    runner.run(store.register_node("22.0.0"))
    spool = Spool(Path(tmp_path_factory.mktemp("spool")))
    writer = RecordWriter(store.apply, spool)

    async def start() -> None:
        writer.start()

    runner.run(start())
    # Each example's calls in an hour of their own, long ago: found again by time alone.
    hours = (datetime(1999, 1, 1, tzinfo=UTC) + timedelta(hours=n) for n in itertools.count())
    yield Harness(runner, engine, writer, database_url, hours)
    runner.run(writer.stop(timeout=10))
    runner.run(store.close())
    runner.run(engine.dispose())
    runner.close()
    spool.close()


def record(number: str, name: str, at: datetime) -> CallRecord:
    call = CallRecord(
        node_id=NODE,
        channel_id=f"hardening-{uuid.uuid4().hex[:16]}",
        direction="inbound",
        arrived_at=at,
        caller_number=number or None,
        caller_name=name or None,
        dialed_number="800123",
        linkedid=None,
    )
    return call


def write_calls(harness: Harness, callers: list[tuple[str, str]], at: datetime) -> list[CallRecord]:
    """As the app does for a call: the row and its caller leg, ARRIVE, the end, the HANGUP,
    the system's disposition; then wait until the writer has stored all of it."""
    calls = []
    for index, (number, name) in enumerate(callers):
        call = record(number, name, at + timedelta(seconds=index))
        ops: list[RecordOp] = [call_op(call), leg_op(call, f"PJSIP/{name}", "caller")]
        arrive = call.event(call.arrived_at, "ARRIVE", caller=number, dialed="800123", name=name)
        ops.append(event_op(NODE, arrive))
        hangup = call.end(call.arrived_at + timedelta(seconds=5), cause=16, cause_text=name)
        assert hangup is not None
        ops += [call_op(call), event_op(NODE, hangup), system_disposition_op(call, "US")]
        for op in ops:
            assert decode(encode(op)) == op  # the spool's line keeps it exactly
            harness.writer.submit(op)
        calls.append(call)
    assert harness.runner.run(harness.writer.drain(timeout=20))
    assert harness.writer.rejected == []  # nothing set aside: every record is whole
    return calls


@settings(
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
@given(callers=st.lists(CALLER, min_size=1, max_size=6))
@example(callers=[("'; DROP TABLE calls;--", '\x1b[2J\x00O\'Brien "Bobby" \\ 😀 \u202e')])
@example(callers=[("\x00", "\x00"), ("+1555\x00", "=cmd|' /C calc'!A0")])
def test_any_caller_id_is_stored_exactly_and_shown_harmlessly(
    harness: Harness, callers: list[tuple[str, str]]
) -> None:
    start = next(harness.times)
    calls = write_calls(harness, callers, start)

    rows = query(
        harness.url,
        "SELECT * FROM calls WHERE node_id = %s AND arrived_at >= %s AND arrived_at < %s "
        "ORDER BY arrived_at",
        NODE,
        start,
        start + timedelta(hours=1),
    )
    assert [r["id"] for r in rows] == [c.id for c in calls]
    for row, (number, name) in zip(rows, callers, strict=True):
        assert row["caller_number"] == (stored(number) or None)
        assert row["caller_name"] == (stored(name) or None)
        assert row["hangup_cause_text"] == stored(name)
        assert row["ended_at"] is not None and row["outcome"] == "unanswered"
        legs = query(harness.url, "SELECT * FROM call_legs WHERE call_id = %s", row["id"])
        assert [leg["channel_name"] for leg in legs] == [stored(f"PJSIP/{name}")]
        events = query(
            harness.url,
            "SELECT type, data FROM call_events WHERE call_id = %s ORDER BY occurred_at, id",
            row["id"],
        )
        assert [e["type"] for e in events] == ["ARRIVE", "HANGUP"]
        assert events[0]["data"] == {
            "caller": stored(number),
            "dialed": "800123",
            "name": stored(name),
        }
        codes = query(
            harness.url, "SELECT code FROM call_dispositions WHERE call_id = %s", row["id"]
        )
        assert len(codes) == 1

    # What `switchboard calls list` and `calls export` make of them.
    with sync_engine(harness.url).connect() as conn:
        listed = list_calls(conn, CallFilter(since=start, until=start + timedelta(hours=1)))
        detail = call_detail(conn, str(calls[0].id))
    assert detail["call"]["caller_name"] == (stored(callers[0][1]) or None)
    assert len(listed) == len(callers)
    check_table(listed)
    check_csv(listed)


# What must never reach a terminal from a caller: C0 and C1 controls (ESC, the single CSI
# \x9b, BEL, CR...), Unicode line separators and bidirectional overrides and isolates.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def check_table(rows: list[dict[str, object]]) -> None:
    out = io.StringIO()
    Console(file=out, width=2000, emoji=False, highlight=False, color_system=None).print(
        _calls_table(rows)
    )
    text = out.getvalue()
    assert UNSAFE.search(text.replace("\n", "")) is None, repr(text)
    for row in rows:
        for value in (row["caller_name"], row["caller_number"]):
            if isinstance(value, str) and value.strip():
                assert visible(value).strip() in text  # shown, escapes and all


def check_csv(rows: list[dict[str, object]]) -> None:
    for terminal in (False, True):
        out = io.StringIO(newline="")
        assert _write_csv(out, LIST_COLUMNS, rows, terminal=terminal) == len(rows)
        text = out.getvalue()
        if terminal:  # on a terminal: no control character, except CSV's own line ends
            assert UNSAFE.search(text.replace("\r\n", "")) is None, repr(text)
        read = list(csv.DictReader(io.StringIO(text, newline="")))
        assert len(read) == len(rows)
        for row, back in zip(rows, read, strict=True):
            for column in ("caller_number", "caller_name"):
                value = row[column]
                assert isinstance(value, str | None)
                shown = back[column]
                for cell in back.values():  # no cell a spreadsheet would run
                    if not PLAIN_NUMBER.fullmatch(cell):
                        assert not cell.startswith(("=", "+", "-", "@")), (column, cell)
                if value is None:
                    assert shown == ""
                    continue
                want = visible(value) if terminal else value
                if want.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(want):
                    want = "'" + want
                assert shown == want


def test_nul_is_stored_as_the_replacement_character() -> None:
    row = {"caller": "a\x00b", "data": {"k\x00": ["\x00", ("x\x00",)]}, "n": 1, "none": None}
    assert storable(row) == {
        "caller": "a\ufffdb",
        "data": {"k\ufffd": ["\ufffd", ("x\ufffd",)]},
        "n": 1,
        "none": None,
    }
    assert row["caller"] == "a\x00b"  # the operation itself is untouched (kept for a retry)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+15555550100", "+15555550100"),  # a plain E.164 number stays as it is
        ("+1555+1", "'+1555+1"),
        ("+15555550100\n", "'+15555550100\n"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("O'Brien", "O'Brien"),
        ("'=1", "'=1"),  # already text to a spreadsheet
        ("1-2", "1-2"),
    ],
)
def test_csv_cells_a_spreadsheet_would_run_start_with_an_apostrophe(value: str, cell: str) -> None:
    out = io.StringIO(newline="")
    _write_csv(out, ("caller_name",), [{"caller_name": value}])
    assert list(csv.reader(io.StringIO(out.getvalue(), newline="")))[1] == [cell]
