"""An answered campaign dial: a machine is handled as the campaign says; a person is handed to
one of the campaign's agents within 2 s of the end of their greeting (callcenter/outbound/
two_seconds.py: with AMD, the verdict comes 800 ms after the greeting ended), or hears the
campaign's message (its prompt and the number to call back) and the call counts as abandoned
(dropped).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from ari_app.queue_call import QueueCall
from ari_app.session import CallEnded, CallSession, utcnow
from callcenter.calls.dispositions import US_DNC_DAYS
from callcenter.outbound.two_seconds import (
    CONNECT_WITHIN_SECONDS,
    abandoned,
    greeting_ended,
    seconds_left,
)
from db.record_ops import RecordOp

if TYPE_CHECKING:
    from ari_app.attempt import Attempt

__all__ = ["CONNECT_WITHIN_SECONDS", "campaign_answered", "play_message"]

# The company's own do-not-call list (disposition actions write to it too).
INTERNAL_DNC_LIST = "internal"

# Live answers jump the campaign queue's callers.
OUTBOUND_PRIORITY = 100


# After the message: how long the callee has to press the opt-out key.
OPTOUT_WAIT_SECONDS = 5.0
# A company do-not-call request is honoured for 5 years (47 CFR 64.1200(d)(6)); the same
# for every country (stricter than some, never looser); the same length as a coded request.
OPTOUT_DAYS = US_DNC_DAYS


async def play_message(session: CallSession, attempt: Attempt) -> bool:
    """The campaign's recorded message (it names the seller), the number to call back, and
    "press <key>": the key puts the number on the company do-not-call list at once (47 CFR
    64.1200(a)(7) and (b)). The key works during the message too."""
    campaign = attempt.campaign
    digits = re.sub(r"[^0-9]", "", campaign.caller_id)
    media = [campaign.message_prompt] + ([f"digits:{digits}"] if digits else [])
    media += ["sound:vm-press", f"digits:{campaign.optout_key}"]
    session.discard_digits()  # keys pressed before the message are no answer to it
    key = await session.play(*media, interruptible=True)
    if key is None:
        key = await session.collect_digit(OPTOUT_WAIT_SECONDS)
    if key == campaign.optout_key:
        opt_out(session, attempt)
        await session.play("sound:removed", "sound:auth-thankyou")
    return True


def opt_out(session: CallSession, attempt: Attempt) -> None:
    """The callee asked not to be called again: on the company list now, through the record
    writer (after the call's own row, never lost)."""
    record, now = session.record, utcnow()
    number = attempt.claimed.number
    attempt.dialer.writer.submit(
        RecordOp(
            "dnc_entry",
            {
                "list_name": INTERNAL_DNC_LIST,
                "number": number,
                "added_at": now,
                "expires_at": now + timedelta(days=OPTOUT_DAYS),
                "reason": f"opted out ({attempt.campaign.name}, key {attempt.campaign.optout_key})",
                "call_id": record.id,
            },
        )
    )
    session.sink.log_event(
        record.event(now, "OPTOUT", campaign=attempt.campaign.name, number=number, days=OPTOUT_DAYS)
    )


async def campaign_answered(
    session: CallSession, *, attempt: Attempt, amd: tuple[str, str] | None
) -> None:
    try:
        await _answered(session, attempt, amd)
    finally:
        if not attempt.done:  # the flow failed (an ARI error, a cancel): close it anyway
            attempt.finish("interrupted", live=attempt.answered is not None and attempt.live)


async def _answered(session: CallSession, attempt: Attempt, amd: tuple[str, str] | None) -> None:
    dialer, campaign, record = attempt.dialer, attempt.campaign, session.record
    pacer = dialer.pacer(campaign)
    started = time.monotonic()
    ring = (attempt.answered or started) - attempt.placed
    if record.answered_at is None:
        record.answer(utcnow())
    session.sink.log_event(
        record.event(utcnow(), "ANSWER", campaign=campaign.name, amd=amd[0] if amd else None)
    )
    if attempt.preview is not None:
        await _with_previewing_agent(session, attempt, ring)
        return
    facts: dict[str, object] = {}
    if amd is not None:
        facts = {"amd_status": amd[0][:16] or None, "amd_cause": amd[1] or None}
    machine = amd is not None and amd[0] == "MACHINE"
    if machine and campaign.amd != "agent":
        pacer.on_dial_ended(time.monotonic(), "machine", ring)
        played = False
        record.outcome = "machine"
        try:
            if campaign.amd == "message":
                played = await play_message(session, attempt)
        finally:
            attempt.finish("machine", message_played=played, **facts)
        return
    # A person (or, with --amd agent, a machine handed to an agent: not a live answer, so
    # never a drop either).
    attempt.live = not machine
    pacer.on_dial_ended(time.monotonic(), "machine" if machine else "live", ring)
    dialer.write_attempt(attempt, live=attempt.live, **facts)

    # The 2 s run from the end of the greeting: with AMD, before its verdict came.
    greeting_end = greeting_ended(started, *(amd if amd is not None else (None, None)))
    connected_after: list[float] = []

    def connected() -> None:
        now = time.monotonic()
        connected_after.append(now - greeting_end)
        if attempt.live and abandoned(greeting_end, now):
            return  # too late by the rule: a drop, even with an agent on the line now
        attempt.connected = True
        if attempt.live:
            pacer.on_connected(now, now - started)
        session.sink.log_event(
            record.event(
                utcnow(),
                "LIVECONNECT",
                campaign=campaign.name,
                after_greeting_ms=round((now - greeting_end) * 1000),
            )
        )

    remaining = seconds_left(greeting_end, time.monotonic())
    queue_call = QueueCall(dialer.acd, dialer.registry, session)
    try:
        joined = await queue_call.serve(
            campaign.queue,
            OUTBOUND_PRIORITY,
            {},
            connect_within=remaining,
            music=False,
            on_connect=connected,
        )
    except CallEnded:
        if attempt.connected:
            _talk_over(attempt, record.connected_at, started)
        elif not attempt.live:
            attempt.finish("machine", **facts)
        else:
            # They hung up before an agent came: a drop once the 2 s had passed.
            late = time.monotonic() - greeting_end >= CONNECT_WITHIN_SECONDS
            if late:
                pacer.on_drop(time.monotonic())
            attempt.finish("dropped" if late else "interrupted", live=True, dropped=late, **facts)
        raise
    if attempt.connected:
        _talk_over(attempt, record.connected_at, started)
        return
    if not attempt.live:
        record.outcome = "machine"
        attempt.finish("machine", **facts)
        return
    # Nobody took them in time (or the queue refused them): the message, then goodbye.
    pacer.on_drop(time.monotonic())
    # The drop counts for every instance's budget now, not once the message is over.
    dialer.write_attempt(attempt, live=True, dropped=True)
    record.outcome = "dropped"
    session.sink.log_event(record.event(utcnow(), "DROPPED", campaign=campaign.name, joined=joined))
    played = False
    try:
        played = await play_message(session, attempt)
    finally:
        attempt.finish("dropped", live=True, dropped=True, message_played=played, **facts)


def _talk_over(attempt: Attempt, connected_at: object, started: float) -> None:
    record = attempt.record
    handle = time.monotonic() - started
    settings = attempt.dialer.acd.settings.get(attempt.campaign.queue)
    wrap_up = settings.wrap_up_seconds if settings is not None else 0.0
    attempt.dialer.pacer(attempt.campaign).on_agent_released(
        time.monotonic(), handle + wrap_up, wrap_seconds=wrap_up
    )
    attempt.finish(
        "connected",
        live=attempt.live,
        agent=record.agent,
        connected_at=connected_at,
    )


async def _with_previewing_agent(session: CallSession, attempt: Attempt, ring: float) -> None:
    """A preview dial: the agent who dialed is on the line already; they talk."""
    from ari_app.queue_call import QueueVisit, Ringing

    assert attempt.preview is not None
    dialer, campaign, record = attempt.dialer, attempt.campaign, session.record
    dialer.pacer(campaign).on_dial_ended(time.monotonic(), "live", ring)
    leg = attempt.preview.take_agent(session)
    if leg is None:
        attempt.finish("interrupted", live=True)
        return
    agent, channel, answered = leg
    attempt.connected = True
    record.queue = campaign.queue
    dialer.write_attempt(attempt, live=True, agent=agent)
    started = time.monotonic()
    visit = QueueVisit(campaign.queue, utcnow(), 0)
    try:
        await QueueCall(dialer.acd, dialer.registry, session)._talk(
            visit, Ringing(agent, channel, answered)
        )
    finally:
        _talk_over(attempt, record.connected_at, started)
