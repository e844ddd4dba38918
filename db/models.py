"""The core of the schema: nodes, calls, call legs and the append-only call event log.

The database enforces what it can of the domain (CHECK constraints, foreign keys) so that a
bug in the application cannot store an impossible call.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from callcenter.acd.phone_endpoints import PHONE_KINDS
from callcenter.calls.journey import SEGMENT_ENDS, SEGMENT_KINDS, VISIT_EXITS

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DIRECTIONS = ("inbound", "outbound", "internal")
HANGUP_PARTIES = ("caller", "system", "agent", "callee", "unknown")
LEG_ROLES = ("caller", "agent", "callee", "supervisor", "other")
IVR_EXITS = ("hangup", "queue", "caller_hangup", "interrupted", "error")
CALLBACK_STATES = ("pending", "dialing", "done", "cancelled", "failed")
QUEUE_EXITS = (
    "connected",
    "abandoned",
    "timeout",
    "full",
    "joinempty",
    "leaveempty",
    "exitkey",
    "callback",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _span(start: str, end: str) -> str:
    """Seconds from ``start`` to ``end`` (NULL while either is unknown)."""
    return f"EXTRACT(EPOCH FROM ({end} - {start}))::double precision"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Node(Base):
    """One Asterisk with its Switchboard instance."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str | None] = mapped_column(String(255))
    asterisk_version: Mapped[str | None] = mapped_column(String(255))
    first_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Call(Base):
    """One customer interaction, from arrival to the end of its last leg."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint(_in("direction", DIRECTIONS), name="direction"),
        CheckConstraint(
            "hangup_party IS NULL OR " + _in("hangup_party", HANGUP_PARTIES),
            name="hangup_party",
        ),
        CheckConstraint("answered_at IS NULL OR answered_at >= arrived_at", name="answer_order"),
        CheckConstraint("ended_at IS NULL OR ended_at >= arrived_at", name="end_order"),
        CheckConstraint("ivr_ended_at IS NULL OR ivr_ended_at >= ivr_started_at", name="ivr_order"),
        CheckConstraint("ivr_exit IS NULL OR " + _in("ivr_exit", IVR_EXITS), name="ivr_exit"),
        CheckConstraint(
            "queue_exit IS NULL OR " + _in("queue_exit", QUEUE_EXITS), name="queue_exit"
        ),
        Index("ix_calls_live", "node_id", postgresql_where="ended_at IS NULL"),
        Index("ix_calls_arrived_at", "arrived_at"),
        Index("ix_calls_caller_e164_arrived", "caller_e164", "arrived_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), nullable=False)
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    channel_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    direction: Mapped[str] = mapped_column(String(16), nullable=False)
    caller_number: Mapped[str | None] = mapped_column(Text)
    caller_name: Mapped[str | None] = mapped_column(Text)
    # The caller's number in E.164 (SWITCHBOARD_DEFAULT_REGION for national ones), the key
    # a repeat caller is recognized by; NULL when anonymous.
    caller_e164: Mapped[str | None] = mapped_column(Text)
    dialed_number: Mapped[str | None] = mapped_column(Text)
    arrived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    digits: Mapped[str | None] = mapped_column(Text)
    hangup_party: Mapped[str | None] = mapped_column(String(16))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(64))
    # The caller's way through the IVR: flow and version they started on, the nodes they
    # visited, when they entered and left it, how they left it and the node they were on.
    ivr_flow: Mapped[str | None] = mapped_column(String(64))
    ivr_version: Mapped[str | None] = mapped_column(String(32))
    ivr_path: Mapped[list[str] | None] = mapped_column(JSONB)
    ivr_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ivr_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ivr_exit: Mapped[str | None] = mapped_column(String(32))
    ivr_node: Mapped[str | None] = mapped_column(String(140))
    language: Mapped[str | None] = mapped_column(String(16))
    # The ACD: the queue the caller waited in, when, their first position, how they left
    # it, the agent who answered and when; hold time summed over the call.
    queue: Mapped[str | None] = mapped_column(String(32), index=True)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    queue_position: Mapped[int | None] = mapped_column(Integer)
    queue_exit: Mapped[str | None] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(32), index=True)
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hold_seconds: Mapped[float | None] = mapped_column()
    hold_count: Mapped[int | None] = mapped_column(Integer)
    # The conversation's recording: its name among Asterisk's stored recordings (ARI
    # /recordings/stored/NAME, a .wav in Asterisk's recording folder).
    recording: Mapped[str | None] = mapped_column(Text)
    # Outbound calls: the campaign and the dial attempt that placed them.
    campaign: Mapped[str | None] = mapped_column(String(32), index=True)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # When the caller left the queue (answered, abandoned, timed out...), how long the offer
    # that connected rang, when the conversation with the (last) agent ended and when that
    # agent's after-call work (wrap-up) ended.
    queue_left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ring_seconds: Mapped[float | None] = mapped_column()
    talk_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    wrap_up_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The durations, computed by the database from the timestamps above, one way for every
    # reader (docs/records.md): IVR, wait in queue, talk (hold excluded), wrap-up, whole call.
    ivr_seconds: Mapped[float | None] = mapped_column(
        Computed(_span("ivr_started_at", "ivr_ended_at"), persisted=True)
    )
    wait_seconds: Mapped[float | None] = mapped_column(
        Computed(_span("queued_at", "queue_left_at"), persisted=True)
    )
    talk_seconds: Mapped[float | None] = mapped_column(
        Computed(
            f"GREATEST({_span('connected_at', 'talk_ended_at')} - COALESCE(hold_seconds, 0), 0)",
            persisted=True,
        )
    )
    wrap_up_seconds: Mapped[float | None] = mapped_column(
        Computed(_span("talk_ended_at", "wrap_up_ended_at"), persisted=True)
    )
    total_seconds: Mapped[float | None] = mapped_column(
        Computed(_span("arrived_at", "ended_at"), persisted=True)
    )


class QueueVisit(Base):
    """A call in one queue, from entering it to leaving it (callcenter/calls/journey.py):
    a call that overflows or is transferred to a queue has one per queue it entered."""

    __tablename__ = "queue_visits"
    __table_args__ = (
        CheckConstraint("exit IS NULL OR " + _in("exit", VISIT_EXITS), name="exit"),
        CheckConstraint("left_at IS NULL OR left_at >= entered_at", name="order"),
        Index("ix_queue_visits_queue_entered", "queue", "entered_at"),
        Index("uq_queue_visits_call_seq", "call_id", "seq", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    queue: Mapped[str] = mapped_column(String(32), nullable=False)
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    position: Mapped[int | None] = mapped_column(Integer)
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exit: Mapped[str | None] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(32))  # who answered it
    wait_seconds: Mapped[float | None] = mapped_column(
        Computed(_span("entered_at", "left_at"), persisted=True)
    )


class AgentSegment(Base):
    """One agent's part in a call, from the offer to its end, and the wrap-up after it."""

    __tablename__ = "agent_segments"
    __table_args__ = (
        CheckConstraint(_in("kind", SEGMENT_KINDS), name="kind"),
        CheckConstraint(
            "end_reason IS NULL OR " + _in("end_reason", SEGMENT_ENDS), name="end_reason"
        ),
        CheckConstraint("answered_at IS NULL OR answered_at >= offered_at", name="answer_order"),
        CheckConstraint("ended_at IS NULL OR ended_at >= offered_at", name="end_order"),
        Index("ix_agent_segments_agent_offered", "agent", "offered_at"),
        Index("uq_agent_segments_call_seq", "call_id", "seq", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    agent: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    queue: Mapped[str | None] = mapped_column(String(32))
    visit_seq: Mapped[int | None] = mapped_column(Integer)
    offered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(16))
    hold_seconds: Mapped[float] = mapped_column(nullable=False, server_default="0")
    hold_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    wrap_up_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ring_seconds: Mapped[float | None] = mapped_column(
        Computed(_span("offered_at", "answered_at"), persisted=True)
    )
    talk_seconds: Mapped[float | None] = mapped_column(
        Computed(f"GREATEST({_span('answered_at', 'ended_at')} - hold_seconds, 0)", persisted=True)
    )
    wrap_up_seconds: Mapped[float | None] = mapped_column(
        Computed(_span("ended_at", "wrap_up_ended_at"), persisted=True)
    )


class CallLeg(Base):
    """One channel taking part in a call: the caller, an agent, a callee."""

    __tablename__ = "call_legs"
    __table_args__ = (CheckConstraint(_in("role", LEG_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True
    )
    channel_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    channel_name: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(Text)


class CallEvent(Base):
    """The append-only event log of a call: a superset of Asterisk's queue_log."""

    __tablename__ = "call_events"
    __table_args__ = (Index("ix_call_events_call_time", "call_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # Chosen by the app when the event happens, so a write repeated after a crash or a lost
    # acknowledgement stores the event once.
    uid: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), nullable=False
    )
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    type: Mapped[str] = mapped_column(String(48), nullable=False)
    channel_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")


class CallbackRequest(Base):
    """A caller asked to be called back (from the IVR, or a queue); the ACD dials it."""

    __tablename__ = "callback_requests"
    __table_args__ = (
        CheckConstraint(_in("status", CALLBACK_STATES), name="status"),
        Index(
            "ix_callback_requests_pending", "requested_at", postgresql_where="status = 'pending'"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    call_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    # NULL once anonymized (calls purge --anonymize).
    number: Mapped[str | None] = mapped_column(Text, nullable=True)
    queue: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    # Kept for this agent ("call back myself"): only they are offered it, when logged in.
    agent: Mapped[str | None] = mapped_column(
        ForeignKey("agents.name", ondelete="SET NULL"), nullable=True
    )
    # When its webhook ``callback.due`` was raised (once, when its time came).
    due_announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A voicemail's callback: the message the agent hears before the customer is dialed.
    recording_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="SET NULL"), nullable=True
    )


RECORDING_KINDS = ("call", "voicemail")


class Recording(Base):
    """A recording Asterisk stores (``name`` among its stored recordings, on ``node_id``):
    a queue call's conversation, or a voicemail message. ``gaps`` marks where it was paused
    (callcenter/calls/recording.py). ``deleted_at``: purge asked; the node's app deletes the
    file, then this row."""

    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint(_in("kind", RECORDING_KINDS), name="kind"),
        Index("ix_recordings_queue_started", "queue", "started_at"),
        Index("ix_recordings_started", "started_at"),
        Index("ix_recordings_deleted", "node_id", postgresql_where="deleted_at IS NOT NULL"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    call_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    format: Mapped[str] = mapped_column(String(8), nullable=False, server_default="wav")
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), nullable=False)
    queue: Mapped[str | None] = mapped_column(String(32))
    agent: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[float | None] = mapped_column()
    paused_seconds: Mapped[float] = mapped_column(nullable=False, server_default="0")
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- the ACD: agents, queues, membership ----------------------------------------------------

AGENT_STATES = ("logged_out", "available", "ringing", "on_call", "on_hold", "wrap_up", "paused")
STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "skills")
NAME_CHECK = "{col} ~ '^[a-z][a-z0-9_.-]{{0,31}}$'"


class Agent(Base):
    """A person who takes calls; their softphone registers as the PJSIP endpoint ``name``."""

    __tablename__ = "agents"
    __table_args__ = (
        CheckConstraint(NAME_CHECK.format(col="name"), name="name"),
        CheckConstraint(_in("state", AGENT_STATES), name="state"),
        CheckConstraint(_in("phone", PHONE_KINDS), name="phone"),
    )

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    full_name: Mapped[str | None] = mapped_column(Text)
    sip_secret: Mapped[str] = mapped_column(String(64), nullable=False)
    # A softphone (SIP over UDP) or the desk's browser phone (WebRTC over wss).
    phone: Mapped[str] = mapped_column(String(16), nullable=False, server_default="softphone")
    skills: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default="{}")
    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="logged_out")
    state_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pause_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Queue(Base):
    """An ACD queue and how it behaves (docs/acd.md)."""

    __tablename__ = "queues"
    __table_args__ = (
        CheckConstraint(NAME_CHECK.format(col="name"), name="name"),
        CheckConstraint(_in("strategy", STRATEGIES), name="strategy"),
        CheckConstraint("ring_timeout > 0", name="ring_timeout"),
    )

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(16), nullable=False, server_default="leastrecent")
    moh_class: Mapped[str] = mapped_column(String(64), nullable=False, server_default="default")
    ring_timeout: Mapped[float] = mapped_column(nullable=False, server_default="15")
    retry_seconds: Mapped[float] = mapped_column(nullable=False, server_default="1")
    wrap_up_seconds: Mapped[float] = mapped_column(nullable=False, server_default="0")
    autopause_after: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    max_wait_seconds: Mapped[float | None] = mapped_column()
    max_callers: Mapped[int | None] = mapped_column(Integer)
    join_empty: Mapped[bool] = mapped_column(nullable=False, server_default="true")
    leave_empty: Mapped[bool] = mapped_column(nullable=False, server_default="false")
    exit_key: Mapped[str | None] = mapped_column(String(1))
    callback_key: Mapped[str | None] = mapped_column(String(1))
    record_calls: Mapped[bool] = mapped_column(nullable=False, server_default="false")
    overflow_queue: Mapped[str | None] = mapped_column(String(32))
    announce_seconds: Mapped[float | None] = mapped_column()
    widening: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default="[]"
    )
    service_level_seconds: Mapped[float] = mapped_column(nullable=False, server_default="20")
    # The outcome codes its agents choose from in wrap-up (none: the system codes only).
    disposition_set: Mapped[str | None] = mapped_column(
        ForeignKey("disposition_sets.name", ondelete="SET NULL")
    )
    # After the agent hangs up, the caller is asked to rate the call (1-5) and whether
    # their issue was resolved (1 yes, 2 no).
    survey: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # What the agent reads on connect; ${caller_number}, ${caller_name}, ${queue}, ${agent}
    # and what the IVR collected (${acct}, ${customer.name}...) are filled in.
    script: Mapped[str | None] = mapped_column(Text)
    # At the maximum wait with no overflow queue, the caller leaves a message (voicemail)
    # that becomes a callback task, instead of hearing goodbye.
    voicemail: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")


class QueueMember(Base):
    __tablename__ = "queue_members"

    queue: Mapped[str] = mapped_column(
        ForeignKey("queues.name", ondelete="CASCADE"), primary_key=True
    )
    agent: Mapped[str] = mapped_column(
        ForeignKey("agents.name", ondelete="CASCADE"), primary_key=True
    )
    penalty: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    position: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class AgentEvent(Base):
    """Every state change of every agent, so every second of a shift is accounted for."""

    __tablename__ = "agent_events"
    __table_args__ = (Index("ix_agent_events_agent_time", "agent", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    uid: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)
    agent: Mapped[str] = mapped_column(String(32), nullable=False)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    call_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    queue: Mapped[str | None] = mapped_column(String(32))


# --- dispositions (outcome codes), their actions, do-not-call -----------------------------

SYSTEM_SET = "system"
DISPOSITION_FLAGS = ("human_answered", "contact", "success", "final", "callback", "dnc")


class DispositionSet(Base):
    """A named catalogue of outcome codes: ``system`` (set by the platform) or one that
    queues and campaigns give their agents."""

    __tablename__ = "disposition_sets"
    __table_args__ = (CheckConstraint(NAME_CHECK.format(col="name"), name="name"),)

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class DispositionCode(Base):
    """One outcome code with its flags and the actions it triggers (docs/records.md)."""

    __tablename__ = "disposition_codes"
    __table_args__ = (
        CheckConstraint(NAME_CHECK.format(col="code"), name="code"),
        CheckConstraint("digits IS NULL OR digits ~ '^[0-9]{1,6}$'", name="digits"),
        Index("uq_disposition_codes_set_digits", "code_set", "digits", unique=True),
    )

    code_set: Mapped[str] = mapped_column(
        ForeignKey("disposition_sets.name", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(Text, nullable=False)
    # What an agent keys on the phone (then #) to choose this code.
    digits: Mapped[str | None] = mapped_column(String(6))
    human_answered: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    contact: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    success: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    final: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    callback: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    dnc: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    actions: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default="[]"
    )
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")


class CallDisposition(Base):
    """A code set on a call: several per call, each with who set it and when."""

    __tablename__ = "call_dispositions"
    __table_args__ = (Index("ix_call_dispositions_call", "call_id", "set_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    uid: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), nullable=False
    )
    code_set: Mapped[str] = mapped_column(String(32), nullable=False)
    code: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    # "system", "agent:NAME" or "operator:NAME".
    set_by: Mapped[str] = mapped_column(Text, nullable=False)
    agent: Mapped[str | None] = mapped_column(String(32))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    callback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DncEntry(Base):
    """A number that must not be dialed, on one list, until it expires (NULL: for good)."""

    __tablename__ = "dnc_entries"

    list_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    call_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))


# --- outbound: campaigns, leads, dial attempts, do-not-call lists -----------------------------

DIAL_MODES = ("preview", "progressive", "predictive")
CAMPAIGN_STATES = ("draft", "running", "paused", "stopped")
AMD_ACTIONS = ("off", "hangup", "message", "agent")
LEAD_STATES = ("pending", "dialing", "done")
ATTEMPT_RESULTS = (
    "dialing",
    "connected",
    "dropped",
    "machine",
    "no_answer",
    "busy",
    "congestion",
    "failed",
    "interrupted",
)
DNC_LIST_KINDS = ("internal", "national")


class DncList(Base):
    """A do-not-call list: ``internal`` (the company's own, kept by dispositions and the CLI) or
    ``national`` (imported from a registry, with the date of its data)."""

    __tablename__ = "dnc_lists"
    __table_args__ = (
        CheckConstraint(NAME_CHECK.format(col="name"), name="name"),
        CheckConstraint(_in("kind", DNC_LIST_KINDS), name="kind"),
    )

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default="internal")
    # The date of the registry's data (national lists): older than 31 days, nobody is dialed.
    data_date: Mapped[date | None] = mapped_column(Date)
    imported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    entries: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class Campaign(Base):
    """An outbound campaign: who to call (its leads), how (dial mode, pacing, AMD), with which
    agents (the members of its queue) and under which rules (docs/outbound.md)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(NAME_CHECK.format(col="name"), name="name"),
        CheckConstraint(_in("mode", DIAL_MODES), name="mode"),
        CheckConstraint(_in("state", CAMPAIGN_STATES), name="state"),
        CheckConstraint(_in("amd", AMD_ACTIONS), name="amd"),
        CheckConstraint("abandon_limit > 0 AND abandon_limit <= 0.03", name="abandon_limit"),
        CheckConstraint("optout_key ~ '^[0-9*#]$'", name="optout_key"),
        CheckConstraint("ring_seconds >= 15 AND ring_seconds <= 120", name="ring_seconds"),
        CheckConstraint("max_attempts >= 1", name="max_attempts"),
    )

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16), nullable=False, server_default="progressive")
    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="draft")
    # Its agents are the members of this queue; live answers are handed to them through it.
    queue: Mapped[str] = mapped_column(ForeignKey("queues.name"), nullable=False)
    disposition_set: Mapped[str | None] = mapped_column(
        ForeignKey("disposition_sets.name", ondelete="SET NULL")
    )
    caller_id: Mapped[str] = mapped_column(String(32), nullable=False)
    caller_name: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str] = mapped_column(String(2), nullable=False, server_default="US")
    abandon_limit: Mapped[float] = mapped_column(nullable=False, server_default="0.03")
    ring_seconds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="25")
    amd: Mapped[str] = mapped_column(String(8), nullable=False, server_default="off")
    # Prompt played to a live answer no agent could take within 2 s (and to machines when
    # amd = message), followed by the campaign's caller ID read as digits.
    message_prompt: Mapped[str] = mapped_column(
        Text, nullable=False, server_default="sound:please-try-call-later"
    )
    # Who is calling, as the abandoned-call message names them (47 CFR 64.1200(b)); a campaign
    # that may abandon (progressive, predictive) does not start without it and a recorded
    # message of its own. The key that opts the callee out (company do-not-call list).
    seller_name: Mapped[str | None] = mapped_column(Text)
    optout_key: Mapped[str] = mapped_column(String(1), nullable=False, server_default="9")
    uk_mode: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # Calling hours in the callee's local time: {"days": {"mon": [["08:00", "21:00"]], ...},
    # "holidays": ["2026-12-25", ...]}; empty: 08:00-21:00 every day.
    hours: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    max_calls_24h: Mapped[int | None] = mapped_column(Integer, server_default="3")
    max_calls_30d: Mapped[int | None] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="5")
    # Seconds before a retry, per attempt result ({"busy": 600, ...}); absent: no retry.
    retry_delays: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default="{}")
    # The national do-not-call list this campaign must honour (NULL: none required).
    national_dnc: Mapped[str | None] = mapped_column(
        ForeignKey("dnc_lists.name", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Lead(Base):
    """A person to call for a campaign. Dialer instances claim leads with a lease
    (``FOR UPDATE SKIP LOCKED``); a crashed instance's lease runs out and the lead comes back."""

    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint(_in("state", LEAD_STATES), name="state"),
        Index("uq_leads_campaign_number", "campaign", "number", unique=True),
        Index(
            "ix_leads_due",
            "campaign",
            "priority",
            "next_attempt_at",
            postgresql_where="state <> 'done'",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(
        ForeignKey("campaigns.name", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    # The callee's time zones (from a column, or every zone the number may be in).
    time_zones: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    region: Mapped[str | None] = mapped_column(String(2))
    name: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    source: Mapped[str | None] = mapped_column(Text)  # file and line it was imported from
    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    # 0 = a callback set by a disposition (dialed first), 1 = retry, 2 = first attempt.
    priority: Mapped[int] = mapped_column(Integer, nullable=False, server_default="2")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_result: Mapped[str | None] = mapped_column(String(16))
    closed_reason: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class DialAttempt(Base):
    """One outbound dial of a lead: how it rang, who answered (a person, a machine), whether
    an agent took it within 2 s (else it was dropped: an abandoned call)."""

    __tablename__ = "dial_attempts"
    __table_args__ = (
        CheckConstraint(_in("result", ATTEMPT_RESULTS), name="result"),
        Index("ix_dial_attempts_number_time", "number", "placed_at"),
        Index("ix_dial_attempts_campaign_time", "campaign", "placed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(32), nullable=False)
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    node_id: Mapped[str] = mapped_column(String(64), nullable=False)
    call_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    channel_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[str] = mapped_column(String(16), nullable=False, server_default="dialing")
    # A person answered (AMD said HUMAN, or AMD off): the base of the abandonment rate.
    live: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    dropped: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    message_played: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    amd_status: Mapped[str | None] = mapped_column(String(16))
    amd_cause: Mapped[str | None] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(String(32))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    ring_seconds: Mapped[float | None] = mapped_column(
        Computed(_span("placed_at", "coalesce(answered_at, ended_at)"), persisted=True)
    )


class CallSurvey(Base):
    """A caller's answers to the post-call survey: CSAT (rating 4-5 of 5) and survey-based
    FCR (resolved) per call, agent and queue. NULL: the question was not answered."""

    __tablename__ = "call_surveys"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
        Index("ix_call_surveys_answered_at", "answered_at"),
    )

    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    agent: Mapped[str | None] = mapped_column(String(32), index=True)
    queue: Mapped[str | None] = mapped_column(String(32))
    rating: Mapped[int | None] = mapped_column(Integer)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- the HTTP API's credentials -------------------------------------------------------------

API_ROLES = ("agent", "supervisor", "operator")


class ApiCredential(Base):
    """A token for the HTTP API and its holder's role (docs/api.md). Only the token's SHA-256
    is kept; a revoked credential stays, with when it was revoked."""

    __tablename__ = "api_credentials"
    __table_args__ = (
        CheckConstraint(NAME_CHECK.format(col="name"), name="name"),
        CheckConstraint(_in("role", API_ROLES), name="role"),
        CheckConstraint("role <> 'agent' OR agent IS NOT NULL", name="agent_named"),
        CheckConstraint("token_hash ~ '^[0-9a-f]{64}$'", name="token_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    # The agent whose own requests it may make (an agent's, or a supervisor's softphone).
    agent: Mapped[str | None] = mapped_column(
        ForeignKey("agents.name", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- webhooks: subscriptions, the outbox of events and their deliveries ---------------------

WEBHOOK_TOPICS = ("call.ended", "call.coded", "callback.due", "agent.state")
DELIVERY_STATES = ("pending", "delivered", "dead")


class WebhookSubscription(Base):
    """A receiver of some events (docs/webhooks.md); its secret signs every delivery."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        CheckConstraint("url ~ '^https?://'", name="url"),
        CheckConstraint(
            "topics <@ ARRAY[{}]::text[] AND cardinality(topics) > 0".format(
                ", ".join(f"'{t}'" for t in WEBHOOK_TOPICS)
            ),
            name="topics",
        ),
        CheckConstraint("max_attempts BETWEEN 1 AND 100", name="max_attempts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    topics: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    secret: Mapped[str] = mapped_column(Text, nullable=False)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="12")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class WebhookEvent(Base):
    """The outbox: an event written in the same transaction as the record it tells of (by
    the database's triggers), only while someone subscribes to its topic. ``uid`` is the
    idempotency key every delivery of it carries."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    uid: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, unique=True, server_default=func.gen_random_uuid()
    )
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The row as recorded (the call, the code, the agent's event, the callback).
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class WebhookDelivery(Base):
    """One event for one subscription: tried until delivered or dead-lettered."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATES), name="status"),
        Index(
            "uq_webhook_deliveries_event_subscription", "event_id", "subscription_id", unique=True
        ),
        Index(
            "ix_webhook_deliveries_due", "next_attempt_at", postgresql_where="status = 'pending'"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False
    )
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # A sender holds it until then (another instance, or this one after a crash, may take
    # it over afterwards: at least once).
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
