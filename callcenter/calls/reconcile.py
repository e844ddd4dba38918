"""What to do with a call the database thinks is live, after a (re)connect to Asterisk.

Plain decisions, no I/O: the ARI adapter gathers the facts and carries out the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from callcenter.calls.record import CAUSE_NETWORK_OUT_OF_ORDER, CAUSE_NORMAL_CLEARING

Action = Literal["keep", "hangup_and_close", "close"]


@dataclass(frozen=True)
class Settlement:
    action: Action
    ended_at: datetime | None = None
    cause: int | None = None
    cause_text: str = ""
    party: str = "unknown"
    outcome: str = "lost"


def settle(
    *,
    handled_here: bool,
    channel_alive: bool,
    last_seen_at: datetime,
    asterisk_started_at: datetime | None,
    now: datetime,
) -> Settlement:
    """Decide the fate of one live call.

    - A call this process is handling, whose channel still exists: keep it.
    - A channel that exists but nobody here handles (the app was restarted mid-call): the
      flow cannot be resumed safely, so hang it up and close the record.
    - A channel that no longer exists: close the record. If Asterisk started after we last
      heard of the call, Asterisk's restart ended it (then, network out of order, 38);
      otherwise it ended while we were not listening, at an unknown moment no later than now.
    """
    if channel_alive and handled_here:
        return Settlement("keep")
    if channel_alive:
        return Settlement(
            "hangup_and_close",
            ended_at=now,
            cause=CAUSE_NORMAL_CLEARING,
            cause_text="Switchboard restarted mid-call; call closed",
            party="system",
            outcome="interrupted",
        )
    if asterisk_started_at is not None and asterisk_started_at >= last_seen_at:
        return Settlement(
            "close",
            ended_at=asterisk_started_at,
            cause=CAUSE_NETWORK_OUT_OF_ORDER,
            cause_text="Asterisk restarted during the call",
        )
    return Settlement(
        "close",
        ended_at=now,
        cause=None,
        cause_text="channel ended while Switchboard was not listening",
    )
