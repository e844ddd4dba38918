"""`switchboard demo` (what scripts/quickstart runs) against a fresh database and the real
Asterisk: the demo agents answer the callers who went through the example menu, one caller
gives up, one asks for a callback; what it prints (the calls and the queue report of the
run) must match the calls it placed, as PostgreSQL holds them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from db import migrate
from pbx.instance import AsteriskInstance
from switchboard.demo import CALLERS
from tests.integration.test_startup_errors import switchboard
from tests.support import app_env, query

pytestmark = pytest.mark.integration


def report_row(output: str, queue: str) -> list[str]:
    """The cells of ``queue``'s row in the printed report table."""
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line)]
        if len(cells) > 3 and cells[1] == queue and re.match(r"\d{4}-\d\d-\d\d", cells[2]):
            return cells[1:-1]
    raise AssertionError(f"no report row for {queue!r} in:\n{output}")


def run_demo(env: dict[str, str], cwd: Path) -> str:
    """`switchboard demo` as quickstart runs it: its own process (it configures logging and
    runs the app in it)."""
    result = switchboard(["demo"], env, cwd, timeout=180, columns=250)
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_demo_shows_the_call_center_and_its_report_matches_the_calls(
    asterisk: AsteriskInstance, empty_database_url: str, agi_port: int, tmp_path: Path
) -> None:
    migrate.upgrade(empty_database_url)
    env = app_env(
        asterisk,
        empty_database_url,
        agi_port,
        SWITCHBOARD_SPOOL_DIR=str(tmp_path / "spool"),
        SWITCHBOARD_LOG_LEVEL="warning",
    )
    output = run_demo(env, tmp_path)

    calls = query(
        empty_database_url,
        "SELECT c.caller_number, v.queue, v.exit, v.agent, d.code FROM calls c"
        " LEFT JOIN queue_visits v ON v.call_id = c.id"
        " LEFT JOIN call_dispositions d ON d.call_id = c.id AND d.code_set <> 'system'"
        " ORDER BY c.arrived_at",
    )
    by_number = {c["caller_number"]: c for c in calls}
    assert sorted(by_number) == sorted(c.number for c in CALLERS)
    ada, ben, cy, di, ed = (by_number[c.number] for c in CALLERS)
    # Three answered in sales by the two demo agents and coded from wrap-up, one who waited
    for row, code in ((ada, "sale"), (ben, "interested"), (cy, "resolved")):
        assert (row["queue"], row["exit"], row["code"]) == ("sales", "answered", code)
        assert row["agent"] in ("demo-ann", "demo-bob")
    assert (di["queue"], di["exit"]) == ("sales", "abandoned")
    assert ed["queue"] is None  # the callback was asked for in the menu
    (callback,) = query(empty_database_url, "SELECT * FROM callback_requests")
    assert (callback["number"], callback["queue"]) == (ed["caller_number"], "billing")

    # What the demo printed: every call, the callback, and the report of the run.
    for caller in CALLERS:
        assert caller.number in output
    assert "callbacks waiting for an agent: 1; calls coded: 3" in output
    sales = report_row(output, "sales")
    offered, answered, within, abandoned, short = (int(x) for x in sales[2:7])
    assert (offered, answered, abandoned, short) == (4, 3, 1, 0)
    assert within == 3  # every answer came well within 20 s
    assert sales[7] == "100.0%" and sales[13] == "25.0%"  # SL (answered), abandonment
    assert "/wallboard?token=" in output and "/agent?agent=demo-ann&token=" in output
    assert "/console?token=" in output

    # Again: the same agents and queues are reused, the report covers the new run only.
    again = run_demo(env, tmp_path)
    assert [int(x) for x in report_row(again, "sales")[2:4]] == [4, 3]
    assert len(query(empty_database_url, "SELECT 1 FROM calls")) == 2 * len(CALLERS)
