"""Call flows: what a caller hears and what we do with their keys."""

from __future__ import annotations

import structlog

from ari_app.session import CallSession

log = structlog.get_logger(__name__)

GREETING = "sound:hello-world"
YOU_ENTERED = "sound:you-entered"
NO_KEY = "sound:vm-sorry"
GOODBYE = "sound:vm-goodbye"
DIGIT_TIMEOUT_S = 5.0


async def walking_skeleton(call: CallSession) -> None:
    """Answer, greet, take one key, say it back, say goodbye and hang up."""
    await call.answer()
    digit = await call.play(GREETING, interruptible=True)
    if digit is None:
        digit = await call.collect_digit(DIGIT_TIMEOUT_S)
    if digit is None:
        await call.play(NO_KEY)
    else:
        call.log.info("call.digit", digit=digit)
        await call.play(YOU_ENTERED, f"digits:{digit}")
    await call.play(GOODBYE)
    await call.hangup()


async def refuse(call: CallSession) -> None:
    """Turn the call away without answering (shutting down, or not ours to take)."""
    call.record.outcome = "refused"
    await call.hangup(reason="congestion")
