"""Asterisk restarts, app restarts and shutdowns: no call is left half-recorded."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from pbx.instance import AsteriskInstance
from testkit.runner import SippResult, place_calls
from testkit.scenario import CallerScript
from tests.conftest import AppFactory
from tests.support import AppProcess, answered_call, ended_call, query, wait_until

pytestmark = pytest.mark.integration


class CallInBackground:
    """A sipp caller that stays on the line (no key: the app waits for one)."""

    def __init__(self, asterisk: AsteriskInstance, caller: str, **script: object) -> None:
        self.result: SippResult | None = None
        script.setdefault("keys", ())
        self._thread = threading.Thread(
            target=self._run,
            args=(asterisk.params.sip_port, CallerScript(caller=caller, **script)),  # type: ignore[arg-type]
            daemon=True,
        )

    def _run(self, port: int, script: CallerScript) -> None:
        self.result = asyncio.run(place_calls(port, "800300", script, timeout_s=40))

    def start(self) -> CallInBackground:
        self._thread.start()
        return self

    def join(self, timeout: float = 60) -> None:
        self._thread.join(timeout)


def test_asterisk_restart_closes_the_live_call_and_the_app_reconnects(
    app: AppProcess, asterisk: AsteriskInstance, database_url: str
) -> None:
    caller = "+15550004000"
    background = CallInBackground(asterisk, caller).start()
    answered_call(database_url, caller)

    restarted_at = time.time()
    asterisk.restart_now()
    asterisk.wait_booted(30)
    app.wait_for("reconcile.done", timeout=30, at_least=2)
    reconnected_after = time.time() - restarted_at

    cut = ended_call(database_url, caller)
    assert cut["hangup_cause"] == 38
    # Asterisk either told us it was shutting down, or reconciliation found the call gone.
    assert cut["hangup_cause_text"] in (
        "Asterisk shut down during the call",
        "Asterisk restarted during the call",
    )
    assert cut["hangup_party"] in ("system", "unknown")
    assert cut["outcome"] == "lost"
    background.join()

    # The next call is handled and recorded as usual.
    after = "+15550004001"
    result = asyncio.run(
        place_calls(asterisk.params.sip_port, "800301", CallerScript(caller=after))
    )
    assert result.ok, result.output
    assert ended_call(database_url, after)["digits"] == "7"
    assert reconnected_after < 30


def test_sigterm_closes_every_live_call_before_the_app_exits(
    app: AppProcess, asterisk: AsteriskInstance, database_url: str
) -> None:
    caller = "+15550005000"
    background = CallInBackground(asterisk, caller).start()
    answered_call(database_url, caller)

    app.signal(signal.SIGTERM)
    assert app.wait_exit(30) == 0

    row = ended_call(database_url, caller, timeout=1)
    assert row["hangup_party"] == "system"
    assert row["hangup_cause"] == 16
    events = query(
        database_url,
        "SELECT type FROM call_events WHERE call_id = %s ORDER BY occurred_at, id",
        row["id"],
    )
    assert [e["type"] for e in events][-1] == "HANGUP"
    assert app.count("switchboard.stopped") == 1
    assert next(line for line in app.log_lines() if line.get("event") == "switchboard.stopped")[
        "records_complete"
    ]
    background.join()


def test_app_killed_mid_call_settles_the_call_on_restart(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str
) -> None:
    first = app_factory("first").start()
    first.wait_for("reconcile.done")
    caller = "+15550006000"
    background = CallInBackground(asterisk, caller, bye_timeout_ms=30000).start()
    call = answered_call(database_url, caller)

    first.signal(signal.SIGKILL)
    first.wait_exit(10)
    assert (
        query(database_url, "SELECT ended_at FROM calls WHERE id = %s", call["id"])[0]["ended_at"]
        is None
    )

    second = app_factory("second").start()
    second.wait_for("reconcile.done")
    row = ended_call(database_url, caller)
    assert row["outcome"] == "interrupted"
    assert row["hangup_party"] == "system"
    assert row["hangup_cause_text"] == "Switchboard restarted mid-call; call closed"
    # The stranded channel was really hung up in Asterisk, not just closed on paper.
    wait_until(
        lambda: str(call["channel_id"]) not in asterisk.cli("core show channels concise"),
        10,
        what="the stranded channel to be hung up",
    )
    background.join()
    assert background.result is not None and background.result.successful == 1


def test_asterisk_killed_mid_call_is_closed_when_the_app_reconnects(
    app: AppProcess, asterisk: AsteriskInstance, database_url: str
) -> None:
    caller = "+15550007000"
    background = CallInBackground(asterisk, caller, bye_timeout_ms=8000).start()
    answered_call(database_url, caller)

    pid = int((asterisk.host_dir / "run" / "asterisk.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)  # no shutdown notice reaches the app this time
    wait_until(lambda: not asterisk.is_running(), 10, what="Asterisk to die")
    asterisk.start()
    app.wait_for("reconcile.done", timeout=30, at_least=2)

    row = ended_call(database_url, caller)
    assert row["hangup_cause"] == 38
    assert row["hangup_cause_text"] == "Asterisk restarted during the call"
    assert row["outcome"] == "lost"
    background.join(30)
