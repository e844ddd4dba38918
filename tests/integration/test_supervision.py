"""A supervisor on a live call from their own phone (sipp): listens (a snoop on the agent's
leg that hears both sides and whispers nowhere), whispers (the snoop's whisper goes to the
agent only), barges (in the conversation's bridge, all three hear each other). Checked on
the real Asterisk: RTP reaching the supervisor, the bridges each leg is in, the snoop
channels, and every use as a call event in PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_acd_calls import (
    Center,
    ari_get,
    calls,
    center,  # noqa: F401  (the fixture)
    events,
    kinds_of,
    post,
    wait_state,
)
from tests.integration.test_browser_phone import caller_in_background, channel_packets
from tests.support import wait_until

pytestmark = pytest.mark.integration


def bridges(rig: Center) -> dict[str, list[str]]:
    """Asterisk's bridges now: {bridge id: its channels' ids}."""
    return {b["id"]: sorted(b["channels"]) for b in ari_get(rig, "/bridges")}


def channel_names(rig: Center) -> dict[str, str]:
    return {c["id"]: c["name"] for c in ari_get(rig, "/channels")}


def sent_to(rig: Center, prefix: str) -> int:
    """RTP packets Asterisk has sent to the live channel whose name starts with ``prefix``."""
    return next(
        (tx for name, (_, tx) in channel_packets(rig).items() if name.startswith(prefix)), 0
    )


def test_a_supervisor_listens_whispers_and_barges(center: Center, database_url: str) -> None:  # noqa: F811
    center.agent("amy")
    center.agent("sue")  # the supervisor's phone
    center.queue("watched", ["amy"])
    center.start("watched")
    center.phone("amy", audio_ms=20000)  # both talk, as people on a call do
    center.phone("sue", audio_ms=20000)
    center.login("amy")
    caller = "+15558600002"
    done = caller_in_background(center, caller, 16000, ())
    wait_state(center, "amy", "on_call")
    call_bridge = next(b for b in bridges(center) if b.startswith("call-"))
    caller_and_agent = bridges(center)[call_bridge]

    # Listen: the supervisor's own bridge with a snoop on amy's leg; the conversation's
    # bridge still holds only the caller and amy, so nothing of the supervisor reaches it.
    assert post(center, "/api/supervisors/sue/join", {"agent": "amy", "mode": "listen"}) == (
        200,
        {"ringing": "sue", "mode": "listen"},
    )
    wait_until(lambda: "SUPERVISORJOIN" in kinds_of(database_url, caller), 10, what="listening")
    spy = next(b for b in bridges(center) if b.startswith("spy-"))
    names = channel_names(center)
    in_spy = [names[c] for c in bridges(center)[spy]]
    assert any(n.startswith("PJSIP/sue-") for n in in_spy)
    assert any(n.startswith("Snoop/") and "amy" in n for n in in_spy)  # on amy's leg
    assert bridges(center)[call_bridge] == caller_and_agent
    before = sent_to(center, "sue-")
    wait_until(lambda: sent_to(center, "sue-") - before >= 50, 5, what="the call's audio at sue")

    # Whisper: a new snoop whose whisper goes to amy only; still not in the conversation.
    assert post(center, "/api/supervisors/sue/join", {"agent": "amy", "mode": "whisper"}) == (
        200,
        {"supervising": "sue", "mode": "whisper"},
    )
    assert bridges(center)[call_bridge] == caller_and_agent

    def snoops() -> list[str]:
        return [n for n in channel_names(center).values() if n.startswith("Snoop/")]

    wait_until(lambda: len(snoops()) == 1, 5, what="the listening snoop replaced")
    assert "amy" in snoops()[0]
    before = sent_to(center, "sue-")
    wait_until(lambda: sent_to(center, "sue-") - before >= 50, 5, what="audio at sue (whisper)")

    # Barge: into the conversation's bridge; the snoop and the supervisor's bridge are gone.
    assert post(center, "/api/supervisors/sue/join", {"agent": "amy", "mode": "barge"})[0] == 200
    wait_until(lambda: len(bridges(center).get(call_bridge, [])) == 3, 5, what="three in the call")
    assert not [b for b in bridges(center) if b.startswith("spy-")]
    wait_until(lambda: not snoops(), 5, what="no snoop when barged in")
    # Another supervisor cannot join a supervised call; an unknown mode is refused.
    status, answer = post(center, "/api/supervisors/amy/join", {"agent": "amy", "mode": "spy"})
    assert status == 400 and "listen, whisper, barge" in answer["error"]

    assert done.result(timeout=60).ok
    (row,) = calls(database_url, caller, 1)
    steps = [e for e in events(database_url, row["id"]) if e["type"].startswith("SUPERVISOR")]
    modes: list[tuple[str, Any, Any, Any]] = [
        (e["type"], e["data"].get("mode"), e["data"].get("spy"), e["data"].get("whisper"))
        for e in steps
    ]
    assert modes[:3] == [
        ("SUPERVISORJOIN", "listen", "both", "none"),
        ("SUPERVISORMODE", "whisper", "both", "out"),
        ("SUPERVISORMODE", "barge", None, None),
    ]
    assert steps[0]["data"]["supervisor"] == "sue" and steps[0]["data"]["agent"] == "amy"
    assert modes[-1][0] == "SUPERVISORLEAVE"
    wait_until(
        lambda: not [b for b in bridges(center) if b.startswith(("call-", "spy-"))],
        10,
        what="no bridge of the call left",
    )
    wait_until(lambda: not snoops(), 5, what="no snoop left")
    # No snoop ever became a call of its own.
    assert not [r for r in calls_since(database_url, row["arrived_at"]) if r["id"] != row["id"]]


def calls_since(database_url: str, since: Any) -> list[dict[str, Any]]:
    from tests.support import query

    return query(database_url, "SELECT id FROM calls WHERE arrived_at >= %s", since)
