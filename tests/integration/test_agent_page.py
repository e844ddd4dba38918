"""The agent page in headless Chromium: an agent logs in, sees the offered call with the
screen pop, puts the caller on hold and back, all on a real call through Asterisk."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.callees import SippCallees
from tests.integration.test_acd_calls import (
    Center,
    call_in_background,
    calls,
    center,  # noqa: F401  (the fixture)
    wait_state,
)
from tests.integration.test_campaign_calls import (
    callees,  # noqa: F401  (the fixture)
    clean,  # noqa: F401  (the fixture)
    cli,
    ended_attempts,
    phone,
    start_app,
)
from tests.support import query, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        pytest.fail("headless Chromium is needed: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def text(browser: Any, element_id: str) -> str:
    value: str = browser.find_element("id", element_id).text
    return value


def test_agent_page_follows_a_call_and_holds_it(
    center: Center,  # noqa: F811
    browser: Any,
    database_url: str,
    tmp_path: Path,
) -> None:
    center.agent("zoe")
    center.queue("web", ["zoe"], wrap_up_seconds=60)  # no set named: a new queue gets "default"
    app = center.start("web")
    center.phone("zoe")
    port = app.env["SWITCHBOARD_API_PORT"]
    token = app.env["SWITCHBOARD_API_TOKEN"]
    browser.get(f"http://127.0.0.1:{port}/agent?agent=zoe&token={token}")
    wait_until(lambda: text(browser, "state") == "logged out", 10, what="the page")
    browser.find_element("id", "login").click()
    wait_until(lambda: text(browser, "state") == "available", 10, what="logged in")
    assert center.state("zoe")["state"] == "available"
    caller = "+15558000011"
    done = call_in_background(center, caller, 7000)
    wait_until(lambda: text(browser, "state") == "on call", 15, what="the call on the page")
    assert text(browser, "caller") == caller and text(browser, "queue") == "web"
    browser.find_element("id", "hold").click()
    wait_state(center, "zoe", "on_hold", 5)
    wait_until(lambda: text(browser, "state") == "on hold", 5, what="hold on the page")
    browser.find_element("id", "unhold").click()
    wait_state(center, "zoe", "on_call", 5)
    browser.save_screenshot(str(tmp_path / "agent-page.png"))
    assert done.result(timeout=60).ok
    wait_until(lambda: text(browser, "state") == "wrap up", 10, what="wrap-up on the page")
    assert not browser.find_element("id", "call").is_displayed()
    (row,) = calls(database_url, caller, 1)
    assert row["agent"] == "zoe" and row["hold_count"] == 1
    # Wrap-up: the agent picks a code of the queue's set; a final one ends the wrap-up.
    wait_until(lambda: "Resolved" in browser.find_element("id", "code").text, 10, what="the codes")
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "code")).select_by_value("resolved")
    browser.find_element("id", "note").send_keys("fixed on the first call")
    browser.find_element("id", "dispose").click()
    wait_until(lambda: text(browser, "state") == "available", 10, what="wrap-up ended")
    assert text(browser, "coded") == "coded resolved"
    coded = query(
        database_url,
        "SELECT code, set_by, note FROM call_dispositions WHERE call_id = %s AND set_by <> "
        "'system'",
        row["id"],
    )
    assert coded == [{"code": "resolved", "set_by": "agent:zoe", "note": "fixed on the first call"}]


def test_agent_previews_a_lead_on_the_page_and_dials_it(
    center: Center,  # noqa: F811
    browser: Any,
    database_url: str,
    callees: SippCallees,  # noqa: F811
    clean: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    center.outbound_uri = callees.uri
    center.agent("una")
    center.queue("outq", ["una"])
    cli(
        database_url,
        "campaign", "create", "peek", "--queue", "outq", "--caller-id", "+12125550000",
        "--mode", "preview",
    )  # fmt: skip
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text('phone,name,note\n+12125550301,Ida Lead,"<b>not bold</b>"\n')
    cli(database_url, "campaign", "import", "peek", str(leads_csv))
    cli(database_url, "campaign", "start", "peek")
    app = start_app(center)
    phone(center, "una", ring_ms=200, hang_up_after_ms=1500)
    port = app.env["SWITCHBOARD_API_PORT"]
    token = app.env["SWITCHBOARD_API_TOKEN"]
    browser.get(f"http://127.0.0.1:{port}/agent?agent=una&token={token}")
    wait_until(lambda: text(browser, "state") == "logged out", 10, what="the page")
    browser.find_element("id", "login").click()
    wait_until(lambda: text(browser, "state") == "available", 10, what="logged in")
    browser.find_element("id", "next-lead").click()
    wait_until(lambda: text(browser, "lead-number") == "+12125550301", 10, what="the lead")
    assert text(browser, "lead-name") == "Ida Lead"
    assert "<b>not bold</b>" in text(browser, "lead-data")  # shown as text, never as markup
    browser.find_element("id", "dial-lead").click()
    wait_until(lambda: text(browser, "state") == "on call", 15, what="the call on the page")
    browser.save_screenshot(str(tmp_path / "agent-preview.png"))
    done = ended_attempts(database_url, "peek", 1, 30)
    assert done["+12125550301"]["result"] == "connected"
    assert done["+12125550301"]["agent"] == "una"
