"""After every (re)connect: settle every call the database or this process thinks is live."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from ari_app.client import AriClient, AriNotFound
from ari_app.registry import CallRegistry
from ari_app.session import ChannelGone, utcnow
from db.call_store import CallStore
from db.writer import RecordWriter
from switchboard.calls.reconcile import settle

log = structlog.get_logger(__name__)


@dataclass
class ReconcileReport:
    asterisk_restarted: bool = False
    kept: int = 0
    closed: list[str] = field(default_factory=list)
    hung_up: list[str] = field(default_factory=list)
    complete: bool = False  # False: the database was behind; the caller tries again later


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("+0000", "+00:00"))
    except ValueError:
        return None


class Reconciler:
    def __init__(
        self, ari: AriClient, registry: CallRegistry, store: CallStore, writer: RecordWriter
    ) -> None:
        self.ari = ari
        self.registry = registry
        self.store = store
        self.writer = writer
        self.asterisk_started_at: datetime | None = None
        self.runs = 0

    async def run(self) -> ReconcileReport:
        report = ReconcileReport()
        # Sessions started after the channel list was taken are not in it: judge only those
        # that existed before we asked.
        sessions = self.registry.sessions()
        info = await self.ari.get("/asterisk/info")
        started = _parse_time(((info or {}).get("status") or {}).get("startup_time"))
        if self.asterisk_started_at is not None and started != self.asterisk_started_at:
            report.asterisk_restarted = True
        self.asterisk_started_at = started
        channels = await self.ari.get("/channels")
        alive = {c["id"] for c in channels or []}
        now = utcnow()

        for session in sessions:
            if session.channel_id in alive:
                report.kept += 1
                continue
            verdict = settle(
                handled_here=True,
                channel_alive=False,
                last_seen_at=session.record.answered_at or session.record.arrived_at,
                asterisk_started_at=started if report.asterisk_restarted else None,
                now=now,
            )
            session.deliver(
                ChannelGone(
                    type="ChannelGone",
                    timestamp=now,
                    cause=verdict.cause,
                    cause_text=verdict.cause_text,
                    ended_at=verdict.ended_at,
                )
            )
            report.closed.append(session.channel_id)

        if not await self.writer.drain(timeout=10):
            log.warning("reconcile.database_behind", pending=self.writer.pending)
            return report
        for live in await self.store.live_calls():
            if self.registry.get(live.channel_id) is not None:
                continue
            if self.registry.tracks(live.channel_id) and live.channel_id in alive:
                continue  # an outbound dial of ours, still ringing
            verdict = settle(
                handled_here=False,
                channel_alive=live.channel_id in alive,
                last_seen_at=live.last_event_at,
                asterisk_started_at=started,
                now=now,
            )
            if verdict.action == "hangup_and_close":
                with contextlib.suppress(AriNotFound):
                    await self.ari.delete(f"/channels/{live.channel_id}", reason="normal")
                report.hung_up.append(live.channel_id)
            else:
                report.closed.append(live.channel_id)
            await self.store.close_call(
                live.id,
                ended_at=verdict.ended_at or now,
                cause=verdict.cause,
                cause_text=verdict.cause_text,
                party=verdict.party,
                outcome=verdict.outcome,
            )
        self.runs += 1
        report.complete = True
        log.info(
            "reconcile.done",
            asterisk_restarted=report.asterisk_restarted,
            kept=report.kept,
            closed=len(report.closed),
            hung_up=len(report.hung_up),
        )
        return report
