"""A call that arrives while the application is not running is refused by Asterisk; when
the application is back, the call is in the records, marked as refused, and agrees with
Asterisk's CDR."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from callcenter.calls.refused import REASON
from pbx.instance import AsteriskInstance
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.conftest import AppFactory
from tests.support import query, wait_until

pytestmark = pytest.mark.integration


def test_calls_refused_while_the_app_is_down_are_imported(
    asterisk: AsteriskInstance, app_factory: AppFactory, database_url: str
) -> None:
    callers = ["+15558500001", "+15558500002"]
    for caller in callers:  # nobody is there: Stasis fails, Asterisk hangs up
        asyncio.run(
            place_calls(
                asterisk.params.sip_port,
                "5001",
                CallerScript(caller=caller, keys=(), hang_up_after_ms=1000),
                timeout_s=20,
            )
        )
    for caller in callers:
        assert not query(database_url, "SELECT 1 FROM calls WHERE caller_number = %s", caller)
    kept = asterisk.cli("database show switchboard-refused")
    assert kept.count("/switchboard-refused/") >= 2, kept

    app = app_factory()
    app.start()
    app.wait_for("reconcile.done")

    def call_of(caller: str) -> list[dict[str, Any]]:
        return query(database_url, "SELECT * FROM calls WHERE caller_number = %s", caller)

    rows = [
        wait_until(functools.partial(call_of, c), 10, what=f"the refused call from {c}")[0]
        for c in callers
    ]
    cdr = {line.uniqueid: line for line in asterisk.cdr_rows()}
    for row in rows:
        assert row["outcome"] == "refused" and row["direction"] == "inbound"
        assert row["dialed_number"] == "5001" and row["hangup_party"] == "system"
        assert row["node_id"] == app.env["SWITCHBOARD_NODE_ID"]
        # Asterisk's own CDR of the same channel: same start and end, within a second.
        line = cdr[row["channel_id"]]
        assert line.dcontext == "from-trunk" and line.lastapp in ("Stasis", "Hangup", "GotoIf")
        assert line.start is not None and line.end is not None
        assert abs(line.start - row["arrived_at"].timestamp()) < 1.0
        assert abs(line.end - row["ended_at"].timestamp()) < 1.0
        kinds = query(
            database_url,
            "SELECT type, data FROM call_events WHERE call_id = %s ORDER BY occurred_at, id",
            row["id"],
        )
        refused = next(e["data"] for e in kinds if e["type"] == "REFUSED")
        assert refused["reason"] == REASON and refused["stasis_status"] == "FAILED"
        assert [e["type"] for e in kinds][-1] == "HANGUP"
        (code,) = query(
            database_url, "SELECT code FROM call_dispositions WHERE call_id = %s", row["id"]
        )
        assert code["code"] == "failed"
    # Imported once: Asterisk forgets them, a second reconciliation adds nothing.
    assert "/switchboard-refused/" not in asterisk.cli("database show switchboard-refused")
    app.stop()
    again = app_factory("again")
    again.start()
    again.wait_for("reconcile.done")
    for caller in callers:
        assert len(query(database_url, "SELECT 1 FROM calls WHERE caller_number = %s", caller)) == 1
