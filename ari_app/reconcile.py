"""After every (re)connect: settle every call the database or this process thinks is live."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from ari_app.ami import AmiError, ami_session
from ari_app.client import AriClient, AriNotFound, live_channel_ids
from ari_app.registry import CallRegistry
from ari_app.session import ChannelGone, utcnow
from callcenter.calls.reconcile import settle
from callcenter.calls.refused import FAMILY, RefusedCall, parse_refused, refused_record
from db.call_store import CallStore, call_op, event_op, leg_op, system_disposition_op
from db.writer import RecordWriter

log = structlog.get_logger(__name__)


@dataclass
class ReconcileReport:
    asterisk_restarted: bool = False
    kept: int = 0
    closed: list[str] = field(default_factory=list)
    hung_up: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # refused while we were away: imported
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
        self,
        ari: AriClient,
        registry: CallRegistry,
        store: CallStore,
        writer: RecordWriter,
        region: str = "US",
        ami: tuple[str, int, str, str] | None = None,
    ) -> None:
        self.ari = ari
        self.registry = registry
        self.store = store
        self.writer = writer
        self.region = region
        self.ami = ami  # host, port, user, secret: where refused calls are read
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
        alive = await live_channel_ids(self.ari)
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
        report.refused = await self._import_refused()
        self.runs += 1
        report.complete = True
        log.info(
            "reconcile.done",
            asterisk_restarted=report.asterisk_restarted,
            kept=report.kept,
            closed=len(report.closed),
            hung_up=len(report.hung_up),
            refused=len(report.refused),
        )
        return report

    async def _import_refused(self) -> list[str]:
        """Calls Asterisk refused while the application was not running (dialplan kept
        their facts in Asterisk's database, read over AMI since ARI cannot): stored as
        refused calls, then forgotten there. Stored first, removed after: a crash between
        the two imports the same call again, which stores it once (stable ids)."""
        if self.ami is None:
            return []
        imported = []
        try:
            async with ami_session(*self.ami) as ami:
                entries = await ami.action("DBGetTree", Family=FAMILY)
                for entry in entries[1:]:
                    key = entry.get("key", "").rsplit("/", 1)[-1]
                    if not key:
                        continue
                    value = entry.get("val", "")
                    try:
                        call = parse_refused(key, value)
                    except ValueError as exc:
                        log.warning("reconcile.refused_unreadable", key=key, value=value,
                                    error=str(exc))  # fmt: skip
                    else:
                        await self._store_refused(call)
                        imported.append(key)
                    await ami.action("DBDel", Family=FAMILY, Key=key)
        except (AmiError, OSError) as exc:
            log.warning("reconcile.refused_unavailable", error=str(exc)[:200])
        return imported

    async def _store_refused(self, call: RefusedCall) -> None:
        record, events = refused_record(call, self.store.node_id)
        op = call_op(record, self.region)
        await self.store.apply(
            [
                op,
                leg_op(record, None, "caller"),
                *(event_op(self.store.node_id, e) for e in events),
                system_disposition_op(record, self.region),
            ]
        )
        log.info("reconcile.refused_imported", channel=call.uniqueid, caller=call.caller)
