"""Voicemail on real calls (Asterisk, sipp, PostgreSQL): a caller after hours (the IVR's
voicemail node) and a caller whose queue wait runs out (the queue's overflow to voicemail)
leave messages, kept as recordings of their calls; each becomes a callback task that keeps
the caller's age; an agent hears the message, then the caller is dialed back."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pbx.ports import free_tcp_udp_port
from switchboard.cli.main import app as main_app
from testkit.agents import SippAgent
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.integration.test_acd_calls import (
    Center,
    calls,
    center,  # noqa: F401  (the fixture)
    events,
)
from tests.support import query, wait_until

pytestmark = pytest.mark.integration

# Saturday 10:00 in London: the office is closed.
SATURDAY = "2026-12-05T10:00:00+00:00"
AFTER_HOURS = """\
flow: front
default: true
start: hours
schedules:
  office:
    timezone: Europe/London
    hours: {mon-fri: "08:00-18:00"}
nodes:
  hours:
    type: condition
    branches:
      - {if: {closed: office}, goto: message}
    else: to_queue
  to_queue: {type: queue, queue: vmq, on_unavailable: message}
  message: {type: voicemail, queue: vmq, prompts: [sound:beep], max_seconds: 60}
"""


def leave_message(site: Center, caller: str, seconds: int) -> None:
    """A caller who talks (a tone) for ``seconds`` after the answer, then hangs up."""
    script = CallerScript(
        caller=caller, keys=(), audio_ms=seconds * 1000, hang_up_after_ms=seconds * 1000
    )
    result = asyncio.run(place_calls(site.asterisk.params.sip_port, "5000", script))
    assert result.ok, result.output


def stored(site: Center, name: str) -> Path:
    return site.asterisk.host_dir / "spool" / "recording" / f"{name}.wav"


def seconds_of(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return float(audio.getnframes()) / float(audio.getframerate())


def test_after_hours_a_message_is_left_and_called_back_by_an_agent(
    center: Center,  # noqa: F811
    database_url: str,
) -> None:
    customer = SippAgent("customer", "", center.asterisk.params.sip_port, ring_ms=300)
    customer.hang_up_after_ms = 2000
    customer.port = free_tcp_udp_port("127.0.0.1")
    center.outbound_uri = f"sip:127.0.0.1:{customer.port}"
    center.agent("vmann")
    center.queue("vmq", ["vmann"])
    center.start("vmq", AFTER_HOURS, SWITCHBOARD_BUSINESS_CLOCK_START=SATURDAY)
    customer.start(register=False)
    try:
        caller = "+15558800201"
        leave_message(center, caller, 6)
        (row,) = calls(database_url, caller, 1)
        assert row["outcome"] == "voicemail" and row["ivr_flow"] == "front"
        assert row["queue"] is None  # never queued: the office was closed
        (message,) = wait_until(
            lambda: query(
                database_url,
                "SELECT * FROM recordings WHERE call_id = %s AND kind = 'voicemail'",
                row["id"],
            ),
            10,
            what="the message",
        )
        assert message["queue"] == "vmq" and message["name"] == f"vm-{row['id']}"
        on_disk = stored(center, message["name"])
        # About 6 s of call less the beeps before the tone: a few seconds, as the file says.
        assert 2.5 < message["duration_seconds"] < 6.5, message
        assert seconds_of(on_disk) == pytest.approx(message["duration_seconds"], abs=0.05)
        (callback,) = query(
            database_url, "SELECT * FROM callback_requests WHERE recording_id = %s", message["id"]
        )
        assert callback["source"] == "voicemail" and callback["number"] == caller
        assert callback["requested_at"] == row["arrived_at"]  # it keeps the caller's age
        codes = query(
            database_url, "SELECT code FROM call_dispositions WHERE call_id = %s", row["id"]
        )
        assert codes == [{"code": "voicemail"}]
        listed = center.api("GET", "/api/recordings?kind=voicemail&queue=vmq")
        assert [m["id"] for m in listed["items"]] == [str(message["id"])]
        assert listed["items"][0]["callback_status"] == "pending"

        # An agent comes in: rung for the callback, hears the message, then the caller is
        # dialed and talks with them.
        center.phone("vmann")
        center.login("vmann")
        (back,) = wait_until(
            lambda: query(
                database_url,
                "SELECT * FROM calls WHERE direction = 'outbound' AND dialed_number = %s "
                "AND ended_at IS NOT NULL",
                caller,
            ),
            45,
            what="the call back",
        )
        assert back["agent"] == "vmann" and back["talk_seconds"] > 1
        kinds = [e["type"] for e in events(database_url, row["id"])]
        assert kinds.index("VOICEMAILPLAYED") < kinds.index("CALLBACKDIAL")
        assert kinds.index("CALLBACKDIAL") < kinds.index("CALLBACKANSWERED")
        at = {
            e["type"]: e["occurred_at"]
            for e in query(
                database_url,
                "SELECT type, occurred_at FROM call_events WHERE call_id = %s",
                row["id"],
            )
        }
        # The dial waited for the message to be played to the agent.
        waited = (at["CALLBACKDIAL"] - at["VOICEMAILPLAYED"]).total_seconds()
        assert waited >= message["duration_seconds"] - 0.5, waited
        wait_until(
            lambda: query(
                database_url,
                "SELECT 1 FROM callback_requests WHERE id = %s AND status = 'done'",
                callback["id"],
            ),
            10,
            what="the callback done",
        )
    finally:
        customer.stop()


def test_a_queue_wait_that_runs_out_ends_in_voicemail(
    center: Center,  # noqa: F811
    database_url: str,
) -> None:
    center.agent("vmbob")  # a member, logged out: nobody answers
    center.queue("vmq2", ["vmbob"], max_wait_seconds=2, voicemail=True)
    center.start("vmq2")
    caller = "+15558800202"
    leave_message(center, caller, 14)
    (row,) = calls(database_url, caller, 1)
    assert row["outcome"] == "voicemail" and row["queue_exit"] == "timeout"
    (visit,) = query(database_url, "SELECT * FROM queue_visits WHERE call_id = %s", row["id"])
    assert visit["exit"] == "timeout" and 1.8 < visit["wait_seconds"] < 3.5
    (message,) = wait_until(
        lambda: query(
            database_url,
            "SELECT * FROM recordings WHERE call_id = %s AND kind = 'voicemail'",
            row["id"],
        ),
        10,
        what="the message",
    )
    assert message["queue"] == "vmq2" and message["duration_seconds"] > 2
    assert stored(center, message["name"]).exists()
    (callback,) = query(
        database_url, "SELECT * FROM callback_requests WHERE recording_id = %s", message["id"]
    )
    assert callback["queue"] == "vmq2" and callback["status"] == "pending"
    assert callback["requested_at"] == row["arrived_at"]
    kinds = [e["type"] for e in events(database_url, row["id"])]
    assert kinds.index("EXITWITHTIMEOUT") < kinds.index("VOICEMAIL")

    # The caller asks to be forgotten: the call, the message (file and row) and the
    # callback go.
    result = CliRunner().invoke(
        main_app,
        ["calls", "purge", "--number", caller, "--yes"],
        env={"DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    assert "deleted 1 call(s)" in result.output and "1 recording(s)" in result.output
    wait_until(
        lambda: not stored(center, message["name"]).exists(), 15, what="the message's file gone"
    )
    wait_until(
        lambda: not query(database_url, "SELECT 1 FROM recordings WHERE id = %s", message["id"]),
        5,
        what="the message's row gone",
    )
    assert query(database_url, "SELECT 1 FROM calls WHERE id = %s", row["id"]) == []
    assert (
        query(database_url, "SELECT 1 FROM callback_requests WHERE id = %s", callback["id"]) == []
    )
