"""What the supervisor's console shows: every queue with its waiting callers (their wait,
priority and place), today's figures, and every agent (state, reason, since when, the call
they are on, who supervises it). Built from the ACD's memory and the wallboard's figures;
times are given as instants, so the page counts the seconds and the stream only sends
what changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ari_app.acd import AcdRuntime
    from ari_app.live_figures import LiveFigures


def console_view(acd: AcdRuntime, figures: LiveFigures | None) -> dict[str, Any]:
    live = figures.snapshot() if figures is not None else {}
    by_queue = {q["name"]: q for q in live.get("queues", [])}
    queues = []
    for name in sorted(acd.queues):
        state = acd.queues[name]
        waiting = []
        for place, entry in enumerate(state.ordered(), 1):
            held = acd.calls.get(entry.call_id)
            waiting.append(
                {
                    "call_id": entry.call_id,
                    "caller": held.caller if held else None,
                    "arrived": entry.arrived.isoformat(),
                    "priority": entry.priority,
                    "position": place,
                    "callback": entry.callback,
                }
            )
        queue = by_queue.get(name, {})
        queues.append(
            {
                "name": name,
                "waiting": waiting,
                "members": sorted(state.members),
                "agents": queue.get("agents"),
                "today": queue.get("today"),
            }
        )
    agents = []
    for agent in sorted(acd.agents.values(), key=lambda a: a.name):
        pop = acd.screen.get(agent.name) if agent.busy else None
        watcher = acd.supervised.get(agent.name)
        agents.append(
            {
                "name": agent.name,
                "state": agent.state.value,
                "pause_reason": agent.pause_reason,
                "since": agent.since.isoformat() if agent.since else None,
                "registered": agent.registered,
                "phone": acd.phones.get(agent.name, "softphone"),
                "call_id": agent.call_id if agent.busy else None,
                "caller": pop.get("caller_number") if pop else None,
                "queue": pop.get("queue") if pop else None,
                "supervisor": watcher[0] if watcher else None,
                "supervision": watcher[1] if watcher else None,
            }
        )
    return {"queues": queues, "agents": agents}
