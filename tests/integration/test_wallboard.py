"""The live wallboard and Prometheus metrics on real calls: a caller waits in a queue with
nobody to answer, the wallboard (headless Chromium, pushed by server-sent events) and
/metrics show them waiting; after they hang up, today's figures count the abandon. The
wallboard's screenshot is kept in artifacts/ (SWITCHBOARD_ARTIFACTS to put it elsewhere)."""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_acd_calls import Center, call_in_background
from tests.integration.test_acd_calls import center as center
from tests.integration.test_agent_page import browser as browser
from tests.support import API_TOKEN, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SWITCHBOARD_ARTIFACTS", REPO / "artifacts"))


def scrape(port: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    request.add_header("Authorization", f"Bearer {API_TOKEN}")  # as Prometheus sends it
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        body: bytes = response.read()
    return body.decode()


def ari_application(center: Center) -> dict[str, Any]:
    p = center.asterisk.params
    request = urllib.request.Request(f"http://127.0.0.1:{p.http_port}/ari/applications/{p.ari_app}")
    token = base64.b64encode(f"{p.ari_user}:{p.ari_password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        found: dict[str, Any] = json.loads(response.read())
    return found


def sample(metrics: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    selector = re.escape(f"{{{wanted}}}") if labels else ""
    match = re.search(rf"^{name}{selector} (\S+)$", metrics, re.MULTILINE)
    return float(match.group(1)) if match else None


def tile_text(browser: Any, queue: str, cls: str) -> str:
    found = browser.find_elements("css selector", f'[data-queue="{queue}"] .{cls}')
    return str(found[0].text) if found else ""


def test_wallboard_and_metrics_follow_a_waiting_caller(
    center: Center,
    browser: Any,
) -> None:
    center.agent("wes")  # a member who is not logged in: callers wait
    center.queue("board", ["wes"], service_level_seconds=20)
    app = center.start("board")
    port = app.env["SWITCHBOARD_API_PORT"]
    browser.get(f"http://127.0.0.1:{port}/wallboard?token={API_TOKEN}")
    wait_until(lambda: tile_text(browser, "board", "waiting") == "0", 15, what="the tile")
    assert tile_text(browser, "board", "sl") == "n/a"  # no calls yet: not a division error
    metrics = scrape(port)
    assert sample(metrics, "switchboard_queue_callers_waiting", queue="board") == 0
    assert sample(metrics, "switchboard_agents", state="logged_out") == 1

    caller = call_in_background(center, "+15559000001", 6000)
    wait_until(lambda: tile_text(browser, "board", "waiting") == "1", 15, what="the caller")
    wait_until(
        lambda: tile_text(browser, "board", "longest") not in ("0 s", "1 s"),
        10,
        what="the wait growing",
    )
    metrics = scrape(port)
    assert sample(metrics, "switchboard_queue_callers_waiting", queue="board") == 1
    assert (sample(metrics, "switchboard_queue_longest_wait_seconds", queue="board") or 0) > 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "wallboard.png"))

    assert caller.result(timeout=60).ok
    wait_until(lambda: tile_text(browser, "board", "waiting") == "0", 15, what="caller gone")
    wait_until(lambda: tile_text(browser, "board", "abandoned") == "1", 20, what="the abandon")
    assert tile_text(browser, "board", "abandonment") == "100.0%"
    metrics = scrape(port)
    assert sample(metrics, "switchboard_queue_abandoned_today", queue="board") == 1
    assert sample(metrics, "switchboard_queue_offered_today", queue="board") == 1
    assert sample(metrics, "switchboard_queue_service_level_today", queue="board") == 0
    # What the calls cost on the wire and in the database, counted since start.
    for counter in ("ari_requests", "ari_events", "record_ops", "record_batches"):
        assert (sample(metrics, f"switchboard_{counter}_total") or 0) > 0, counter
    # Asterisk sends only the events the app acts on (none of the ChannelVarset flood).
    allowed = {e["type"] for e in ari_application(center)["events_allowed"]}
    assert {"StasisStart", "ChannelDestroyed", "ChannelDtmfReceived"} <= allowed
    assert "ChannelVarset" not in allowed
