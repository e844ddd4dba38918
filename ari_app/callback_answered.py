"""A called-back customer answered: they talk with the agent who has been waiting on the line
for them (``ari_app/callback_call.py`` rang the agent first, then dialed the customer), the
rest of the call as any queue call (``ari_app/queue_call.py``)."""

from __future__ import annotations

import contextlib

import structlog

from ari_app.acd import AcdRuntime, utcnow
from ari_app.callback_call import CallbackRunner
from ari_app.queue_call import QueueCall, QueueVisit, Ringing
from ari_app.registry import CallRegistry
from ari_app.session import CallSession
from callcenter.calls.record import CallRecord

log = structlog.get_logger(__name__)


def describe_callback(record: CallRecord, acd: AcdRuntime, request_id: str) -> None:
    """The customer's channel entered Stasis: from its first row, their call is the outbound
    call to the number the callback was asked for, in its queue (even when they hang up
    before anything else is done with it)."""
    runner = acd.callbacks.get(request_id)
    if isinstance(runner, CallbackRunner):
        record.dialed_number = runner.number
        record.caller_number = None  # an outbound call: the customer is the one dialed
        record.queue = runner.queue


async def callback_answered(
    session: CallSession, *, acd: AcdRuntime, registry: CallRegistry, request_id: str
) -> None:
    """The customer we called back answered: connect them with the waiting agent."""
    runner = acd.callbacks.pop(request_id, None)
    leg = runner.take_agent(session) if isinstance(runner, CallbackRunner) else None
    if runner is None or leg is None:
        log.warning("callback.nobody_waiting", request=request_id)
        await session.hangup()
        return
    with contextlib.suppress(Exception):
        await runner.set_status("done")
    visit = QueueVisit(runner.queue, utcnow(), runner.position)
    await QueueCall(acd, registry, session)._talk(
        visit, Ringing(leg.agent, leg.channel_id, leg.started)
    )
