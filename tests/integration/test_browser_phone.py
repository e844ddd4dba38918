"""The agent desk's browser phone on real calls: headless Chromium with fake media devices
registers over WSS to the real Asterisk (WebRTC: ICE, DTLS-SRTP), a sipp caller goes to
the queue, the agent answers on the page, audio flows both ways (counted by the browser
and by Asterisk on both legs), the agent holds and takes the caller back, hangs up, codes
the call with a note; the row in PostgreSQL has the agent, the times and the code.
Screenshots of the desk (on a call, in wrap-up) go to artifacts/."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from db.api_credential_store import issue_agent_token
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.integration.test_acd_calls import (
    Center,
    ari_get,
    calls,
    center,  # noqa: F401  (the fixture)
    wait_state,
)
from tests.support import query, wait_until

pytestmark = pytest.mark.integration

# The caller keys their account number, then waits for an agent.
ACCOUNT_FLOW = """\
flow: front
default: true
start: account
nodes:
  account: {type: collect, prompts: [sound:beep], into: acct, min_digits: 4, max_digits: 8,
            next: to_queue, on_exhausted: to_queue}
  to_queue: {type: queue, queue: desk, on_unavailable: sorry}
  sorry: {type: hangup, prompts: [sound:beep]}
"""
SCRIPT = "Hello ${caller_name}, this is ${agent}. Account ${acct}?"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SWITCHBOARD_ARTIFACTS", REPO / "artifacts"))


@pytest.fixture
def phone_browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium that may use a (fake) microphone, talk WebRTC over loopback and
    accept the test Asterisk's self-signed certificate."""
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
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--allow-loopback-in-peer-connection",
        "--ignore-certificate-errors",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1280,800",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def text(browser: Any, element_id: str) -> str:
    value: str = browser.find_element("id", element_id).text
    return value


def caller_in_background(
    rig: Center, caller: str, talk_ms: int, keys: tuple[tuple[int, str], ...]
) -> Future[Any]:
    """A caller who keys ``keys``, then speaks (a tone) and hangs up after ``talk_ms``."""
    pool = ThreadPoolExecutor(max_workers=1)
    script = CallerScript(caller=caller, keys=keys, hang_up_after_ms=talk_ms, audio_ms=talk_ms)
    future = pool.submit(
        lambda: asyncio.run(place_calls(rig.asterisk.params.sip_port, "5000", script))
    )
    pool.shutdown(wait=False)
    return future


def shortcut(browser: Any, key: str) -> None:
    """Alt+``key`` on the page, as the agent's keyboard sends it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(browser).key_down(Keys.ALT).send_keys(key).key_up(Keys.ALT).perform()


def channel_packets(rig: Center) -> dict[str, tuple[int, int]]:
    """Asterisk's RTP counters per live channel: {channel name: (received, sent)}."""
    out = rig.asterisk.cli("pjsip show channelstats")
    counts: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        # " call-38a trunk-in-00000000  00:00:02 alaw  75  0  0  0.000  71  0  0  0.000  0.000"
        # (bridge, channel, up time, codec, received: count lost % jitter, sent: the same)
        fields = line.split()
        at = next((i for i, f in enumerate(fields) if re.fullmatch(r"\d+:\d\d:\d\d", f)), None)
        if at is not None and at >= 1 and len(fields) > at + 6:
            counts[fields[at - 1]] = (int(fields[at + 2]), int(fields[at + 6]))
    return counts


def endpoint(rig: Center, name: str) -> dict[str, str]:
    """The agent's endpoint as Asterisk has it now (ARI's dynamic configuration)."""
    fields = ari_get(rig, f"/asterisk/config/dynamic/res_pjsip/endpoint/{name}")
    return {f["attribute"]: f["value"] for f in fields}


def test_agent_answers_on_the_browser_phone_and_codes_the_call(
    center: Center,  # noqa: F811
    phone_browser: Any,
    database_url: str,
) -> None:
    browser = phone_browser
    center.agent("wes")  # with a softphone, as every new agent
    token = issue_agent_token(center.engine, "wes")
    center.queue("desk", ["wes"], wrap_up_seconds=60, script=SCRIPT, record_calls=True)
    app = center.start("desk", ACCOUNT_FLOW)
    port = app.env["SWITCHBOARD_API_PORT"]

    browser.get(f"http://127.0.0.1:{port}/agent?agent=wes&token={token}")
    wait_until(lambda: "softphone" in text(browser, "phone-status"), 10, what="the desk")
    browser.find_element("id", "use-browser").click()  # their endpoint becomes WebRTC
    wait_until(lambda: text(browser, "phone-status") == "ready", 15, what="the browser phone")
    assert endpoint(center, "wes")["media_encryption"] == "dtls"
    wait_until(lambda: center.state("wes")["registered"], 10, what="wes registered (WSS)")
    browser.find_element("id", "login").click()
    wait_state(center, "wes", "available", 10)

    caller = "+15558600001"
    account = ((800, "4"), (150, "2"), (150, "4"), (150, "1"), (150, "#"))
    done = caller_in_background(center, caller, 9000, account)
    wait_until(lambda: "ringing" in text(browser, "phone-status"), 15, what="the phone rings")
    shortcut(browser, "a")  # Alt+A answers
    wait_state(center, "wes", "on_call", 10)
    wait_until(lambda: text(browser, "state") == "on call", 10, what="the call on the page")
    assert text(browser, "caller") == caller and text(browser, "queue") == "desk"
    # The screen pop: what the caller keyed in the IVR, and the queue's script filled in.
    assert text(browser, "collected") == "acct 4241"
    assert text(browser, "script") == "Hello Switchboard Test, this is wes. Account 4241?"

    # Audio both ways: the browser sends its (fake) microphone and hears the caller's tone;
    # Asterisk counts RTP in and out on the caller's leg and on the agent's leg.
    def stats() -> dict[str, int]:
        got: dict[str, int] = browser.execute_script("return await window.deskPhone.stats();")
        return got

    wait_until(lambda: min(stats().values()) >= 50, 10, what="RTP both ways in the browser")

    def both_legs() -> dict[str, tuple[int, int]] | None:
        # Asterisk's own counters lag the browser's by a few packets: read until they pass.
        legs = channel_packets(center)
        agent_leg = next((v for k, v in legs.items() if k.startswith("wes-")), (0, 0))
        caller_leg = next((v for k, v in legs.items() if k.startswith("trunk-in-")), (0, 0))
        # From the browser and to it; from sipp and to it.
        return legs if min(agent_leg) >= 50 and min(caller_leg) >= 50 else None

    try:
        wait_until(both_legs, 5, what="RTP both ways on both of Asterisk's legs")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {channel_packets(center)}") from None

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shortcut(browser, "k")  # Alt+K holds...
    wait_state(center, "wes", "on_hold", 5)
    wait_until(lambda: text(browser, "state") == "on hold", 5, what="hold on the page")
    shortcut(browser, "k")  # ... and takes the caller back
    wait_state(center, "wes", "on_call", 5)
    # The caller reads a card number: the recording is paused from the desk, then resumed.
    browser.find_element("id", "rec-pause").click()
    wait_until(lambda: text(browser, "rec-state") == "recording paused", 5, what="paused")
    time.sleep(1)
    browser.find_element("id", "rec-resume").click()
    wait_until(lambda: text(browser, "rec-state") == "recording", 5, what="resumed")
    browser.save_screenshot(str(ARTIFACTS / "desk-on-call.png"))
    browser.set_window_size(390, 844)  # a phone's viewport: the call's controls still there
    browser.save_screenshot(str(ARTIFACTS / "desk-phone-viewport.png"))
    assert browser.find_element("id", "hangup").is_displayed()
    assert browser.find_element("id", "hold").is_displayed()
    browser.set_window_size(1280, 800)

    shortcut(browser, "h")  # Alt+H: the agent ends the call from the page
    wait_until(lambda: text(browser, "state") == "wrap up", 10, what="wrap-up on the page")
    wait_until(lambda: text(browser, "phone-status") == "ready", 5, what="the phone idle again")
    wait_until(lambda: "Callback" in text(browser, "code"), 10, what="the codes")
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "code")).select_by_value("callback")
    # The customer asked to be called back on 2 January 2030 at 10:30, the agent's time.
    browser.execute_script("document.getElementById('callback-at').value = '2030-01-02T10:30';")
    offset = browser.execute_script("return new Date('2030-01-02T10:30').getTimezoneOffset();")
    due = datetime(2030, 1, 2, 10, 30, tzinfo=UTC) + timedelta(minutes=offset)
    browser.find_element("id", "note").send_keys("answered in the browser")
    browser.save_screenshot(str(ARTIFACTS / "desk-wrap-up.png"))
    browser.find_element("id", "dispose").click()
    wait_until(lambda: text(browser, "coded") == "coded callback", 10, what="coded")
    # Their own figures today, refreshed as the wrap-up ends: the call they just took.
    wait_until(
        lambda: re.fullmatch(
            r"Today: 1 call · AHT \d+:\d\d · occupancy \d+%", text(browser, "today")
        ),
        10,
        what="today's figures on the desk",
    )
    done.result(timeout=30)

    (row,) = calls(database_url, caller, 1)
    assert row["agent"] == "wes" and row["hold_count"] == 1
    (recording,) = query(database_url, "SELECT gaps FROM recordings WHERE call_id = %s", row["id"])
    (gap,) = recording["gaps"]
    assert gap["by"] == "agent:wes" and 0.9 < gap["seconds"] < 3, gap
    assert row["arrived_at"] < row["connected_at"] < row["ended_at"]
    coded = query(
        database_url,
        "SELECT code, set_by, note FROM call_dispositions WHERE call_id = %s AND set_by <> "
        "'system'",
        row["id"],
    )
    assert coded == [{"code": "callback", "set_by": "agent:wes", "note": "answered in the browser"}]
    promised = query(
        database_url,
        "SELECT number, due_at, source FROM callback_requests WHERE call_id = %s",
        row["id"],
    )
    query(database_url, "DELETE FROM callback_requests WHERE call_id = %s", row["id"])
    assert promised == [{"number": caller, "due_at": due, "source": "disposition"}]
    # Back to the softphone: stored, and the endpoint is plain SIP again (made anew).
    browser.find_element("id", "use-softphone").click()
    try:
        wait_until(lambda: "softphone" in text(browser, "phone-status"), 10, what="softphone")
    except AssertionError:
        said = (text(browser, "phone-status"), text(browser, "message"), text(browser, "state"))
        raise AssertionError(f"not back on the softphone: the page says {said}") from None
    assert query(database_url, "SELECT phone FROM agents WHERE name = 'wes'") == [
        {"phone": "softphone"}
    ]
    plain = endpoint(center, "wes")
    assert plain["media_encryption"] == "no" and plain["transport"] == "transport-udp"
    assert plain["ice_support"] == "false"

    refused = [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    assert refused == []  # nothing the page runs is blocked by its own policy
