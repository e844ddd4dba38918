"""Real sipp callers with RFC 4733 keys walk IVR flows through Asterisk 22; PostgreSQL rows
prove each path."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pbx.instance import AsteriskInstance
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.conftest import AppFactory
from tests.support import AppProcess, ended_call, query

pytestmark = pytest.mark.integration

# Monday 23 November 2026, 10:00 in London: open. 22:00: closed.
OPEN = "2026-11-23T10:00:00+00:00"
CLOSED = "2026-11-23T22:00:00+00:00"

FRONT = """\
flow: front
dids: ["7000"]
default: true
start: hours
schedules:
  office:
    timezone: Europe/London
    hours: {mon-fri: "08:00-18:00"}
nodes:
  hours:
    type: condition
    branches: [{if: {closed: office}, goto: closed}]
    else: top
  closed: {type: hangup, prompts: [sound:beep]}
  top:
    type: menu
    prompts: [sound:beep]
    options: {1: level2, 2: account}
    timeout: 2
    attempts: 2
    on_exhausted: bye
  level2:
    type: menu
    prompts: [sound:beep]
    options: {3: level3}
    timeout: 2
    attempts: 2
    on_exhausted: bye
  level3:
    type: menu
    prompts: [sound:beep]
    options: {4: agents}
    timeout: 2
    attempts: 2
    on_exhausted: bye
  agents: {type: queue, queue: support, priority: 3, on_unavailable: sorry}
  sorry: {type: hangup, prompts: [sound:beep]}
  account:
    type: collect
    prompts: [sound:beep]
    into: account
    min_digits: 4
    max_digits: 6
    timeout: 3
    inter_digit_timeout: 2
    attempts: 2
    next: lookup
    on_exhausted: bye
  lookup:
    type: lookup
    sql: SELECT status, balance FROM customer_accounts WHERE account_no = :acct
    params: {acct: "${account}"}
    into: acct
    timeout: 2
    next: known
    not_found: bye
    on_error: fallback
  known:
    type: condition
    branches: [{if: {var: acct.status, equals: active}, goto: balance}]
    else: bye
  balance: {type: play, prompts: ["number:${acct.balance}"], next: bye}
  fallback: {type: play, prompts: [sound:beep], next: bye}
  bye: {type: hangup, prompts: [sound:beep]}
"""

HTTP = """\
flow: orders
dids: ["7001"]
start: order
nodes:
  order:
    type: collect
    prompts: [sound:beep]
    into: order
    min_digits: 3
    max_digits: 3
    terminator: null
    timeout: 3
    next: status
    on_exhausted: bye
  status:
    type: lookup
    http: {url: "http://127.0.0.1:@@PORT@@/orders/${order}"}
    into: o
    timeout: 1
    next: said
    not_found: bye
    on_error: fallback
  said: {type: play, prompts: ["digits:${o.eta}"], next: bye}
  fallback: {type: play, prompts: [sound:beep], next: bye}
  bye: {type: hangup}
"""


class Orders(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/orders/123":
            body = json.dumps({"status": "shipped", "eta": "24"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/orders/555":
            time.sleep(3)  # longer than the flow's 1 s timeout
            self.send_response(200)
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def orders_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Orders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def flows_dir(tmp_path: Path, orders_port: int) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "front.yaml").write_text(FRONT)
    (folder / "orders.yaml").write_text(HTTP.replace("@@PORT@@", str(orders_port)))
    return folder


@pytest.fixture
def accounts(database_url: str) -> None:
    query(
        database_url,
        "CREATE TABLE IF NOT EXISTS customer_accounts "
        "(account_no text PRIMARY KEY, status text, balance integer)",
    )
    query(
        database_url,
        "INSERT INTO customer_accounts VALUES ('123456', 'active', 1250), "
        "('654321', 'closed', 0) ON CONFLICT DO NOTHING",
    )


def start_app(factory: AppFactory, flows: Path, clock: str = OPEN) -> AppProcess:
    app = factory(
        SWITCHBOARD_FLOWS_DIR=str(flows),
        SWITCHBOARD_FLOWS_POLL_SECONDS="0.3",
        SWITCHBOARD_BUSINESS_CLOCK_START=clock,
    )
    app.start()
    app.wait_for("reconcile.done")
    app.wait_for("ivr.flows_loaded")
    return app


def timeline(*pressed: tuple[int, str]) -> tuple[tuple[int, str], ...]:
    """Keys at moments after the answer (ms), as sipp's pauses between keys."""
    pauses, previous = [], 0
    for at, key in pressed:
        pauses.append((at - previous, key))
        previous = at
    return tuple(pauses)


def call(
    asterisk: AsteriskInstance,
    dialed: str,
    caller: str,
    keys: tuple[tuple[int, str], ...] = (),
    hang_up_after_ms: int | None = None,
) -> None:
    result = asyncio.run(
        place_calls(
            asterisk.params.sip_port,
            dialed,
            CallerScript(caller=caller, keys=timeline(*keys), hang_up_after_ms=hang_up_after_ms),
        )
    )
    assert result.ok, result.output


def events(database_url: str, call_id: Any, prefix: str = "IVR_") -> list[dict[str, Any]]:
    return query(
        database_url,
        "SELECT type, data FROM call_events WHERE call_id = %s AND type LIKE %s "
        "ORDER BY occurred_at, id",
        call_id,
        prefix + "%",
    )


def of(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r["data"] for r in rows if r["type"] == kind]


def test_valid_path_three_levels_deep_and_an_invalid_key(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, flows_dir: Path
) -> None:
    start_app(app_factory, flows_dir)
    caller = "+15557000001"
    # 9 is not an option at the top: "invalid option", then 1, 3, 4 down three levels.
    call(asterisk, "7000", caller, keys=((800, "9"), (4000, "1"), (5500, "3"), (7000, "4")))
    row = ended_call(database_url, caller)
    assert row["ivr_flow"] == "front"
    steps = events(database_url, row["id"])
    assert row["ivr_path"] == ["hours", "top", "level2", "level3", "agents", "sorry"], steps
    assert row["ivr_exit"] == "hangup" and row["ivr_node"] == "sorry"
    assert row["digits"] == "9134"
    assert row["arrived_at"] <= row["ivr_started_at"] <= row["ivr_ended_at"] <= row["ended_at"]
    assert of(steps, "IVR_INVALID") == [
        {"node": "top", "attempt": 1, "reason": "invalid_key", "key": "9"}
    ]
    assert [(e["node"], e["key"]) for e in of(steps, "IVR_KEY")] == [
        ("top", "1"),
        ("level2", "3"),
        ("level3", "4"),
    ]
    assert of(steps, "IVR_QUEUE")[0] == {
        "node": "agents",
        "queue": "support",
        "priority": 3,
        "skills": {},
    }
    assert of(steps, "IVR_QUEUE_UNAVAILABLE") == [{"node": "agents", "queue": "support"}]
    end = of(steps, "IVR_END")[0]
    assert end["exit"] == "hangup" and end["path"] == row["ivr_path"]
    ivr_seconds = (row["ivr_ended_at"] - row["ivr_started_at"]).total_seconds()
    assert abs(end["seconds"] - ivr_seconds) < 0.01


def test_no_key_until_retries_run_out(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, flows_dir: Path
) -> None:
    start_app(app_factory, flows_dir)
    caller = "+15557000002"
    call(asterisk, "7000", caller)
    row = ended_call(database_url, caller, timeout=30)
    assert row["ivr_path"] == ["hours", "top", "bye"]
    assert row["ivr_exit"] == "hangup" and row["hangup_party"] == "system"
    steps = events(database_url, row["id"])
    assert [e["attempt"] for e in of(steps, "IVR_NO_INPUT")] == [1, 2]
    assert of(steps, "IVR_EXHAUSTED") == [{"node": "top", "attempts": 2}]


def test_after_hours_with_an_injected_clock(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, flows_dir: Path
) -> None:
    start_app(app_factory, flows_dir, clock=CLOSED)
    caller = "+15557000003"
    call(asterisk, "7000", caller)
    row = ended_call(database_url, caller)
    assert row["ivr_path"] == ["hours", "closed"]
    assert of(events(database_url, row["id"]), "IVR_CONDITION") == [
        {"node": "hours", "branch": 0, "goto": "closed"}
    ]


def test_self_service_lookup_in_our_database(
    app_factory: AppFactory,
    asterisk: AsteriskInstance,
    database_url: str,
    flows_dir: Path,
    accounts: None,
) -> None:
    start_app(app_factory, flows_dir)
    caller = "+15557000004"
    keys: tuple[tuple[int, str], ...] = (
        (800, "2"),
        (2500, "1"),
        (2700, "2"),
        (2900, "3"),
        (3100, "4"),
        (3300, "5"),
    )
    keys += ((3500, "6"), (3700, "#"))
    call(asterisk, "7000", caller, keys=keys)
    row = ended_call(database_url, caller)
    steps = events(database_url, row["id"])
    assert row["ivr_path"] == ["hours", "top", "account", "lookup", "known", "balance", "bye"], (
        steps
    )
    assert of(steps, "IVR_INPUT") == [{"node": "account", "var": "account", "value": "123456"}]
    lookup = of(steps, "IVR_LOOKUP")[0]
    assert lookup["status"] == "found" and lookup["source"] == "sql"
    assert of(steps, "IVR_PROMPT_SKIPPED") == []

    # An unknown account, then a closed one, take their own branches.
    caller = "+15557000005"
    keys = ((800, "2"), (2500, "9"), (2700, "9"), (2900, "9"), (3100, "9"), (3300, "#"))
    call(asterisk, "7000", caller, keys=keys)
    row = ended_call(database_url, caller)
    assert row["ivr_path"][-2:] == ["lookup", "bye"]
    assert of(events(database_url, row["id"]), "IVR_LOOKUP")[0]["status"] == "not_found"


def test_http_lookup_found_and_timing_out(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, flows_dir: Path
) -> None:
    start_app(app_factory, flows_dir)
    caller = "+15557000006"
    call(asterisk, "7001", caller, keys=((800, "1"), (1000, "2"), (1200, "3")))
    row = ended_call(database_url, caller)
    assert row["ivr_flow"] == "orders"
    assert row["ivr_path"] == ["order", "status", "said", "bye"]
    assert of(events(database_url, row["id"]), "IVR_LOOKUP")[0]["status"] == "found"

    caller = "+15557000007"
    call(asterisk, "7001", caller, keys=((800, "5"), (1000, "5"), (1200, "5")))
    row = ended_call(database_url, caller)
    # The service is too slow: the caller hears the fallback, the record says why.
    assert row["ivr_path"] == ["order", "status", "fallback", "bye"]
    lookup = of(events(database_url, row["id"]), "IVR_LOOKUP")[0]
    assert lookup["status"] == "error" and "timed out" in lookup["detail"]
    assert 900 <= lookup["ms"] <= 2500


def test_caller_hanging_up_in_a_menu(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, flows_dir: Path
) -> None:
    start_app(app_factory, flows_dir)
    caller = "+15557000008"
    call(asterisk, "7000", caller, keys=((800, "1"),), hang_up_after_ms=2500)
    row = ended_call(database_url, caller)
    assert row["ivr_exit"] == "caller_hangup"
    assert row["ivr_node"] == "level2"
    assert row["hangup_party"] == "caller"
    end = of(events(database_url, row["id"]), "IVR_END")[0]
    assert end["node"] == "level2" and end["exit"] == "caller_hangup"


def test_reload_with_a_call_in_progress(
    app_factory: AppFactory, asterisk: AsteriskInstance, database_url: str, flows_dir: Path
) -> None:
    app = start_app(app_factory, flows_dir)
    path = flows_dir / "front.yaml"

    async def scenario() -> None:
        first = asyncio.create_task(
            place_calls(
                asterisk.params.sip_port,
                "7000",
                CallerScript(caller="+15557000009", keys=timeline((4000, "1"))),
            )
        )
        # While the first caller is in the top menu, key 1 is changed to say goodbye.
        await asyncio.to_thread(
            lambda: ended_or_live(database_url, "+15557000009"),
        )
        path.write_text(FRONT.replace("{1: level2, 2: account}", "{1: bye, 2: account, 3: level2}"))
        await asyncio.to_thread(app.wait_for, "ivr.flows_loaded", 10, 2)
        result = await first
        assert result.ok, result.output

    asyncio.run(scenario())
    old = ended_call(database_url, "+15557000009", timeout=30)
    assert old["ivr_path"][:3] == ["hours", "top", "level2"]  # the version it started on

    call(asterisk, "7000", "+15557000010", keys=((800, "1"),))
    new = ended_call(database_url, "+15557000010")
    assert new["ivr_path"] == ["hours", "top", "bye"]
    assert new["ivr_version"] != old["ivr_version"]

    # A broken edit is refused with its line; the last good version keeps answering.
    path.write_text(FRONT.replace("  top:\n", "  top:\n    bogus: [\n"))
    app.wait_for("ivr.flow_refused", 10)
    refused = [line for line in app.log_lines() if line.get("event") == "ivr.flow_refused"]
    assert "front.yaml:" in refused[0]["problem"]
    call(asterisk, "7000", "+15557000011", keys=((800, "1"),))
    kept = ended_call(database_url, "+15557000011")
    assert kept["ivr_version"] == new["ivr_version"]
    assert kept["ivr_path"] == ["hours", "top", "bye"]


def ended_or_live(database_url: str, caller: str) -> None:
    """Wait until the caller's call is in the IVR's top menu."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = query(
            database_url,
            "SELECT ivr_node FROM calls WHERE caller_number = %s",
            caller,
        )
        if rows and rows[0]["ivr_node"] == "top":
            return
        time.sleep(0.1)
    raise AssertionError(f"{caller} never reached the top menu")


def test_lint_checks_prompts_against_the_real_asterisk_sounds(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from switchboard.cli.main import app as cli

    examples = Path(__file__).parents[2] / "flows"
    runner = CliRunner()
    shipped = runner.invoke(cli, ["ivr", "lint", str(examples)])
    assert shipped.exit_code == 0, shipped.output
    broken = tmp_path / "front.yaml"
    broken.write_text(
        FRONT.replace(
            "prompts: [sound:beep]\n    options: {4",
            "prompts: [sound:no-such-sound]\n    options: {4",
        )
    )
    refused = runner.invoke(cli, ["ivr", "lint", str(broken)])
    assert refused.exit_code == 1
    lines = broken.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "no-such-sound" in text)
    assert f"front.yaml:{line}:" in refused.output and "unknown_prompt" in refused.output
