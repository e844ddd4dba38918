"""`switchboard calls ...` and `switchboard export queue-log` on records written straight into
a migrated database: filters, one call in detail, exports that keep any caller name exactly,
queue_log lines for known events, purging (deleting and anonymizing, never a live call) and
one clear line for bad input. The CLI runs as a real process.

Every record is in September 2001, far from anything other tests write, and is deleted after
each test."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import query

pytestmark = pytest.mark.integration

NODE = "calls-cli-test"
T0 = datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)  # epoch 1000000000
WINDOW = ["--since", "2001-09-09T00:00:00+00:00", "--until", "2001-09-10T00:00:00Z"]
# Quotes, SQL, control characters (bell, an escape sequence, a newline), Rich markup, an
# emoji code and characters from far outside ASCII.
NAME = "O'Brien \"Bobby\" '; DROP TABLE calls; -- \x07\x1b[2J\nZoë ☎ 東京 [bold]x[/] :smile:"

C1 = uuid.UUID("11111111-1111-4111-8111-111111111111")  # sales, alice, codes answered+sale
C2 = uuid.UUID("22222222-2222-4222-8222-222222222222")  # support, abandoned
C3 = uuid.UUID("33333333-3333-4333-8333-333333333333")  # outbound, campaign spring, bob
C4 = uuid.UUID("44444444-4444-4444-8444-444444444444")  # live, in the sales queue
C5 = uuid.UUID("11111111-2222-4222-8222-222222222222")  # internal; shares C1's first 8
MINE = (C1, C2, C3, C4, C5)
BULK = "00000000-0000-4000-8000-"  # the first 12 bytes of the bulk calls' ids


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- the records -----------------------------------------------------------------------------


def insert(url: str, table: str, **values: Any) -> None:
    names = ", ".join(values)
    marks = ", ".join("%s::jsonb" if k == "data" else "%s" for k in values)
    row = [json.dumps(v) if k == "data" else v for k, v in values.items()]
    query(url, f"INSERT INTO {table} ({names}) VALUES ({marks})", *row)


def call(url: str, call_id: uuid.UUID, **values: Any) -> None:
    insert(url, "calls", id=call_id, node_id=NODE, channel_id=f"ch-{call_id}", **values)


def event(url: str, call_id: uuid.UUID, seconds: float, kind: str, **data: Any) -> None:
    insert(
        url,
        "call_events",
        call_id=call_id,
        node_id=NODE,
        occurred_at=at(seconds),
        type=kind,
        channel_id=f"ch-{call_id}",
        data=data,
    )


def leg(url: str, call_id: uuid.UUID, channel: str, name: str, role: str, seconds: float) -> None:
    insert(
        url,
        "call_legs",
        call_id=call_id,
        channel_id=channel,
        channel_name=name,
        role=role,
        created_at=at(seconds),
    )


def code(url: str, call_id: uuid.UUID, seconds: float, code_set: str, name: str, by: str) -> None:
    insert(
        url,
        "call_dispositions",
        uid=uuid.uuid5(call_id, name),
        call_id=call_id,
        code_set=code_set,
        code=name,
        set_by=by,
        agent=by.removeprefix("agent:") if by.startswith("agent:") else None,
        set_at=at(seconds),
    )


def agent_event(url: str, agent: str, seconds: float, kind: str, reason: str | None = None) -> None:
    insert(
        url,
        "agent_events",
        agent=agent,
        node_id=NODE,
        occurred_at=at(seconds),
        type=kind,
        reason=reason,
    )


def cleanup(url: str) -> None:
    query(
        url,
        "DELETE FROM calls WHERE node_id = %s OR id = ANY(%s) OR id::text LIKE %s",
        NODE,
        list(MINE),
        BULK.lower() + "%",
    )
    query(url, "DELETE FROM call_events WHERE node_id = %s", NODE)
    query(url, "DELETE FROM agent_events WHERE node_id = %s", NODE)
    query(url, "DELETE FROM nodes WHERE id = %s", NODE)


@pytest.fixture
def records(database_url: str) -> Iterator[str]:
    url = database_url
    cleanup(url)
    query(url, "INSERT INTO nodes (id, hostname) VALUES (%s, 'test')", NODE)
    call(
        url,
        C1,
        linkedid="1000000000.1",
        direction="inbound",
        caller_number="+15555551234",
        caller_name=NAME,
        dialed_number="100",
        arrived_at=at(0),
        answered_at=at(1),
        ended_at=at(77),
        digits="112",
        hangup_party="caller",
        outcome="completed",
        queue="sales",
        queued_at=at(5),
        queue_position=1,
        queue_exit="connected",
        queue_left_at=at(17),
        agent="alice",
        connected_at=at(17),
        hold_seconds=10.0,
        hold_count=1,
        talk_ended_at=at(77),
        wrap_up_ended_at=at(87),
    )
    leg(url, C1, "c1-caller", "PJSIP/trunk-00000001", "caller", 0)
    leg(url, C1, "c1-alice-1", "PJSIP/alice-00000002", "agent", 12)
    event(url, C1, 0, "ARRIVE", caller="+15555551234", dialed="100")
    event(url, C1, 2, "DTMF", digit="1")
    event(url, C1, 3, "IVR_INPUT", node="account", var="account", value="12")
    event(url, C1, 5, "ENTERQUEUE", queue="sales", position=1, priority=0)
    event(url, C1, 5, "RINGING", queue="sales", agent="bob", channel="c1-bob-1")
    event(url, C1, 10, "RINGNOANSWER", queue="sales", agent="bob", ringtime_ms=5000, cause=19)
    event(
        url, C1, 17, "CONNECT",
        queue="sales", agent="alice", holdtime=12.0, ringtime_ms=2500, channel="c1-alice-1",
    )  # fmt: skip
    event(url, C1, 30, "CALLERONHOLD", queue="sales", agent="alice")
    event(url, C1, 40, "CALLEROFFHOLD", queue="sales", agent="alice", held=10.0)
    event(
        url, C1, 77, "COMPLETECALLER",
        queue="sales", agent="alice", holdtime=12.0, calltime=60.0, origpos=1,
    )  # fmt: skip
    event(url, C1, 77, "HANGUP", party="caller", cause=16)
    code(url, C1, 77, "system", "answered", "system")
    code(url, C1, 80, "default", "sale", "agent:alice")

    call(
        url,
        C2,
        direction="inbound",
        caller_number="+442079460000",
        caller_name="Plain Pat",
        dialed_number="100",
        arrived_at=at(3600),
        answered_at=at(3601),
        ended_at=at(3650),
        queue="support",
        queued_at=at(3605),
        queue_position=2,
        queue_exit="abandoned",
        queue_left_at=at(3635),
        outcome="abandoned",
    )
    event(url, C2, 3605, "ENTERQUEUE", queue="support", position=2, priority=0)
    event(url, C2, 3635, "ABANDON", queue="support", position=1, origpos=2, waittime=30.4)
    code(url, C2, 3650, "system", "abandoned", "system")

    call(
        url,
        C3,
        direction="outbound",
        caller_number="100",
        dialed_number="+15550001111",
        arrived_at=at(7200),
        answered_at=at(7210),
        ended_at=at(7300),
        agent="bob",
        connected_at=at(7210),
        talk_ended_at=at(7300),
    )
    event(url, C3, 7200, "DIAL", campaign="spring", number="+15550001111")
    code(url, C3, 7300, "default", "sale", "agent:bob")

    call(
        url,
        C4,
        direction="inbound",
        caller_number="+15555551234",
        caller_name="Still Talking",
        dialed_number="100",
        arrived_at=at(9000),
        answered_at=at(9001),
        queue="sales",
        queued_at=at(9005),
        queue_position=3,
    )
    leg(url, C4, "c4-caller", "PJSIP/trunk-00000009", "caller", 9000)
    event(url, C4, 9000, "ARRIVE", caller="+15555551234", dialed="100")
    event(url, C4, 9003, "DTMF", digit="5")
    event(url, C4, 9005, "ENTERQUEUE", queue="sales", position=3, priority=0)

    call(
        url,
        C5,
        direction="internal",
        caller_number="200",
        caller_name="Desk",
        dialed_number="201",
        arrived_at=at(10000),
        ended_at=at(10010),
    )

    agent_event(url, "alice", -100, "AGENTLOGIN")
    agent_event(url, "alice", 5, "RINGING")
    agent_event(url, "alice", 200, "PAUSE", "lunch|break")
    agent_event(url, "alice", 300, "UNPAUSE")
    agent_event(url, "alice", 4000, "AGENTLOGOFF")
    yield url
    cleanup(url)


# --- running the CLI -------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    out: str
    err: str


def switchboard(url: str, *args: str, cwd: Path | None = None, stdin: str = "") -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update({"DATABASE_URL": url, "COLUMNS": "250", "TZ": "UTC"})
    done = subprocess.run(
        [sys.executable, "-m", "switchboard", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def ok(url: str, *args: str, cwd: Path | None = None, stdin: str = "") -> str:
    run = switchboard(url, *args, cwd=cwd, stdin=stdin)
    assert run.code == 0, f"exit {run.code}\nstdout:\n{run.out}\nstderr:\n{run.err}"
    assert "Traceback" not in run.err
    return run.out


def ids(url: str, *args: str) -> list[uuid.UUID]:
    rows = json.loads(ok(url, "calls", "list", "--format", "json", *args))
    return [uuid.UUID(row["id"]) for row in rows]


def rows(url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    return query(url, sql, *params)


# --- tests -----------------------------------------------------------------------------------


def test_list_filters(records: str) -> None:
    url = records
    assert ids(url, *WINDOW) == [C5, C4, C3, C2, C1]
    assert ids(url, *WINDOW, "--queue", "sales") == [C4, C1]
    assert ids(url, *WINDOW, "--queue", "support") == [C2]
    assert ids(url, *WINDOW, "--agent", "alice") == [C1]
    assert ids(url, *WINDOW, "--agent", "bob") == [C3]
    assert ids(url, *WINDOW, "--code", "sale") == [C3, C1]
    assert ids(url, *WINDOW, "--code", "answered") == [C1]
    assert ids(url, *WINDOW, "--code", "nonesuch") == []
    assert ids(url, *WINDOW, "--number", "+15555551234") == [C4, C1]
    assert ids(url, *WINDOW, "--number", "555-1234") == [C4, C1]
    assert ids(url, *WINDOW, "--number", "+442079460000") == [C2]
    assert ids(url, *WINDOW, "--number", "1111") == [C3]  # the dialed number
    assert ids(url, *WINDOW, "--number", "201") == [C5]
    assert ids(url, *WINDOW, "--campaign", "spring") == [C3]
    assert ids(url, *WINDOW, "--campaign", "autumn") == []
    assert ids(url, *WINDOW, "--direction", "outbound") == [C3]
    assert ids(url, *WINDOW, "--direction", "INTERNAL") == [C5]
    assert ids(url, *WINDOW, "--limit", "2") == [C5, C4]
    assert ids(url, *WINDOW, "--queue", "sales", "--code", "sale") == [C1]
    # A time range: arrived at or after the start, before the end.
    assert ids(url, "--since", "2001-09-09T02:16:40Z", "--until", "2001-09-09T03:46:40Z") == [C2]
    assert ids(url, "--since", "2001-09-09T02:16:40Z", "--until", "2001-09-09T03:46:41Z") == [
        C3,
        C2,
    ]
    # Without a zone: local time (TZ=UTC here).
    assert ids(url, "--since", "2001-09-09 04:00", "--until", "2001-09-09 04:30") == [C4]
    assert ids(url, "--since", "2001-09-09T02:46:40+01:00", "--until", "2001-09-09T01:46:41Z") == [
        C1
    ]
    # Relative: that long before now (2001 is long ago).
    assert ids(url, "--since", "24h", "--until", "1m", "--code", "sale", "--queue", "sales") == []

    row = json.loads(ok(url, "calls", "list", "--format", "json", *WINDOW, "--agent", "alice"))[0]
    assert row["caller_name"] == NAME
    assert row["codes"] == "answered,sale"
    assert row["wait_seconds"] == 12.0
    assert row["talk_seconds"] == 50.0  # 60 s connected, 10 s of it on hold
    assert row["wrap_up_seconds"] == 10.0
    assert row["total_seconds"] == 77.0
    assert row["arrived_at"] == "2001-09-09T01:46:40+00:00"


def test_list_as_a_table_shows_any_name_harmlessly(records: str) -> None:
    out = ok(records, "calls", "list", *WINDOW)
    assert "5 call(s)" in out
    for call_id in MINE:
        assert str(call_id)[:8] in out
    assert "\x1b" not in out and "\x07" not in out  # no control character reaches a terminal
    assert "[bold]x[/]" in out  # the markup in the name, shown as it is
    assert ":smile:" in out and "😄" not in out
    assert "Zoë ☎ 東京" in out
    assert "answered,sale" in out
    assert "2001-09-09 01:46:40" in out

    text = ok(records, "calls", "list", *WINDOW, "--format", "csv", "--queue", "support")
    listed = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in listed] == [str(C2)]
    assert listed[0]["codes"] == "abandoned"
    assert text.splitlines()[0].startswith("id,linkedid,direction,caller_number,caller_name,")


def test_show_one_call(records: str) -> None:
    assert str(C5) in ok(records, "calls", "show", "111111112222")  # dashes are optional
    out = ok(records, "calls", "show", "2222")
    assert str(C2) in out
    assert "ABANDON" in out and "ENTERQUEUE" in out and "abandoned" in out and "support" in out

    out = ok(records, "calls", "show", str(C1))
    assert "[bold]x[/]" in out and "\x1b" not in out and "\x07" not in out
    assert "COMPLETECALLER" in out and "PJSIP/alice-00000002" in out and "default/sale" in out

    detail = json.loads(ok(records, "calls", "show", "11111111-1111", "--format", "json"))
    assert detail["call"]["id"] == str(C1)
    assert detail["call"]["caller_name"] == NAME
    assert detail["call"]["talk_seconds"] == 50.0
    assert [leg["channel_id"] for leg in detail["legs"]] == ["c1-caller", "c1-alice-1"]
    assert [e["type"] for e in detail["events"]] == [
        "ARRIVE",
        "DTMF",
        "IVR_INPUT",
        "ENTERQUEUE",
        "RINGING",
        "RINGNOANSWER",
        "CONNECT",
        "CALLERONHOLD",
        "CALLEROFFHOLD",
        "COMPLETECALLER",
        "HANGUP",
    ]
    assert detail["events"][6]["data"]["channel"] == "c1-alice-1"
    assert [(d["code_set"], d["code"], d["set_by"]) for d in detail["dispositions"]] == [
        ("system", "answered", "system"),
        ("default", "sale", "agent:alice"),
    ]


def test_export_keeps_every_row_and_any_name_exactly(records: str, tmp_path: Path) -> None:
    url = records
    # 55 more calls: more than list's default limit of 50.
    query(
        url,
        "INSERT INTO calls (id, node_id, channel_id, direction, caller_number, arrived_at, "
        "ended_at) SELECT (%s || lpad(g::text, 12, '0'))::uuid, %s, 'bulk-' || g, 'inbound', "
        "'+1555000' || lpad(g::text, 4, '0'), %s + g * interval '1 second', "
        "%s + g * interval '1 second' FROM generate_series(1, 55) AS g",
        BULK,
        NODE,
        at(20000),
        at(20010),
    )
    assert len(ids(url, *WINDOW)) == 50
    assert "the latest 50 only" in ok(url, "calls", "list", *WINDOW)

    text = ok(url, "calls", "export", *WINDOW)
    exported = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(exported) == 60
    by_id = {r["id"]: r for r in exported}
    assert by_id[str(C1)]["caller_name"] == NAME
    assert by_id[str(C1)]["codes"] == "answered,sale"
    assert by_id[str(C4)]["ended_at"] == ""
    assert by_id[str(C4)]["caller_name"] == "Still Talking"

    target = tmp_path / "calls.json"
    run = switchboard(url, "calls", "export", *WINDOW, "--format", "json", "--output", str(target))
    assert run.code == 0, run.err
    assert run.out == ""
    assert "60 call(s) written" in run.err
    raw = target.read_text(encoding="utf-8")
    assert "Zoë ☎ 東京" in raw  # not \u escapes
    data = json.loads(raw)
    assert isinstance(data, list) and len(data) == 60
    assert next(r for r in data if r["id"] == str(C1))["caller_name"] == NAME

    csv_file = tmp_path / "calls.csv"
    ok(url, "calls", "export", *WINDOW, "--code", "sale", "-o", str(csv_file))
    with csv_file.open(encoding="utf-8", newline="") as handle:
        saved = list(csv.DictReader(handle))
    assert [r["id"] for r in saved] == [str(C3), str(C1)]
    assert saved[1]["caller_name"] == NAME

    assert json.loads(ok(url, "calls", "export", *WINDOW, "--code", "x", "--format", "json")) == []


def test_export_queue_log(records: str, tmp_path: Path) -> None:
    expected = [
        "999999900|NONE|NONE|alice|AGENTLOGIN|PJSIP/alice",
        "1000000005|1000000000.1|sales|NONE|ENTERQUEUE||+15555551234|1",
        "1000000010|1000000000.1|sales|bob|RINGNOANSWER|5000",
        "1000000017|1000000000.1|sales|alice|CONNECT|12|c1-alice-1|3",
        "1000000030|1000000000.1|sales|alice|CALLERONHOLD|",
        "1000000040|1000000000.1|sales|alice|CALLEROFFHOLD|10",
        "1000000077|1000000000.1|sales|alice|COMPLETECALLER|12|60|1",
        "1000000200|NONE|NONE|alice|PAUSE|lunch_break",
        "1000000300|NONE|NONE|alice|UNPAUSE|",
        f"1000003605|{C2}|support|NONE|ENTERQUEUE||+442079460000|2",
        f"1000003635|{C2}|support|NONE|ABANDON|1|2|30",
        "1000004000|NONE|NONE|alice|AGENTLOGOFF|PJSIP/alice|4100",
        f"1000009005|{C4}|sales|NONE|ENTERQUEUE||+15555551234|3",
    ]
    out = ok(records, "export", "queue-log", *WINDOW)
    assert out.splitlines() == expected
    assert out.endswith("\n")

    # A narrower window; to a file.
    target = tmp_path / "queue_log"
    run = switchboard(
        records,
        "export", "queue-log", "--since", "2001-09-09T01:46:50Z", "--until",
        "2001-09-09T01:48:00Z", "--output", str(target),
    )  # fmt: skip
    assert run.code == 0, run.err
    assert target.read_text(encoding="utf-8").splitlines() == expected[2:7]
    assert "5 line(s) written" in run.err


def test_purge_deletes_ended_calls_only_after_confirmation(records: str) -> None:
    url = records
    refused = switchboard(url, "calls", "purge", "--older-than", "8000d", stdin="n\n")
    assert refused.code == 1
    assert "Delete 4 call(s) that ended before" in refused.out
    assert "nothing done" in refused.err
    no_answer = switchboard(url, "calls", "purge", "--older-than", "8000d")  # stdin empty
    assert no_answer.code == 1 and "Traceback" not in no_answer.err
    assert len(rows(url, "SELECT id FROM calls WHERE node_id = %s", NODE)) == 5

    out = ok(url, "calls", "purge", "--older-than", "8000d", stdin="y\n")
    assert "deleted 4 call(s)" in out
    assert "(2 leg(s), 14 event(s), 4 disposition(s))" in out
    left = rows(url, "SELECT id, caller_number FROM calls WHERE node_id = %s", NODE)
    assert left == [{"id": C4, "caller_number": "+15555551234"}]  # live: untouched
    assert len(rows(url, "SELECT 1 FROM call_events WHERE call_id = %s", C4)) == 3
    assert len(rows(url, "SELECT 1 FROM call_legs WHERE call_id = %s", C4)) == 1
    assert rows(url, "SELECT 1 FROM call_events WHERE call_id = ANY(%s)", [C1, C2, C3]) == []
    assert rows(url, "SELECT 1 FROM call_dispositions WHERE call_id = ANY(%s)", [C1, C2]) == []
    assert rows(url, "SELECT 1 FROM call_legs WHERE call_id = %s", C1) == []

    out = ok(url, "calls", "purge", "--older-than", "8000d", "--yes")
    assert "deleted 0 call(s)" in out
    # Calls that ended recently are kept.
    out = ok(url, "calls", "purge", "--older-than", "100000d", "--yes")
    assert "deleted 0 call(s)" in out


def test_purge_anonymizes(records: str) -> None:
    url = records
    out = ok(url, "calls", "purge", "--older-than", "8000d", "--anonymize", "--yes")
    assert "anonymized 4 call(s)" in out
    assert "(2 leg(s), 4 event(s) scrubbed)" in out  # C1: ARRIVE, DTMF, IVR_INPUT; C3: DIAL

    c1 = rows(url, "SELECT * FROM calls WHERE id = %s", C1)[0]
    assert (c1["caller_number"], c1["caller_name"], c1["dialed_number"], c1["digits"]) == (
        None,
        None,
        None,
        None,
    )
    assert c1["queue"] == "sales" and c1["agent"] == "alice" and c1["talk_seconds"] == 50.0
    assert [
        r["channel_name"] for r in rows(url, "SELECT * FROM call_legs WHERE call_id = %s", C1)
    ] == [
        None,
        None,
    ]
    data = {
        r["type"]: r["data"]
        for r in rows(url, "SELECT type, data FROM call_events WHERE call_id = %s", C1)
    }
    assert data["DTMF"] == {}
    assert data["IVR_INPUT"] == {"node": "account", "var": "account"}
    assert data["ARRIVE"] == {}
    assert data["CONNECT"]["agent"] == "alice"  # the rest of the record stays
    assert len(rows(url, "SELECT 1 FROM call_dispositions WHERE call_id = %s", C1)) == 2
    assert rows(url, "SELECT data FROM call_events WHERE call_id = %s AND type = 'DIAL'", C3) == [
        {"data": {"campaign": "spring"}}
    ]

    c4 = rows(url, "SELECT * FROM calls WHERE id = %s", C4)[0]  # live: untouched
    assert (c4["caller_number"], c4["caller_name"]) == ("+15555551234", "Still Talking")
    assert rows(url, "SELECT channel_name FROM call_legs WHERE call_id = %s", C4) == [
        {"channel_name": "PJSIP/trunk-00000009"}
    ]
    assert rows(url, "SELECT data FROM call_events WHERE call_id = %s AND type = 'DTMF'", C4) == [
        {"data": {"digit": "5"}}
    ]

    again = ok(url, "calls", "purge", "--older-than", "8000d", "--anonymize", "--yes")
    assert "anonymized 0 call(s)" in again and "(0 leg(s), 0 event(s) scrubbed)" in again


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["calls", "show", "ffffffff"], 1, "no call 'ffffffff'"),
        (["calls", "show", "11111111"], 1, "is ambiguous"),
        (["calls", "show", "not-a-call"], 1, "'not-a-call' is not a call id"),
        (["calls", "show", "1111111-1"], 1, "'1111111-1' is not a call id"),
        (["calls", "show", "\x1b[2J"], 1, "is not a call id"),
        (["calls", "show", str(C1), "--format", "xml"], 2, "--format 'xml': one of table, json"),
        (["calls", "list", "--since", "yesterday"], 2, "--since 'yesterday': give an ISO date"),
        (["calls", "list", "--until", "2001-13-45"], 2, "--until '2001-13-45'"),
        (["calls", "list", "--since", "2d", "--until", "3d"], 2, "since must be before until"),
        (["calls", "list", "--direction", "sideways"], 2, "direction 'sideways'"),
        (["calls", "list", "--limit", "0"], 2, "limit 0: at least 1"),
        (["calls", "list", "--format", "xml"], 2, "--format 'xml': one of table, csv, json"),
        (["calls", "export", "--format", "table"], 2, "--format 'table': one of csv, json"),
        (["calls", "purge", "--older-than", "ninety"], 2, "'ninety' is not a duration"),
        (["calls", "purge", "--older-than", "0d", "--yes"], 2, "must be more than zero"),
        (["export", "queue-log", "--since", "last week"], 2, "--since 'last week'"),
    ],
)
def test_bad_input_is_one_clear_line(
    records: str, args: list[str], code: int, message: str
) -> None:
    run = switchboard(records, *args)
    assert run.code == code, run
    assert "Traceback" not in run.err
    assert run.err.startswith("error: ") and message in run.err, run.err
    assert run.err.count("\n") == 1, run.err
    assert "\x1b" not in run.err


def test_a_bad_output_file_is_one_clear_line(records: str, tmp_path: Path) -> None:
    run = switchboard(records, "calls", "export", "-o", str(tmp_path / "missing" / "x.csv"))
    assert run.code == 1 and "cannot write" in run.err and "Traceback" not in run.err


def test_purge_a_number_erases_what_is_tied_to_it(records: str) -> None:
    """An erasure request for +1 555 555 1234: its ended call (C1) is anonymized with
    everything else holding the person's data; the live call (C4) is left alone; the
    do-not-call entry still in force is kept (the law), the expired one goes."""
    url = records
    number = "+15555551234"
    callback = uuid.uuid4()
    query(
        url,
        "INSERT INTO callback_requests (id, call_id, number, queue, source, requested_at) "
        "VALUES (%s, %s, %s, 'sales', 'ivr', %s)",
        callback,
        C1,
        number,
        at(80),
    )
    query(
        url,
        "UPDATE call_dispositions SET note = 'card ends 4242' WHERE call_id = %s AND code = 'sale'",
        C1,
    )
    query(
        url,
        "INSERT INTO dnc_entries (list_name, number, added_at, expires_at, call_id) VALUES "
        "('erasure-test', %s, %s, now() + interval '30 days', %s), "
        "('erasure-old', %s, %s, now() - interval '1 day', NULL)",
        number,
        at(90),
        C1,
        number,
        at(90),
    )
    campaign = f"erase-{uuid.uuid4().hex[:6]}"
    query(url, "INSERT INTO queues (name) VALUES (%s)", campaign)
    query(
        url,
        "INSERT INTO campaigns (name, queue, caller_id) VALUES (%s, %s, '+12125550100')",
        campaign,
        campaign,
    )
    query(
        url,
        "INSERT INTO leads (campaign, number, time_zones, name, external_id, data) "
        "VALUES (%s, %s, '[\"America/New_York\"]', 'Pat Doe', 'crm-77', '{\"plan\": \"gold\"}')",
        campaign,
        number,
    )
    query(
        url,
        "INSERT INTO webhook_events (topic, occurred_at, data) VALUES "
        "('call.ended', now(), jsonb_build_object('id', %s::text, 'caller_number', %s::text))",
        str(C1),
        number,
    )
    try:
        out = ok(url, "calls", "purge", "--number", "(555) 555-1234", "--anonymize", "--yes")
        assert "anonymized 1 call(s) from or to (555) 555-1234" in out, out
        assert "1 callback request(s) blanked" in out and "1 note(s) blanked" in out, out
        assert "1 expired do-not-call entr(ies) deleted" in out and "1 lead(s) blanked" in out
        assert "1 webhook event(s) deleted" in out
        assert "kept 1 do-not-call entr(ies) still in force" in out
        c1 = rows(url, "SELECT caller_number, caller_e164 FROM calls WHERE id = %s", C1)
        assert c1 == [{"caller_number": None, "caller_e164": None}]
        c4 = rows(url, "SELECT caller_number FROM calls WHERE id = %s", C4)
        assert c4 == [{"caller_number": number}]  # live: untouched
        assert rows(
            url, "SELECT number, status FROM callback_requests WHERE id = %s", callback
        ) == [{"number": None, "status": "cancelled"}]
        assert (
            rows(
                url,
                "SELECT note FROM call_dispositions WHERE note IS NOT NULL AND call_id = %s",
                C1,
            )
            == []
        )
        assert rows(
            url, "SELECT list_name, call_id FROM dnc_entries WHERE number = %s", number
        ) == [{"list_name": "erasure-test", "call_id": None}]
        assert rows(
            url,
            "SELECT name, external_id, data, state, closed_reason FROM leads WHERE campaign = %s",
            campaign,
        ) == [
            {
                "name": None,
                "external_id": None,
                "data": {},
                "state": "done",
                "closed_reason": "erased",
            }
        ]
        assert rows(url, "SELECT 1 FROM webhook_events WHERE data->>'id' = %s", str(C1)) == []
    finally:
        query(url, "DELETE FROM dnc_entries WHERE list_name LIKE 'erasure-%%'")
        query(url, "DELETE FROM callback_requests WHERE id = %s", callback)
        query(url, "DELETE FROM campaigns WHERE name = %s", campaign)
        query(url, "DELETE FROM queues WHERE name = %s", campaign)


def test_purge_needs_an_age_or_a_number(records: str) -> None:
    run = switchboard(records, "calls", "purge", "--yes")
    assert run.code == 2 and "--older-than 90d, --number NUMBER, or both" in run.err
