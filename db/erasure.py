"""What a purge or an anonymization removes besides the call rows: everything else that
holds a caller's personal data (docs/records.md, "Retention and erasure").

- recordings (their voice): deleted, file and row, whether the calls are deleted or
  anonymized (a voice cannot be anonymized);
- callback requests: deleted with the calls, or their numbers blanked (and any still
  pending cancelled) when anonymizing;
- disposition notes (free text an agent typed): blanked when anonymizing (deleted with
  the calls otherwise);
- do-not-call entries the calls created, or for the number: deleted once expired; one still
  in force is kept, because honouring it is the law (its link to the call goes);
- leads: for a number's erasure, its leads lose their name, external id and fields (and are
  closed, not to be dialed again); for an age purge, the finished leads of the calls do;
- webhook events about the calls (their bodies carry numbers): deleted with their
  deliveries.

Dial attempts stay: they are the record the abandonment-rate rule is checked against.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, delete, or_, select, update

from callcenter.calls.numbers import spellings
from db.models import (
    Call,
    CallbackRequest,
    CallDisposition,
    DialAttempt,
    DncEntry,
    Lead,
    WebhookEvent,
)
from db.recording_store import request_purge


@dataclass(frozen=True)
class ErasureCounts:
    recordings: int = 0
    callbacks: int = 0
    notes: int = 0
    dnc_deleted: int = 0
    dnc_kept: int = 0  # still in force: the law says keep honouring them
    leads: int = 0
    webhook_events: int = 0


def forget_personal_data(
    conn: Connection,
    call_ids: list[uuid.UUID],
    anonymize: bool,
    now: datetime,
    number: str | None = None,
    region: str = "US",
) -> ErasureCounts:
    numbers = spellings(number, region) if number is not None else set()
    recordings = request_purge(conn, call_ids=call_ids) if call_ids else 0

    of_callers: list[Any] = [CallbackRequest.call_id.in_(call_ids)]
    if numbers:
        of_callers.append(CallbackRequest.number.in_(numbers))
    mine = and_(or_(*of_callers), CallbackRequest.status != "dialing")
    if anonymize:
        callbacks = conn.execute(
            update(CallbackRequest)
            .where(mine, CallbackRequest.number.is_not(None))
            .values(
                number=None,
                status=_cancel_pending(),
            )
        ).rowcount
        notes = conn.execute(
            update(CallDisposition)
            .where(CallDisposition.call_id.in_(call_ids), CallDisposition.note.is_not(None))
            .values(note=None)
        ).rowcount
    else:
        callbacks = conn.execute(delete(CallbackRequest).where(mine)).rowcount
        notes = 0

    of_dnc: list[Any] = [DncEntry.call_id.in_(call_ids)]
    if numbers:
        of_dnc.append(DncEntry.number.in_(numbers))
    expired = and_(DncEntry.expires_at.is_not(None), DncEntry.expires_at <= now)
    dnc_deleted = conn.execute(delete(DncEntry).where(or_(*of_dnc), expired)).rowcount
    dnc_kept = conn.execute(update(DncEntry).where(or_(*of_dnc)).values(call_id=None)).rowcount

    personal: dict[str, Any] = {"name": None, "external_id": None, "data": {}}
    leads = 0
    if numbers:
        leads += conn.execute(
            update(Lead)
            .where(Lead.number.in_(numbers), Lead.state != "dialing")
            .values(**personal, state="done", closed_reason="erased", next_attempt_at=None)
        ).rowcount
    if call_ids:
        finished = (
            select(DialAttempt.lead_id)
            .join(Call, Call.attempt_id == DialAttempt.id)
            .where(Call.id.in_(call_ids), DialAttempt.lead_id.is_not(None))
        )
        leads += conn.execute(
            update(Lead)
            .where(
                Lead.id.in_(finished),
                Lead.state == "done",
                or_(Lead.name.is_not(None), Lead.external_id.is_not(None), Lead.data != {}),
            )
            .values(**personal)
        ).rowcount

    texts = [str(i) for i in call_ids]
    webhook_events = 0
    if texts:
        webhook_events = conn.execute(
            delete(WebhookEvent).where(
                or_(
                    WebhookEvent.data["id"].astext.in_(texts),
                    WebhookEvent.data["call_id"].astext.in_(texts),
                )
            )
        ).rowcount
    return ErasureCounts(
        recordings=recordings,
        callbacks=callbacks,
        notes=notes,
        dnc_deleted=dnc_deleted,
        dnc_kept=dnc_kept,
        leads=leads,
        webhook_events=webhook_events,
    )


def _cancel_pending() -> Any:
    return case((CallbackRequest.status == "pending", "cancelled"), else_=CallbackRequest.status)
