"""A call's journey as data: one row per queue visit and one per agent segment, built from
the call's events (named as in Asterisk's queue_log).

A call may enter several queues (overflow, a transfer to a queue) and reach several agents
(transfers, a consultation, a supervisor): figures per queue read the visits and figures per
agent read the segments, so nothing about one queue or agent is overwritten by the next
(docs/records.md, "The journey").

- A **visit**: the call in one queue, from ENTERQUEUE until it leaves: ``answered`` (CONNECT),
  ``abandoned`` (ABANDON, or an outbound live answer nobody took in time), ``timeout``
  (EXITWITHTIMEOUT with nowhere to go), ``overflow`` (EXITWITHTIMEOUT, then the next
  queue's ENTERQUEUE; or MOVED, a supervisor sending the waiting caller to another
  queue), ``exitkey``, ``leaveempty``, ``callback``.
- A **segment**: one agent's part, from the offer (RINGING) until their part ends:
  ``no_answer``, ``canceled`` (another answered, or the caller left, while it rang),
  ``caller`` / ``agent`` (who hung up), ``transfer`` (the agent passed the call on),
  ``consult_ended``, ``left`` (a supervisor), ``call_ended`` (the call ended under it).
  Kinds: ``queue`` (offered from a visit), ``transfer`` (a transfer's target, a consulted
  agent), ``supervisor``, ``direct`` (an agent already on the line: a callback, a preview
  dial). Talk = ended - answered - hold; wrap-up follows the segment (from the ACD).

Plain code: the app feeds it each event as it is logged; the migration that back-fills
older calls feeds it their stored events. The same events give the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

VISIT_EXITS = (
    "answered",
    "abandoned",
    "timeout",
    "overflow",
    "exitkey",
    "leaveempty",
    "callback",
)
SEGMENT_KINDS = ("queue", "transfer", "supervisor", "direct")
SEGMENT_ENDS = (
    "no_answer",
    "canceled",
    "caller",
    "agent",
    "transfer",
    "consult_ended",
    "left",
    "call_ended",
)

_LEAVES = {
    "ABANDON": "abandoned",
    "EXITWITHTIMEOUT": "timeout",
    "EXITWITHKEY": "exitkey",
    "EXITEMPTY": "leaveempty",
    "CALLBACK": "callback",
    # A supervisor moved the waiting caller to another queue: passed on, as an overflow.
    "MOVED": "overflow",
}


def _seconds(since: datetime, until: datetime) -> float:
    return round(max((until - since).total_seconds(), 0.0), 3)


@dataclass
class Visit:
    call_id: uuid.UUID
    seq: int
    queue: str
    entered_at: datetime
    position: int | None = None
    left_at: datetime | None = None
    exit: str | None = None
    agent: str | None = None  # who answered it

    @property
    def key(self) -> str:
        return f"{self.call_id}:{self.seq}"

    def row(self) -> dict[str, Any]:
        return {
            "id": uuid.uuid5(self.call_id, f"visit-{self.seq}"),
            "call_id": self.call_id,
            "seq": self.seq,
            "queue": self.queue,
            "entered_at": self.entered_at,
            "position": self.position,
            "left_at": self.left_at,
            "exit": self.exit,
            "agent": self.agent,
        }


@dataclass
class Segment:
    call_id: uuid.UUID
    seq: int
    agent: str
    kind: str
    offered_at: datetime
    queue: str | None = None
    visit_seq: int | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end: str | None = None
    hold_seconds: float = 0.0
    hold_count: int = 0

    @property
    def key(self) -> str:
        return f"{self.call_id}:{self.seq}"

    @property
    def open(self) -> bool:
        return self.ended_at is None

    def row(self) -> dict[str, Any]:
        # No wrap-up here: it is patched in when the agent's wrap-up ends, and a later
        # snapshot of the segment must not blank it.
        return {
            "id": uuid.uuid5(self.call_id, f"segment-{self.seq}"),
            "call_id": self.call_id,
            "seq": self.seq,
            "agent": self.agent,
            "kind": self.kind,
            "queue": self.queue,
            "visit_seq": self.visit_seq,
            "offered_at": self.offered_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "end_reason": self.end,
            "hold_seconds": self.hold_seconds,
            "hold_count": self.hold_count,
        }


@dataclass
class Journey:
    call_id: uuid.UUID
    visits: list[Visit] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    # The caller on hold since then, for the talking segment (None: nobody's yet).
    _hold_since: datetime | None = None
    _hold_owner: Segment | None = None
    _changed: dict[str, Visit | Segment] = field(default_factory=dict)

    # --- what the call's events mean ---------------------------------------------------

    def apply(self, kind: str, at: datetime, data: dict[str, Any]) -> None:
        if "callback" in data:
            # A callback's attempts, logged on the call that asked for it: the call back is
            # a call of its own, with its own journey.
            return
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, at, data)

    def changed(self) -> tuple[list[Visit], list[Segment]]:
        """The visits and segments changed since the last call (their rows to store)."""
        changed = list(self._changed.values())
        self._changed.clear()
        return (
            [c for c in changed if isinstance(c, Visit)],
            [c for c in changed if isinstance(c, Segment)],
        )

    def _touch(self, item: Visit | Segment) -> None:
        self._changed[f"{type(item).__name__}:{item.seq}"] = item

    @property
    def open_visit(self) -> Visit | None:
        if self.visits and self.visits[-1].exit is None:
            return self.visits[-1]
        return None

    def _offer(self, agent: str) -> Segment | None:
        """The agent's segment still ringing."""
        for segment in reversed(self.segments):
            if segment.agent == agent and segment.open and segment.answered_at is None:
                return segment
        return None

    def _talking(self, agent: str) -> Segment | None:
        """The agent's answered segment still going on."""
        for segment in reversed(self.segments):
            if segment.agent == agent and segment.open and segment.answered_at is not None:
                return segment
        return None

    def _new_segment(
        self, agent: str, kind: str, at: datetime, queue: str | None, visit: Visit | None
    ) -> Segment:
        segment = Segment(
            self.call_id,
            len(self.segments) + 1,
            agent,
            kind,
            at,
            queue=queue,
            visit_seq=visit.seq if visit is not None else None,
        )
        self.segments.append(segment)
        self._touch(segment)
        return segment

    def _answer(self, segment: Segment, at: datetime) -> None:
        segment.answered_at = at
        self._touch(segment)
        if self._hold_since is not None and self._hold_owner is None:
            # The caller was held for a transfer: the new agent holds them from now.
            self._hold_owner = segment
            self._hold_since = at

    def _end(self, segment: Segment, at: datetime, how: str) -> None:
        if not segment.open:
            return
        if segment is self._hold_owner and self._hold_since is not None:
            segment.hold_seconds = round(segment.hold_seconds + _seconds(self._hold_since, at), 3)
            self._hold_owner = None
            self._hold_since = at
        segment.ended_at = at
        segment.end = how
        self._touch(segment)

    def _leave(self, at: datetime, exit_: str, queue: str | None) -> None:
        visit = self.open_visit
        if visit is None or (queue and visit.queue != queue):
            return
        visit.left_at = at
        visit.exit = exit_
        self._touch(visit)
        if exit_ != "answered":
            # Offers of this visit still ringing end with it.
            for segment in self.segments:
                if segment.visit_seq == visit.seq and segment.open and not segment.answered_at:
                    self._end(segment, at, "canceled")

    # --- the handlers, one per event kind ----------------------------------------------

    def _enterqueue(self, at: datetime, data: dict[str, Any]) -> None:
        previous = self.visits[-1] if self.visits else None
        if previous is not None and previous.exit is None:
            self._leave(at, "abandoned", None)  # never seen leaving: cannot be in two queues
        if previous is not None and previous.exit == "timeout":
            previous.exit = "overflow"
            self._touch(previous)
        self._hold_since = None  # back in a queue: music, not hold
        self._hold_owner = None
        visit = Visit(
            self.call_id,
            len(self.visits) + 1,
            str(data.get("queue") or ""),
            at,
            position=_int(data.get("position")),
        )
        self.visits.append(visit)
        self._touch(visit)

    def _ringing(self, at: datetime, data: dict[str, Any]) -> None:
        agent = str(data.get("agent") or "")
        if not agent or agent.startswith("number:"):
            return
        if data.get("supervisor"):
            kind = "supervisor"
        elif data.get("transfer"):
            kind = "transfer"
        else:
            kind = "queue"
        visit = self.open_visit if kind == "queue" else None
        queue = data.get("queue") or (visit.queue if visit else self._current_queue())
        self._new_segment(agent, kind, at, queue, visit)

    def _current_queue(self) -> str | None:
        return self.visits[-1].queue if self.visits else None

    def _connect(self, at: datetime, data: dict[str, Any]) -> None:
        agent = str(data.get("agent") or "")
        if agent.startswith("number:"):
            agent = ""  # an outside number a call was transferred to: no agent's part
        queue = data.get("queue")
        if not data.get("transfer"):
            visit = self.open_visit
            if visit is not None:
                visit.agent = agent
                self._leave(at, "answered", None)
        segment = self._offer(agent) if agent else None
        if segment is None and agent:
            # Nobody rang them in this call (a callback's or a preview's agent, already on
            # the line): their part starts here.
            visit = self.visits[-1] if self.visits and self.visits[-1].agent == agent else None
            segment = self._new_segment(
                agent, "direct" if visit is None else "queue", at, queue, visit
            )
        if segment is not None:
            self._answer(segment, at)

    def _hold(self, at: datetime, data: dict[str, Any]) -> None:
        segment = self._talking(str(data.get("agent") or ""))
        if segment is not None:
            segment.hold_count += 1
            self._touch(segment)
        self._hold_since = at
        self._hold_owner = segment

    def _unhold(self, at: datetime, data: dict[str, Any]) -> None:
        owner = self._hold_owner
        if owner is not None and self._hold_since is not None and owner.open:
            owner.hold_seconds = round(owner.hold_seconds + _seconds(self._hold_since, at), 3)
            self._touch(owner)
        self._hold_since = None
        self._hold_owner = None

    def _transfer(self, at: datetime, data: dict[str, Any]) -> None:
        segment = self._talking(str(data.get("agent") or ""))
        if segment is not None:
            self._end(segment, at, "transfer")

    def _consult(self, at: datetime, data: dict[str, Any]) -> None:
        target = self._offer(str(data.get("target") or ""))
        if target is not None:
            target.answered_at = at
            self._touch(target)

    def _consult_over(self, at: datetime, data: dict[str, Any]) -> None:
        target = str(data.get("target") or "")
        segment = self._talking(target) or self._offer(target)
        if segment is not None:
            self._end(segment, at, "consult_ended")

    def _supervisor_join(self, at: datetime, data: dict[str, Any]) -> None:
        segment = self._offer(str(data.get("supervisor") or ""))
        if segment is not None:
            segment.kind = "supervisor"
            segment.answered_at = at
            self._touch(segment)

    def _supervisor_leave(self, at: datetime, data: dict[str, Any]) -> None:
        segment = self._talking(str(data.get("supervisor") or ""))
        if segment is not None:
            self._end(segment, at, "left")

    def _hangup(self, at: datetime, data: dict[str, Any]) -> None:
        """The call is over: whatever is still open ends with it."""
        if self.open_visit is not None:
            self._leave(at, "abandoned", None)
        for segment in self.segments:
            if segment.open:
                self._end(segment, at, "canceled" if segment.answered_at is None else "call_ended")


Handler = Callable[[Journey, datetime, dict[str, Any]], None]


def _ring_over(how: str) -> Handler:
    """RINGNOANSWER, RINGCANCELED: the agent's offer ends."""

    def handler(journey: Journey, at: datetime, data: dict[str, Any]) -> None:
        segment = journey._offer(str(data.get("agent") or ""))
        if segment is not None:
            journey._end(segment, at, how)

    return handler


def _complete(how: str) -> Handler:
    """COMPLETECALLER, COMPLETEAGENT: the agent's talk ends (``how``: who hung up)."""

    def handler(journey: Journey, at: datetime, data: dict[str, Any]) -> None:
        segment = journey._talking(str(data.get("agent") or ""))
        if segment is not None:
            journey._end(segment, at, how)

    return handler


def _leave_event(kind: str) -> Handler:
    """ABANDON, EXITWITHTIMEOUT, EXITWITHKEY, EXITEMPTY, CALLBACK: out of the queue."""

    def handler(journey: Journey, at: datetime, data: dict[str, Any]) -> None:
        exit_ = _LEAVES[kind]
        if kind == "EXITWITHTIMEOUT" and data.get("limit") == "connect_within":
            exit_ = "abandoned"  # an outbound live answer nobody took in time: a drop
        journey._leave(at, exit_, data.get("queue"))

    return handler


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


_HANDLERS: dict[str, Handler] = {
    "ENTERQUEUE": Journey._enterqueue,
    "RINGING": Journey._ringing,
    "CONNECT": Journey._connect,
    "RINGNOANSWER": _ring_over("no_answer"),
    "RINGCANCELED": _ring_over("canceled"),
    "CALLERONHOLD": Journey._hold,
    "CALLEROFFHOLD": Journey._unhold,
    "BLINDTRANSFER": Journey._transfer,
    "ATTENDEDTRANSFER": Journey._transfer,
    "CONSULT": Journey._consult,
    "CONSULTCANCELED": Journey._consult_over,
    "CONSULTEND": Journey._consult_over,
    "COMPLETECALLER": _complete("caller"),
    "COMPLETEAGENT": _complete("agent"),
    "SUPERVISORJOIN": Journey._supervisor_join,
    "SUPERVISORLEAVE": Journey._supervisor_leave,
    "HANGUP": Journey._hangup,
    **{kind: _leave_event(kind) for kind in _LEAVES},
}

#: The events a journey is built from (what the back-fill reads).
JOURNEY_EVENTS = tuple(_HANDLERS)


def journey_of(call_id: uuid.UUID, events: list[tuple[str, datetime, dict[str, Any]]]) -> Journey:
    """The journey of a call from its events (kind, time, data), in the order they
    happened (the back-fill of calls stored before journeys were)."""
    journey = Journey(call_id)
    for kind, at, data in events:
        journey.apply(kind, at, data)
    journey.changed()
    return journey
