"""Nothing lost on a bad day: the app killed (-9) with calls in progress, Asterisk restarted
under calls, and PostgreSQL stopped for 30 s while 50 calls run. Every call ends up with one
complete, closed record and one platform outcome code."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from db import admin, migrate
from pbx.instance import AsteriskInstance
from testkit.runner import SippResult, place_calls
from testkit.scenario import CallerScript
from tests.conftest import AppFactory
from tests.support import AppProcess, app_env, query, wait_until

pytestmark = pytest.mark.integration


class Callers:
    """``count`` sipp callers at once, in a thread, from one number."""

    def __init__(
        self,
        asterisk: AsteriskInstance,
        caller: str,
        count: int,
        *,
        rate: float = 10,
        concurrent: int | None = None,
        **script: Any,
    ) -> None:
        self.result: SippResult | None = None
        script.setdefault("keys", ())
        self._args = (asterisk.params.sip_port, CallerScript(caller=caller, **script))
        self._count, self._rate, self._concurrent = count, rate, concurrent or count
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        port, script = self._args
        self.result = asyncio.run(
            place_calls(
                port,
                "800300",
                script,
                calls=self._count,
                rate=self._rate,
                concurrent=self._concurrent,
                timeout_s=180,
            )
        )

    def start(self) -> Callers:
        self._thread.start()
        return self

    def join(self, timeout: float = 180) -> SippResult:
        self._thread.join(timeout)
        assert self.result is not None, "sipp did not finish"
        return self.result


def rows(database_url: str, caller: str, where: str = "TRUE") -> list[dict[str, Any]]:
    return query(database_url, f"SELECT * FROM calls WHERE caller_number = %s AND {where}", caller)


def rows_if_count(
    database_url: str, caller: str, where: str, count: int
) -> list[dict[str, Any]] | None:
    found = rows(database_url, caller, where)
    return found if len(found) == count else None


def system_codes(database_url: str, caller: str) -> list[dict[str, Any]]:
    return query(
        database_url,
        "SELECT d.call_id, d.code FROM call_dispositions d JOIN calls c ON c.id = d.call_id "
        "WHERE c.caller_number = %s AND d.set_by = 'system'",
        caller,
    )


def test_app_killed_with_calls_in_progress_leaves_none_open(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str
) -> None:
    first = app_factory("first").start()
    first.wait_for("reconcile.done")
    caller = "+15550106000"
    callers = Callers(asterisk, caller, 5, bye_timeout_ms=30000).start()
    wait_until(
        lambda: len(rows(database_url, caller, "answered_at IS NOT NULL")) == 5,
        20,
        what="5 answered calls",
    )
    first.signal(signal.SIGKILL)
    first.wait_exit(10)
    assert len(rows(database_url, caller, "ended_at IS NULL")) == 5

    second = app_factory("second").start()
    second.wait_for("reconcile.done")
    closed = wait_until(
        lambda: rows_if_count(database_url, caller, "ended_at IS NOT NULL", 5),
        20,
        what="5 closed calls",
    )
    assert {r["outcome"] for r in closed} == {"interrupted"}
    assert not rows(database_url, caller, "ended_at IS NULL")
    codes = system_codes(database_url, caller)
    assert sorted(c["code"] for c in codes) == ["interrupted"] * 5
    assert len({c["call_id"] for c in codes}) == 5
    result = callers.join()
    assert result.successful == 5, result.output  # each caller heard the hangup


def test_core_restart_under_calls_closes_each_with_a_cause(
    app: AppProcess, asterisk: AsteriskInstance, database_url: str
) -> None:
    caller = "+15550107000"
    callers = Callers(asterisk, caller, 5, bye_timeout_ms=20000).start()
    wait_until(
        lambda: len(rows(database_url, caller, "answered_at IS NOT NULL")) == 5,
        20,
        what="5 answered calls",
    )
    asterisk.cli("core restart now")
    asterisk.wait_booted(40)
    app.wait_for("reconcile.done", timeout=40, at_least=2)
    closed = wait_until(
        lambda: rows_if_count(database_url, caller, "ended_at IS NOT NULL", 5),
        30,
        what="5 closed calls",
    )
    assert {r["hangup_cause"] for r in closed} == {38}
    assert {r["outcome"] for r in closed} == {"lost"}
    assert all(r["hangup_cause_text"] for r in closed)
    assert sorted(c["code"] for c in system_codes(database_url, caller)) == ["interrupted"] * 5
    callers.join(60)


@pytest.fixture
def private_database(tmp_path: Path) -> Any:
    from tests.private_postgres import PrivatePostgres

    server = PrivatePostgres(tmp_path / "pg")
    server.start()
    url = server.database_url("sb_outage")
    admin.create_database_if_missing(url)
    migrate.upgrade(url)
    yield server, url
    server.destroy()


def test_database_stopped_for_30_s_while_50_calls_run(
    private_database: Any, asterisk: AsteriskInstance, agi_port: int, tmp_path: Path
) -> None:
    server, url = private_database
    app = AppProcess(app_env(asterisk, url, agi_port), tmp_path, "outage").start()
    try:
        app.wait_for("reconcile.done")
        caller = "+15550108000"
        # 50 calls over about 35 s, each about 3 s long (a key, the answer, goodbye).
        callers = Callers(
            asterisk, caller, 50, rate=1.5, concurrent=10, keys=((1000, "7"),)
        ).start()
        wait_until(lambda: rows(url, caller, "ended_at IS NOT NULL"), 20, what="a first call")
        server.stop()
        time.sleep(30)
        server.start()
        result = callers.join()
        assert result.successful == 50, result.output
        app.wait_for("records.database_back", timeout=60)

        def all_there() -> list[dict[str, Any]] | None:
            found = rows(url, caller, "ended_at IS NOT NULL")
            return found if len(found) >= 50 else None

        complete = wait_until(all_there, 60, what="50 complete records")
        assert len(complete) == 50 and len({r["channel_id"] for r in complete}) == 50
        wrong = [
            {k: row[k] for k in ("channel_id", "answered_at", "digits", "hangup_party", "outcome")}
            for row in complete
            if row["answered_at"] is None
            or row["digits"] != "7"
            or row["hangup_party"] is None
            or row["outcome"] != "completed"
        ]
        assert not wrong, wrong
        # Each call's events once: the ANSWER, the key, the HANGUP; no duplicates anywhere.
        counts = query(
            url,
            "SELECT c.id, count(*) FILTER (WHERE e.type = 'ANSWER') AS answers, "
            "count(*) FILTER (WHERE e.type = 'DTMF') AS keys, "
            "count(*) FILTER (WHERE e.type = 'HANGUP') AS hangups, "
            "count(*) AS events, count(DISTINCT e.uid) AS distinct_events "
            "FROM calls c JOIN call_events e ON e.call_id = c.id "
            "WHERE c.caller_number = %s GROUP BY c.id",
            caller,
        )
        assert len(counts) == 50
        for count in counts:
            assert (count["answers"], count["keys"], count["hangups"]) == (1, 1, 1), count
            assert count["events"] == count["distinct_events"], count
        codes = system_codes(url, caller)
        assert len(codes) == 50 and {c["code"] for c in codes} == {"ivr_completed"}
        # The outage was real: the app saw the database go and come back.
        assert app.count("records.write_failed") > 0
    finally:
        app.stop()
