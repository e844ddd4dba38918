"""Calls Asterisk refused while the application was not running.

Dialplan hands every inbound call to our Stasis application; when the application is not
there (stopped, crashed, restarting), ``Stasis()`` fails at once and the call is hung up. So
that such a call is not missing from the records, dialplan keeps Asterisk's own facts about
it (from its CDR: start, uniqueid, linkedid; the caller and the dialed number) in Asterisk's
database under ``switchboard-refused/<uniqueid>``; the application imports them at its next
reconciliation, marked as refused, and removes them (ari_app/reconcile.py).

The stored value is ``start|end|status|dialed|linkedid|caller``: epoch seconds, Stasis's
status, and the caller's number last, since it may hold anything (``|`` included).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from callcenter.calls.record import CAUSE_NORMAL_CLEARING, CallEventRecord, CallRecord

FAMILY = "switchboard-refused"
REASON = "the application was not running"
_NAMESPACE = uuid.UUID("b2d4c0de-5a1f-4c39-9a53-2f0c6e1a7d11")


@dataclass(frozen=True)
class RefusedCall:
    uniqueid: str
    started_at: datetime
    ended_at: datetime
    status: str
    dialed: str | None
    linkedid: str | None
    caller: str | None


def _epoch(text: str) -> datetime:
    return datetime.fromtimestamp(float(text), UTC)


def parse_refused(uniqueid: str, value: str) -> RefusedCall:
    """The stored facts about one refused call; ValueError when they do not parse."""
    parts = value.split("|", 5)
    if len(parts) != 6:
        raise ValueError(f"refused call {uniqueid}: {value!r} has {len(parts)} fields, not 6")
    start, end, status, dialed, linkedid, caller = parts
    started = _epoch(start)
    ended = max(_epoch(end), started)
    return RefusedCall(
        uniqueid=uniqueid,
        started_at=started,
        ended_at=ended,
        status=status,
        dialed=dialed or None,
        linkedid=linkedid or None,
        caller=caller or None,
    )


def refused_record(call: RefusedCall, node_id: str) -> tuple[CallRecord, list[CallEventRecord]]:
    """The call's record (ended, outcome ``refused``) and its events. Its id comes from the
    node and the channel, so importing it twice stores it once."""
    record = CallRecord(
        node_id=node_id,
        channel_id=call.uniqueid,
        direction="inbound",
        arrived_at=call.started_at,
        caller_number=call.caller,
        dialed_number=call.dialed,
        linkedid=call.linkedid,
        id=uuid.uuid5(_NAMESPACE, f"{node_id}/{call.uniqueid}"),
    )
    arrive = record.event(call.started_at, "ARRIVE", caller=call.caller, dialed=call.dialed)
    refused = record.event(
        call.started_at,
        "REFUSED",
        reason=REASON,
        stasis_status=call.status,
        source="asterisk",
    )
    hangup = record.end(
        call.ended_at,
        cause=CAUSE_NORMAL_CLEARING,
        cause_text="refused: " + REASON,
        party="system",
        outcome="refused",
    )
    events = [arrive, refused] + ([hangup] if hangup is not None else [])
    # Stable ids for the events too: a second import adds nothing.
    stable = [
        CallEventRecord(
            call_id=e.call_id,
            occurred_at=e.occurred_at,
            type=e.type,
            channel_id=e.channel_id,
            data=e.data,
            uid=uuid.uuid5(record.id, e.type),
        )
        for e in events
    ]
    return record, stable
