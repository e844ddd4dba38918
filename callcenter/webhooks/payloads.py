"""The JSON body of a delivery, shaped from the row the database recorded for the event.

The body is versioned by its fields: new fields may be added, none is renamed or removed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

_FIELDS: dict[str, tuple[str, ...]] = {
    "call.ended": (
        "id",
        "node_id",
        "direction",
        "caller_number",
        "caller_name",
        "dialed_number",
        "arrived_at",
        "answered_at",
        "queued_at",
        "connected_at",
        "ended_at",
        "queue",
        "queue_exit",
        "agent",
        "campaign",
        "outcome",
        "hangup_party",
        "hangup_cause",
        "ivr_seconds",
        "wait_seconds",
        "ring_seconds",
        "talk_seconds",
        "hold_seconds",
        "hold_count",
        "total_seconds",
        "recording",
        "digits",
    ),
    "call.coded": (
        "call_id",
        "code_set",
        "code",
        "set_by",
        "agent",
        "set_at",
        "note",
        "callback_at",
    ),
    "callback.due": (
        "id",
        "call_id",
        "number",
        "queue",
        "source",
        "agent",
        "requested_at",
        "due_at",
    ),
    "agent.state": ("agent", "type", "state", "reason", "queue", "call_id", "occurred_at"),
}


def shape(topic: str, row: dict[str, Any]) -> dict[str, Any]:
    """The public fields of ``row`` for ``topic`` (every field present, null when unset)."""
    return {name: row.get(name) for name in _FIELDS[topic]}


def body(event_id: str, topic: str, occurred_at: datetime, row: dict[str, Any]) -> bytes:
    """The bytes sent (and signed): compact JSON, UTF-8."""
    document = {
        "id": event_id,
        "type": topic,
        "occurred_at": occurred_at.isoformat(),
        "data": shape(topic, row),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode()
