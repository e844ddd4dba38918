"""The browser phone when things go wrong, in headless Chromium against the real Asterisk:
a microphone the browser will not give is said plainly and the phone does not register
(no calls offered to a phone that cannot send audio); Asterisk restarting drops the
websocket, the page says so, reconnects and registers again, and takes the next call."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from db.acd_store import set_phone
from db.api_credential_store import issue_agent_token
from tests.integration.test_acd_calls import (
    Center,
    calls,
    center,  # noqa: F401  (the fixture)
    wait_state,
)
from tests.integration.test_browser_phone import (
    caller_in_background,
    phone_browser,  # noqa: F401  (the fixture)
    text,
)
from tests.support import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def no_microphone_browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium where the user refuses the microphone."""
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
        "--use-fake-device-for-media-stream",
        "--deny-permission-prompts",
        "--ignore-certificate-errors",
        f"--user-data-dir={tmp_path / 'chromium-no-mic'}",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def said(browser: Any) -> list[str]:
    """What the phone's status line has said, oldest first."""
    lines: list[str] = browser.execute_script("return window.deskPhone.said();")
    return lines


def test_a_refused_microphone_is_said_and_the_phone_stays_off(
    center: Center,  # noqa: F811
    no_microphone_browser: Any,
) -> None:
    center.agent("mia")
    set_phone(center.engine, "mia", "browser")
    token = issue_agent_token(center.engine, "mia")
    center.queue("quiet", ["mia"])
    app = center.start("quiet")
    port = app.env["SWITCHBOARD_API_PORT"]
    no_microphone_browser.get(f"http://127.0.0.1:{port}/agent?agent=mia&token={token}")
    wait_until(
        lambda: "microphone refused" in text(no_microphone_browser, "phone-status"),
        10,
        what="the refusal on the page",
    )
    assert "NotAllowedError" in text(no_microphone_browser, "phone-status")
    assert not center.state("mia")["registered"]  # so the ACD offers mia no call


def test_the_phone_reconnects_after_asterisk_restarts_and_takes_the_next_call(
    center: Center,  # noqa: F811
    phone_browser: Any,  # noqa: F811
    database_url: str,
) -> None:
    browser = phone_browser
    center.agent("rex")
    set_phone(center.engine, "rex", "browser")
    token = issue_agent_token(center.engine, "rex")
    center.queue("after", ["rex"])
    app = center.start("after")
    port = app.env["SWITCHBOARD_API_PORT"]
    browser.get(f"http://127.0.0.1:{port}/agent?agent=rex&token={token}")
    wait_until(lambda: text(browser, "phone-status") == "ready", 15, what="the browser phone")
    browser.find_element("id", "login").click()
    wait_state(center, "rex", "available", 10)

    before = len(said(browser))
    center.asterisk.restart_now()
    wait_until(
        lambda: "connection lost: reconnecting…" in said(browser)[before:],
        15,
        what="the dropped socket on the page",
    )
    wait_until(lambda: said(browser)[-1] == "ready", 45, what="registered again")
    wait_until(lambda: center.state("rex")["registered"], 15, what="rex registered again")

    caller = "+15558600006"
    done = caller_in_background(center, caller, 4000, ())
    wait_until(lambda: "ringing" in text(browser, "phone-status"), 20, what="the phone rings")
    browser.find_element("id", "answer").click()
    wait_state(center, "rex", "on_call", 10)
    done.result(timeout=30)
    (row,) = calls(database_url, caller, 1)
    assert row["agent"] == "rex" and row["connected_at"] is not None
