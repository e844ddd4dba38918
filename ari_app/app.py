"""The running application: ARI events, call handlers, FastAGI and the record writer."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from datetime import datetime, timedelta
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from agi.handlers import build_registry
from agi.server import FastAgiServer
from ari_app.acd import AcdRuntime
from ari_app.ami import AmiAuthError, AmiUnavailable, check_login
from ari_app.api import PhoneServer, start_api
from ari_app.callback_answered import callback_answered, describe_callback
from ari_app.client import AriAuthError, AriClient, AriHttpError, AriUnavailable
from ari_app.dialer import Dialer
from ari_app.events import ACTED_ON, Event, StasisStart
from ari_app.flows import refuse, walking_skeleton
from ari_app.ivr import IvrBackend, run_ivr, watch_flows
from ari_app.live_figures import LiveFigures
from ari_app.prometheus import Counters
from ari_app.reconcile import Reconciler
from ari_app.recording_keeper import RecordingKeeper
from ari_app.records_api import ReadApi
from ari_app.registry import CallRegistry
from ari_app.scheduled_callbacks import CallbackScheduler
from ari_app.session import CallSession, CallSink, Flow, utcnow
from ari_app.webhook_sender import SenderSettings, WebhookSender
from ari_app.wrap_up import WrapUpDesk
from callcenter.calls.caller_id import sip_display_name
from callcenter.calls.journey import Journey
from callcenter.calls.record import CallEventRecord, CallRecord
from callcenter.config import Settings
from callcenter.ivr.library import FlowLibrary
from callcenter.ivr.prompts import SoundCatalog
from callcenter.security.tokens import Authenticator
from callcenter.webhooks.retry import Backoff
from db import migrate
from db.agent_time_query import agent_today
from db.api_credential_store import agent_handled_call, credential_lookup
from db.call_store import CallStore, call_op, event_op, leg_op, system_disposition_op
from db.engine import async_engine
from db.record_ops import RecordOp
from db.spool import Spool, SpoolBusy
from db.writer import LINGER_SECONDS, RecordWriter

log = structlog.get_logger(__name__)


class StartupError(Exception):
    """Something the operator must fix before Switchboard can run; the message says what."""


# The operator's API token is a password: one too short to resist guessing is refused.
MIN_API_TOKEN_LENGTH = 16


def check_api_token(settings: Settings) -> None:
    """The HTTP API always needs authentication: refuse to start without a usable token."""
    token = settings.api_token
    if not token:
        raise StartupError(
            "SWITCHBOARD_API_TOKEN is empty: the HTTP API needs an operator token; "
            "'switchboard init' writes one to .env (or set a random one, 32 characters)"
        )
    if len(token) < MIN_API_TOKEN_LENGTH:
        raise StartupError(
            f"SWITCHBOARD_API_TOKEN is too short ({len(token)} characters, at least "
            f"{MIN_API_TOKEN_LENGTH}): use a random one, e.g. from 'switchboard init'"
        )


class WriterSink(CallSink):
    """Snapshots taken now, written in order by the record writer."""

    def __init__(self, store: CallStore, writer: RecordWriter, region: str) -> None:
        self.store = store
        self.writer = writer
        self.region = region
        # The journey of every live call (its queue visits and agent segments), built from
        # its events as they are logged.
        self.journeys: dict[uuid.UUID, Journey] = {}

    def save(self, record: CallRecord, channel_name: str | None) -> None:
        op = call_op(record, self.region)
        self.writer.submit(op)
        self.writer.submit(leg_op(record, channel_name, "caller"))
        if record.is_live and record.id not in self.journeys:
            self.journeys[record.id] = Journey(record.id)

    def log_event(self, event: CallEventRecord) -> None:
        self.writer.submit(event_op(self.store.node_id, event))
        journey = self.journeys.get(event.call_id)
        if journey is None:
            return
        journey.apply(event.type, event.occurred_at, event.data)
        visits, segments = journey.changed()
        for visit in visits:
            self.writer.submit(RecordOp("visit", visit.row()))
        for segment in segments:
            self.writer.submit(RecordOp("segment", segment.row()))

    def ended(self, record: CallRecord) -> None:
        self.writer.submit(system_disposition_op(record, self.region))
        self.journeys.pop(record.id, None)

    def save_leg(self, row: dict[str, Any]) -> None:
        self.writer.submit(RecordOp("leg", row))

    def save_recording(self, row: dict[str, Any]) -> None:
        self.writer.submit(RecordOp("recording", {"node_id": self.store.node_id, **row}))

    def save_callback(self, row: dict[str, Any]) -> None:
        self.writer.submit(RecordOp("callback", row))


async def check_database(settings: Settings) -> None:
    """Fail with the fix named when the database is unreachable or not migrated."""
    engine = async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StartupError(
            f"cannot use the database ({reason}). Is PostgreSQL running and DATABASE_URL "
            "right? 'switchboard db upgrade' creates and migrates it."
        ) from exc
    finally:
        await engine.dispose()
    current = await asyncio.to_thread(migrate.current_revision, settings.database_url)
    head = await asyncio.to_thread(migrate.head_revision, settings.database_url)
    if current != head:
        raise StartupError(
            f"the database is not migrated (at {current or 'nothing'}, code needs {head}): "
            "run 'switchboard db upgrade'"
        )


class Application:
    def __init__(self, settings: Settings) -> None:
        check_api_token(settings)
        self.settings = settings
        self.engine = async_engine(settings.database_url)
        self.store = CallStore(self.engine, settings.node_id)
        try:
            spool = Spool(settings.spool_path)
        except (SpoolBusy, OSError) as exc:
            raise StartupError(f"cannot use the record spool: {exc}") from exc
        self.writer = RecordWriter(self.store.apply, spool, linger=LINGER_SECONDS)
        self.ari = AriClient(
            settings.ari_url,
            settings.ari_user,
            settings.ari_password,
            settings.ari_app,
            heartbeat=settings.ari_heartbeat_seconds,
            event_types=ACTED_ON,
        )
        self.registry = CallRegistry(self._new_call)
        self.sink = WriterSink(self.store, self.writer, settings.default_region)
        self.reconciler = Reconciler(
            self.ari,
            self.registry,
            self.store,
            self.writer,
            settings.default_region,
            ami=(settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret),
        )
        self.library = FlowLibrary(settings.flows_dir) if settings.flows_dir else None
        self.ivr = IvrBackend(self.engine, self.store, self.writer)
        self.acd = AcdRuntime(
            self.ari,
            self.engine,
            self.writer,
            settings.database_url,
            settings.node_id,
            settings.acd_tick_seconds,
        )
        self.acd.outbound_uri = settings.outbound_uri
        self.ivr.acd = self.acd
        self.ivr.registry = self.registry
        self.desk = WrapUpDesk(
            self.engine,
            self.acd,
            node_id=settings.node_id,
            region=settings.default_region,
            clock=self.business_now,
        )
        self.callbacks = CallbackScheduler(
            self.acd,
            self.registry,
            self.ari,
            self.engine,
            self.writer,
            node_id=settings.node_id,
            region=settings.default_region,
            clock=self.business_now,
        )
        self.dialer = Dialer(
            self.acd,
            self.registry,
            self.ari,
            self.engine,
            self.writer,
            self.sink,
            node_id=settings.node_id,
            clock=self.business_now,
            false_positive_rate=settings.uk_amd_false_positive_rate,
        )
        self.figures = LiveFigures(self.acd, self.dialer, self.engine)
        self.keeper = RecordingKeeper(
            self.engine,
            settings.database_url,
            self.ari,
            settings.node_id,
            timedelta(days=settings.recording_retention_days)
            if settings.recording_retention_days
            else None,
            settings.recording_keeper_poll_seconds,
        )
        self.webhooks = WebhookSender(
            self.engine,
            settings.database_url,
            SenderSettings(
                timeout=settings.webhook_timeout_seconds,
                concurrency=settings.webhook_concurrency,
                backoff=Backoff(settings.webhook_retry_seconds, settings.webhook_retry_cap_seconds),
                poll=settings.webhook_poll_seconds,
            ),
        )
        self.authenticator = Authenticator(settings.api_token, credential_lookup(self.engine))
        self.api: web.AppRunner | None = None
        self._reload_wanted = asyncio.Event()
        self._orphans: set[asyncio.Task[None]] = set()
        self._reconciling: asyncio.Task[None] | None = None
        self._clock_offset = (
            settings.business_clock_start - utcnow() if settings.business_clock_start else None
        )
        self.agi = FastAgiServer(
            build_registry(settings.node_id, self.acd, self.desk),
            settings.agi_host,
            settings.agi_port,
            header_timeout=settings.agi_header_timeout_seconds,
            command_timeout=settings.agi_command_timeout_seconds,
        )

    # --- calls ------------------------------------------------------------------------

    def _new_call(self, event: StasisStart) -> tuple[CallSession, Flow] | None:
        channel = event.channel
        role = event.args[0] if event.args else ""
        if role in ("campaign-dial", "campaign"):
            made = self.dialer.session_for(event)
            if made is not None:
                return made
        if role in ("agent", "snoop"):
            # An agent's leg (or a supervisor's snoop) whose call let go of it before its
            # StasisStart came (the caller hung up): part of that call, never one of its own.
            self._drop_orphan_leg(channel.id, event.args[1] if len(event.args) > 1 else "")
            return None
        dialed = event.args[1] if len(event.args) > 1 else channel.dialplan.exten
        record = CallRecord(
            node_id=self.settings.node_id,
            channel_id=channel.id,
            direction=(
                "inbound" if role == "inbound" else "outbound" if role == "callback" else "internal"
            ),
            arrived_at=channel.creationtime or event.timestamp or utcnow(),
            caller_number=channel.caller.number or None,
            caller_name=(
                sip_display_name(channel.caller.name)
                if channel.name.startswith("PJSIP/")
                else channel.caller.name or None
            ),
            dialed_number=dialed or None,
            linkedid=str(event.raw.get("channel", {}).get("linkedid") or channel.id),
        )
        log.info(
            "call.arrived",
            call_id=str(record.id),
            caller=record.caller_number,
            dialed=record.dialed_number,
        )
        session = CallSession(channel, record, self.ari, self.sink)
        if role == "callback":
            describe_callback(record, self.acd, dialed or "")
            return session, functools.partial(
                callback_answered, acd=self.acd, registry=self.registry, request_id=dialed or ""
            )
        if role != "inbound":
            # Not a call we know how to handle: never leave it stranded in Stasis.
            log.warning("call.unexpected_stasis_start", channel=channel.id, args=event.args)
            return session, refuse
        if self.library is None:
            return session, walking_skeleton
        # The call keeps the flows as they are now, whatever is reloaded while it runs.
        flow = functools.partial(
            run_ivr, flows=self.library.current, backend=self.ivr, business_now=self.business_now
        )
        return session, flow

    def _drop_orphan_leg(self, channel_id: str, call_id: str) -> None:
        log.info("call.orphan_leg_hung_up", channel=channel_id, call_id=call_id)

        async def hang_up() -> None:
            with contextlib.suppress(AriHttpError, AriUnavailable):
                await self.ari.delete(f"/channels/{channel_id}", reason="normal")

        task = asyncio.create_task(hang_up(), name=f"orphan-{channel_id}")
        self._orphans.add(task)
        task.add_done_callback(self._orphans.discard)

    def counters(self) -> Counters:
        """What /metrics counts since start: the cost of the calls on the wire and in the
        database (the benchmarks divide them by the calls)."""
        writer = self.writer
        return {
            "ari_requests": ("ARI REST requests sent", lambda: self.ari.requests),
            "ari_events": ("ARI events received", lambda: self.ari.events),
            "record_ops": ("Record operations stored", lambda: writer.written),
            "record_batches": (
                "Record batches stored (one transaction each)",
                lambda: writer.batches,
            ),
        }

    def business_now(self) -> datetime:
        now = utcnow()
        return now + self._clock_offset if self._clock_offset is not None else now

    def request_reload(self) -> None:
        """Re-read the flow files now (SIGHUP)."""
        self._reload_wanted.set()

    async def load_flows(self) -> None:
        """First load of the flows, with the sounds this Asterisk has for the prompt check."""
        if self.library is None:
            return
        try:
            listing = await self.ari.get("/sounds")
            self.library.catalog = SoundCatalog.from_ari(
                listing if isinstance(listing, list) else []
            )
        except AriHttpError as exc:
            log.warning("ivr.sounds_unknown", error=str(exc))
        report = await asyncio.to_thread(self.library.reload)
        if not self.library.current.flows:
            log.error(
                "ivr.no_flows",
                directory=str(self.library.directory),
                problems=[str(p) for p in report.problems],
            )

    def _on_event(self, event: Event) -> None:
        self.registry.dispatch(event)
        self.acd.on_event(event)

    async def _on_connect(self) -> None:
        if self._reconciling is not None:
            self._reconciling.cancel()
        self._reconciling = asyncio.create_task(self._reconcile(), name="reconcile")
        self.acd.holding_bridges.clear()  # Asterisk may have restarted: bridges are gone
        self.dialer.spawn(self.dialer.on_connect())
        if self.acd.loaded.is_set():
            try:
                # Asterisk may have restarted: its in-memory softphone accounts are gone.
                await self.acd.push_endpoints()
            except Exception:
                log.exception("acd.push_failed")

    async def _reconcile(self) -> None:
        """Settle every call the database thinks is live; while PostgreSQL is away (its
        records wait in the spool), try again until it is done."""
        while True:
            try:
                if (await self.reconciler.run()).complete:
                    return
            except (SQLAlchemyError, OSError) as exc:
                log.warning("reconcile.database_unavailable", error=str(exc)[:200])
            except (AriUnavailable, AriHttpError) as exc:
                log.warning("reconcile.asterisk_unavailable", error=str(exc)[:200])
                return  # the next connect runs it again
            except Exception:
                log.exception("reconcile.failed")
                return
            await asyncio.sleep(5)

    # --- life cycle -------------------------------------------------------------------

    async def wait_for_asterisk(self, stop: asyncio.Event) -> dict[str, object]:
        """Until Asterisk answers ARI: wrong credentials are fatal, absence is retried."""
        await self.ari.open()
        delay = 0.5
        while True:
            try:
                info = await self.ari.get("/asterisk/info")
                return info if isinstance(info, dict) else {}
            except AriAuthError as exc:
                raise StartupError(
                    f"Asterisk refused the ARI user {self.settings.ari_user!r} at "
                    f"{self.settings.ari_url}: check SWITCHBOARD_ARI_USER and "
                    "SWITCHBOARD_ARI_PASSWORD"
                ) from exc
            except (AriUnavailable, AriHttpError, ValueError) as exc:
                # Not up, or HTTP up before res_ari finished loading: wait and retry.
                log.warning("asterisk.unreachable", error=str(exc), retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                raise StartupError("stopped while waiting for Asterisk")
            delay = min(delay * 2, 10.0)

    async def check_ami(self) -> None:
        s = self.settings
        try:
            await check_login(s.ami_host, s.ami_port, s.ami_user, s.ami_secret)
        except AmiAuthError as exc:
            raise StartupError(
                f"{exc}: check SWITCHBOARD_AMI_USER and SWITCHBOARD_AMI_SECRET"
            ) from exc
        except AmiUnavailable as exc:
            log.warning("ami.unreachable", error=str(exc))

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await check_database(self.settings)
            info = await self.wait_for_asterisk(stop)
            await self.check_ami()
            system = info.get("system")
            version = str(system.get("version", "")) if isinstance(system, dict) else ""
            await self.store.register_node(version or None)
            await self.load_flows()
            await self.agi.start()
            self.api = await start_api(
                self.acd,
                self.settings.api_host,
                self.settings.api_port,
                self.authenticator,
                self.desk,
                self.dialer,
                self.figures,
                functools.partial(agent_handled_call, self.engine),
                self.counters(),
                PhoneServer(self.settings.phone_wss_url, self.settings.sip_host_for_phones),
                functools.partial(agent_today, self.engine, self.settings.timezone),
                ReadApi(self.engine, self.ari, self.settings.node_id),
            )
        except BaseException:
            await self.ari.close()
            await self.engine.dispose()
            if self.writer.spool is not None:
                self.writer.spool.close()
            raise
        self.writer.start()
        events = asyncio.create_task(self.ari.run(self._on_event, self._on_connect))
        acd_tasks = [
            asyncio.create_task(self.acd.listen(), name="acd-listen"),
            asyncio.create_task(self.acd.tick(), name="acd-tick"),
            asyncio.create_task(self.callbacks.run(), name="scheduled-callbacks"),
            asyncio.create_task(self.dialer.run(), name="dialer"),
            asyncio.create_task(self.figures.run(), name="live-figures"),
            asyncio.create_task(self.webhooks.run(), name="webhooks"),
            asyncio.create_task(self.keeper.run(), name="recording-keeper"),
        ]
        stopping = asyncio.create_task(stop.wait())
        watcher = None
        if self.library is not None:
            library = self.library
            watcher = asyncio.create_task(
                watch_flows(
                    library.reload_if_changed,
                    self.settings.flows_poll_seconds,
                    self._reload_wanted,
                    stop,
                )
            )
        log.info("switchboard.running", node=self.settings.node_id, asterisk=version)
        try:
            done, _ = await asyncio.wait({events, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if events in done:
                exc = events.exception()
                if isinstance(exc, AriAuthError):
                    raise StartupError(
                        "Asterisk now refuses our ARI credentials; stopping"
                    ) from exc
                if exc is not None:
                    raise exc
        finally:
            stopping.cancel()
            if watcher is not None:
                watcher.cancel()
            for task in acd_tasks:
                task.cancel()
            await self.shutdown(events)

    async def shutdown(self, events: asyncio.Task[None] | None = None) -> None:
        log.info("switchboard.stopping", live_calls=len(self.registry))
        await self.dialer.stop()
        if self._reconciling is not None:
            self._reconciling.cancel()
        await self.registry.shutdown(self.settings.shutdown_grace_seconds)
        await self.ari.close()
        if events is not None:
            events.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await events
        await self.agi.close()
        if self.api is not None:
            await self.api.cleanup()
        await self.ivr.close()
        drained = await self.writer.stop(timeout=30)
        if self.writer.spool is not None:
            self.writer.spool.close()
        await self.store.close()
        await self.acd.history.close()
        await self.engine.dispose()
        log.info("switchboard.stopped", records_complete=drained)
