"""The record of one call, built up as the call goes, and the log of its events.

Plain code: the ARI adapter feeds it facts (arrived, answered, digit, hangup) with Asterisk's
timestamps; the writer stores snapshots of it. Unit tests drive it directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

HangupParty = Literal["caller", "system", "agent", "callee", "unknown"]
Direction = Literal["inbound", "outbound", "internal"]

# Q.850 causes we set ourselves.
CAUSE_NORMAL_CLEARING = 16
CAUSE_NETWORK_OUT_OF_ORDER = 38


@dataclass(frozen=True)
class CallEventRecord:
    call_id: uuid.UUID
    occurred_at: datetime
    type: str
    channel_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # Chosen now, so that a write repeated after a crash stores the event once.
    uid: uuid.UUID = field(default_factory=uuid.uuid4)


class CallRecordError(ValueError):
    """A fact that contradicts what the record already holds."""


@dataclass
class CallRecord:
    node_id: str
    channel_id: str
    direction: Direction
    arrived_at: datetime
    caller_number: str | None = None
    caller_name: str | None = None
    dialed_number: str | None = None
    linkedid: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    digits: str = ""
    hangup_party: HangupParty | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    outcome: str | None = None
    ivr_flow: str | None = None
    ivr_version: str | None = None
    ivr_path: list[str] | None = None
    ivr_started_at: datetime | None = None
    ivr_ended_at: datetime | None = None
    ivr_exit: str | None = None
    ivr_node: str | None = None
    language: str | None = None
    queue: str | None = None
    queued_at: datetime | None = None
    queue_position: int | None = None
    queue_exit: str | None = None
    agent: str | None = None
    connected_at: datetime | None = None
    hold_seconds: float | None = None
    hold_count: int | None = None
    recording: str | None = None
    queue_left_at: datetime | None = None
    ring_seconds: float | None = None
    talk_ended_at: datetime | None = None
    campaign: str | None = None
    attempt_id: uuid.UUID | None = None

    @property
    def is_live(self) -> bool:
        return self.ended_at is None

    def event(
        self, at: datetime, kind: str, /, channel_id: str | None = None, **data: Any
    ) -> CallEventRecord:
        return CallEventRecord(self.id, at, kind, channel_id or self.channel_id, data)

    def answer(self, at: datetime) -> CallEventRecord | None:
        """The system answered; only the first answer counts."""
        if self.answered_at is not None:
            return None
        self.answered_at = max(at, self.arrived_at)
        return self.event(self.answered_at, "ANSWER")

    def add_digit(self, digit: str, at: datetime) -> CallEventRecord:
        if len(digit) != 1 or digit not in "0123456789*#ABCD":
            raise CallRecordError(f"not a DTMF digit: {digit!r}")
        self.digits += digit
        return self.event(at, "DTMF", digit=digit)

    def note_hangup_party(self, party: HangupParty) -> None:
        """Who asked for the hangup first; later requests do not change it."""
        if self.hangup_party is None:
            self.hangup_party = party

    def end(
        self,
        at: datetime,
        *,
        cause: int | None,
        cause_text: str | None,
        party: HangupParty | None = None,
        outcome: str | None = None,
    ) -> CallEventRecord | None:
        """Close the record; a second end is ignored (the first one is the truth)."""
        if self.ended_at is not None:
            return None
        if party is not None:
            self.note_hangup_party(party)
        if self.hangup_party is None:
            self.hangup_party = "unknown"
        self.ended_at = max(at, self.arrived_at)
        self.hangup_cause = cause
        self.hangup_cause_text = cause_text
        if outcome is not None:
            self.outcome = outcome
        elif self.outcome is None:
            self.outcome = "completed" if self.answered_at is not None else "unanswered"
        return self.event(
            self.ended_at,
            "HANGUP",
            party=self.hangup_party,
            cause=cause,
            cause_text=cause_text,
        )

    def row(self) -> dict[str, Any]:
        """The columns of the ``calls`` row."""
        return {
            "id": self.id,
            "node_id": self.node_id,
            "linkedid": self.linkedid,
            "channel_id": self.channel_id,
            "direction": self.direction,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "dialed_number": self.dialed_number,
            "arrived_at": self.arrived_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "digits": self.digits or None,
            "hangup_party": self.hangup_party,
            "hangup_cause": self.hangup_cause,
            "hangup_cause_text": self.hangup_cause_text,
            "outcome": self.outcome,
            "ivr_flow": self.ivr_flow,
            "ivr_version": self.ivr_version,
            "ivr_path": list(self.ivr_path) if self.ivr_path is not None else None,
            "ivr_started_at": self.ivr_started_at,
            "ivr_ended_at": self.ivr_ended_at,
            "ivr_exit": self.ivr_exit,
            "ivr_node": self.ivr_node,
            "language": self.language,
            "queue": self.queue,
            "queued_at": self.queued_at,
            "queue_position": self.queue_position,
            "queue_exit": self.queue_exit,
            "agent": self.agent,
            "connected_at": self.connected_at,
            "hold_seconds": self.hold_seconds,
            "hold_count": self.hold_count,
            "recording": self.recording,
            "queue_left_at": self.queue_left_at,
            "ring_seconds": self.ring_seconds,
            "talk_ended_at": self.talk_ended_at,
            "campaign": self.campaign,
            "attempt_id": self.attempt_id,
        }
