"""The supervisor's console in headless Chromium on real calls: a caller waits in a queue
nobody answers, the console shows them (pushed by server-sent events), the supervisor moves
them to another queue where an agent answers, listens to that agent's call from their own
softphone (sipp) and pauses another agent, all from the page. The journey records the move
as the first queue passing the call on; the screenshot goes to artifacts/."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from db.api_credential_store import add_credential
from tests.integration.test_acd_calls import (
    Center,
    call_in_background,
    calls,
    center,  # noqa: F401  (the fixture)
    kinds_of,
    wait_state,
)
from tests.integration.test_browser_phone import phone_browser  # noqa: F401  (the fixture)
from tests.support import query, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SWITCHBOARD_ARTIFACTS", REPO / "artifacts"))


def cells(browser: Any, table: str) -> list[list[str]]:
    """The table's rows as text, read at once (the page redraws them as events come)."""
    rows: list[list[str]] = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".map((r) => [...r.cells].map((c) => c.innerText));",
        f"#{table} tbody tr",
    )
    return rows


CLICK = """
const [table, key, label] = arguments;
for (const row of document.querySelectorAll("#" + table + " tbody tr")) {
  if (row.cells[0].innerText !== key && !row.innerText.includes(key)) continue;
  for (const button of row.querySelectorAll("button")) {
    if (button.innerText === label && !button.disabled) { button.click(); return true; }
  }
}
return false;
"""


def click(browser: Any, table: str, key: str, label: str) -> None:
    """Click the row's button (found and clicked in one go; retried while it is not there
    or not enabled yet)."""
    wait_until(
        lambda: browser.execute_script(CLICK, table, key, label), 10, what=f"{label} for {key}"
    )


def test_a_supervisor_moves_a_caller_listens_and_pauses_from_the_console(
    center: Center,  # noqa: F811
    phone_browser: Any,  # noqa: F811
    database_url: str,
) -> None:
    browser = phone_browser
    for name in ("ned", "kai", "lou", "sup"):
        center.agent(name)
    center.queue("line", ["ned"])  # ned is logged out: callers wait
    center.queue("desk2", ["kai", "lou"])
    token = add_credential(center.engine, "sue-console", "supervisor", "sup")
    app = center.start("line")
    center.phone("kai", audio_ms=30000)
    center.phone("sup", audio_ms=30000)
    center.login("lou")
    port = app.env["SWITCHBOARD_API_PORT"]
    browser.get(f"http://127.0.0.1:{port}/console?token={token}")
    wait_until(lambda: "sue-console" in browser.find_element("id", "who").text, 10, what="me")
    wait_until(lambda: browser.find_element("id", "live").text == "live", 10, what="the stream")

    caller = "+15558600003"
    done = call_in_background(center, caller, 0)  # waits for our BYE
    wait_until(
        lambda: any(caller in " ".join(r) for r in cells(browser, "waiting")), 15, what="wait"
    )
    (line,) = [r for r in cells(browser, "queues") if r[0] == "line"]
    assert line[1] == "1"  # one caller waiting there

    # Pause lou from the console, then log kai in: kai takes the caller once moved.
    click(browser, "agents", "lou", "Pause")
    wait_state(center, "lou", "paused", 5)
    center.login("kai")
    click(browser, "waiting", caller, "Move")  # the only other queue: desk2
    wait_state(center, "kai", "on_call", 15)
    wait_until(lambda: not cells(browser, "waiting"), 10, what="nobody waiting on the page")

    click(browser, "agents", "kai", "Listen")
    try:
        wait_until(
            lambda: "listen by sup" in " ".join(r for row in cells(browser, "agents") for r in row),
            15,
            what="kai shown as listened to",
        )
    except AssertionError:
        said = [line for line in app.log_text().splitlines() if "supervise" in line]
        raise AssertionError(
            f"kai not shown as listened to: {browser.find_element('id', 'message').text!r}, "
            f"{cells(browser, 'agents')}, the app said {said}"
        ) from None
    later = "+15558600004"  # another caller, left waiting in line
    done_later = call_in_background(center, later, 0)
    wait_until(
        lambda: any(later in " ".join(r) for r in cells(browser, "waiting")), 15, what="waiting"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "console-listening.png"))
    browser.set_window_size(390, 844)  # a phone's viewport: the tables scroll, nothing hides
    browser.save_screenshot(str(ARTIFACTS / "console-phone.png"))
    assert browser.find_element("id", "agents").is_displayed()
    browser.set_window_size(1280, 800)

    kinds = kinds_of(database_url, caller)
    assert "MOVED" in kinds and "SUPERVISORJOIN" in kinds
    center.asterisk.cli("channel request hangup all")  # the call ends (as a line drop)
    done.result(timeout=60)
    done_later.result(timeout=60)
    (row,) = calls(database_url, caller, 1)
    visits = query(
        database_url,
        "SELECT queue, exit FROM queue_visits WHERE call_id = %s ORDER BY seq",
        row["id"],
    )
    assert visits == [{"queue": "line", "exit": "overflow"}, {"queue": "desk2", "exit": "answered"}]
    moved = query(
        database_url,
        "SELECT data FROM call_events WHERE call_id = %s AND type = 'MOVED'",
        row["id"],
    )
    assert moved[0]["data"]["to"] == "desk2" and moved[0]["data"]["by"] == "sue-console"
    assert "records.write_rejected" not in app.log_text()  # every snapshot of the call stored
