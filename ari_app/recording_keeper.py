"""The recording keeper: deletes the files of this node's recordings marked for deletion (by
a purge, or by the retention setting), then their rows. Woken by NOTIFY
switchboard_recordings; also looks on its own every ``poll`` seconds, and applies the
retention (``SWITCHBOARD_RECORDING_RETENTION_DAYS``) then."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ari_app.client import AriClient, AriError, AriNotFound
from ari_app.notify_wake import wake_on_notify
from db.recording_store import CHANNEL, doomed, forget, mark_expired

log = structlog.get_logger(__name__)


class RecordingKeeper:
    def __init__(
        self,
        engine: AsyncEngine,
        database_url: str,
        ari: AriClient,
        node_id: str,
        retention: timedelta | None,
        poll: float,
    ) -> None:
        self.engine = engine
        self.database_url = database_url
        self.ari = ari
        self.node_id = node_id
        self.retention = retention
        self.poll = poll
        self._wake = asyncio.Event()
        self.deleted = 0

    async def run(self) -> None:
        listener = asyncio.create_task(
            wake_on_notify(self.database_url, CHANNEL, self._wake), name="recordings-listen"
        )
        last_retention = 0.0
        try:
            while True:
                try:
                    now = time.monotonic()
                    if self.retention is not None and now - last_retention >= self.poll:
                        last_retention = now
                        expired = await mark_expired(self.engine, self.node_id, self.retention)
                        if expired:
                            log.info("recordings.expired", count=expired)
                    await self.once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("recordings.keeper_failed", error=str(exc)[:200])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll)
                self._wake.clear()
        finally:
            listener.cancel()

    async def once(self) -> int:
        """Delete what is marked, file first; returns how many went."""
        gone = 0
        for recording_id, name in await doomed(self.engine, self.node_id):
            try:
                await self.ari.delete(f"/recordings/stored/{name}")
            except AriNotFound:
                pass  # already gone (deleted by hand, or an earlier try got this far)
            except AriError as exc:
                log.warning("recordings.delete_failed", name=name, error=str(exc)[:200])
                continue  # Asterisk away: the row stays marked, tried again next time
            await forget(self.engine, recording_id)
            gone += 1
        if gone:
            self.deleted += gone
            log.info("recordings.deleted", count=gone)
        return gone
