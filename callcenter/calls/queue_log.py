"""Asterisk ``queue_log`` lines from our call and agent events (no I/O).

A line is ``epoch|callid|queue|agent|EVENT|data1|data2|...``, the format reporting tools
(QueueMetrics and the like) read. Our event log is a superset of it: this module says which
of our events have a queue_log counterpart and how their data maps to its fields.

Conventions, close to what app_queue writes:

- times (holdtime, calltime, waittime, CONNECT's ringtime, logintime) are whole seconds,
  rounded; RINGNOANSWER and RINGCANCELED carry milliseconds; a missing number is ``0``;
- ``NONE`` stands for an unknown queue, agent or call id, as in Asterisk;
- an event with no data still ends with one (empty) data field: ``...|UNPAUSE|``;
- no field may hold ``|`` (replaced with ``_``) or a line break or other control character
  (replaced with a space), so one event is always exactly one line of ``EVENT`` plus its
  fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

NONE = "NONE"

# Call events (call_events.type, as ari_app/queue_call.py writes them) that have a line.
CALL_EVENTS = (
    "ENTERQUEUE",
    "CONNECT",
    "RINGNOANSWER",
    "RINGCANCELED",
    "COMPLETECALLER",
    "COMPLETEAGENT",
    "BLINDTRANSFER",
    "ATTENDEDTRANSFER",
    "ABANDON",
    "EXITWITHTIMEOUT",
    "EXITEMPTY",
    "EXITWITHKEY",
    "CALLERONHOLD",
    "CALLEROFFHOLD",
)
# Agent events (agent_events.type, as ari_app/acd.py writes them) that have a line.
AGENT_EVENTS = ("AGENTLOGIN", "AGENTLOGOFF", "PAUSE", "UNPAUSE")

# C0 and C1 controls (\n, \r, \t, ESC, NEL...) and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(value: object) -> str:
    """A value as one queue_log field: no ``|``, no line break, no control character."""
    if value is None:
        return ""
    text = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return _CONTROL.sub(" ", text.replace("|", "_"))


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def whole(value: object, scale: float = 1.0) -> str:
    """A number of seconds (or ``value * scale``) as a whole, non-negative number; ``0``
    when missing or not a number."""
    number = _number(value)
    if number is None:
        return "0"
    return str(max(0, math.floor(number * scale + 0.5)))


def epoch(at: datetime) -> int:
    """Whole seconds since 1970 (UTC) of an aware time."""
    return math.floor(at.timestamp())


def format_line(
    at: datetime | int, callid: str, queue: str, agent: str, event: str, fields: Sequence[object]
) -> str:
    """One queue_log line (without its newline)."""
    stamp = at if isinstance(at, int) else epoch(at)
    head = [str(stamp), clean(callid) or NONE, clean(queue) or NONE, clean(agent) or NONE]
    return "|".join([*head, clean(event), *(clean(f) for f in fields or [""])])


def call_event_fields(
    kind: str, data: Mapping[str, Any], caller_number: str | None = None
) -> list[str] | None:
    """The data fields of a call event's line, or None when it has no line."""
    position = whole(data.get("position"))
    origpos = whole(data.get("origpos"))
    if kind == "ENTERQUEUE":
        return [clean(data.get("url")), clean(caller_number), position]
    if kind == "CONNECT":
        return [
            whole(data.get("holdtime")),
            clean(data.get("channel")),
            whole(data.get("ringtime_ms"), 0.001),
        ]
    if kind == "RINGNOANSWER":
        if data.get("supervisor"):
            return None  # a supervisor not taking a barge-in: not a queue offer
        return [whole(data.get("ringtime_ms"))]
    if kind == "RINGCANCELED":
        return [whole(data.get("ringtime_ms"))]
    times = [whole(data.get("holdtime")), whole(data.get("calltime")), origpos]
    if kind in ("COMPLETECALLER", "COMPLETEAGENT"):
        return times
    if kind == "BLINDTRANSFER":
        # Our targets are "queue:NAME", "agent:NAME" or "number:+..."; Asterisk's are an
        # extension and its context: the name, and the kind of target.
        context, sep, exten = str(data.get("target") or "").partition(":")
        if not sep:
            context, exten = "", context
        return [clean(exten), clean(context), *times]
    if kind == "ATTENDEDTRANSFER":
        # Asterisk: method (BRIDGE, APP, LINK) and its data; ours always bridges the
        # consulted party in: BRIDGE and the target.
        return ["BRIDGE", clean(data.get("target")), *times]
    waited = [position, origpos, whole(data.get("waittime"))]
    if kind in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"):
        return waited
    if kind == "EXITWITHKEY":
        return [clean(data.get("key")), *waited]
    if kind == "CALLERONHOLD":
        return [""]
    if kind == "CALLEROFFHOLD":
        return [whole(data.get("held"))]
    return None


def call_event_line(
    at: datetime,
    callid: str,
    kind: str,
    data: Mapping[str, Any],
    *,
    caller_number: str | None = None,
    call_queue: str | None = None,
) -> str | None:
    """A call event as a queue_log line, or None when it has none. The queue is the one in
    the event's data, else the call's; the agent is the event's (``NONE`` if it has none)."""
    fields = call_event_fields(kind, data, caller_number)
    if fields is None:
        return None
    queue = clean(data.get("queue")) or clean(call_queue) or NONE
    return format_line(at, callid, queue, clean(data.get("agent")) or NONE, kind, fields)


def agent_channel(agent: str) -> str:
    """The channel an agent works from: their softphone's PJSIP endpoint."""
    return f"PJSIP/{agent}"


def agent_event_fields(
    kind: str, agent: str, reason: str | None = None, logintime: float | None = None
) -> list[str] | None:
    """The data fields of an agent event's line, or None when it has no line."""
    if kind == "AGENTLOGIN":
        return [clean(agent_channel(agent))]
    if kind == "AGENTLOGOFF":
        return [clean(agent_channel(agent)), whole(logintime)]
    if kind in ("PAUSE", "UNPAUSE"):
        return [clean(reason)]
    return None


def agent_event_line(
    at: datetime,
    agent: str,
    kind: str,
    *,
    reason: str | None = None,
    queue: str | None = None,
    logintime: float | None = None,
) -> str | None:
    """An agent event as a queue_log line (call id ``NONE``; queue ``NONE`` unless the
    event names one), or None when it has none. ``logintime``: seconds since the agent's
    login, for AGENTLOGOFF."""
    fields = agent_event_fields(kind, agent, reason, logintime)
    if fields is None:
        return None
    return format_line(at, NONE, queue or NONE, agent, kind, fields)
