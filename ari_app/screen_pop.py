"""What an agent sees when a call is offered: who calls, from which queue, their recent calls
and open callbacks, and whether they are a repeat caller (the same number within the
window), read from PostgreSQL while the agent's phone rings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from callcenter.calls.call_script import render_script
from db.caller_history import CallerHistory

HISTORY = 5


async def screen_pop(
    history: CallerHistory,
    *,
    call_id: str,
    caller_number: str | None,
    caller_name: str | None,
    queue: str,
    waited_seconds: float,
    now: datetime,
    repeat_window: timedelta,
    agent: str = "",
    collected: Mapping[str, str] | None = None,
    script: str | None = None,
) -> dict[str, Any]:
    """``collected``: what the caller gave the IVR (keys, lookup results); ``script``: the
    queue's call script, filled in for this caller and agent."""
    pop: dict[str, Any] = {
        "call_id": call_id,
        "caller_number": caller_number,
        "caller_name": caller_name,
        "queue": queue,
        "waited_seconds": round(waited_seconds, 1),
        "collected": dict(collected or {}),
        "script": None,
        "recent_calls": [],
        "open_callbacks": [],
        "repeat_caller": False,
    }
    if script:
        pop["script"] = render_script(
            script,
            caller_number=caller_number,
            caller_name=caller_name,
            queue=queue,
            agent=agent,
            collected=collected or {},
        )
    if not caller_number:
        return pop
    calls, callbacks = await history.read(caller_number, call_id, HISTORY)
    pop["recent_calls"] = [
        {
            "call_id": str(c.id),
            "arrived_at": c.arrived_at.isoformat(),
            "queue": c.queue,
            "agent": c.agent,
            "queue_exit": c.queue_exit,
            "outcome": c.outcome,
            "ivr_path": c.ivr_path,
        }
        for c in calls
    ]
    pop["open_callbacks"] = [
        {"id": str(c.id), "requested_at": c.requested_at.isoformat(), "queue": c.queue}
        for c in callbacks
    ]
    pop["repeat_caller"] = any(now - c.arrived_at <= repeat_window for c in calls)
    return pop
