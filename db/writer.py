"""The one ordered, durable path by which call records reach PostgreSQL.

Call handlers hand over operations (db/record_ops.py) and go on with the call: a slow or
absent database never makes a caller wait. Each operation is appended to the local spool
(db/spool.py) as it is handed over; the writer takes what has piled up as one batch, syncs
the spool to disk, applies the batch in one transaction and then marks it applied. While
the database is unreachable the batch is retried with backoff and the spool keeps growing;
when it returns, everything is flushed in order, once (operations are idempotent). After a
crash, a new writer replays what the spool holds past its mark before anything new.

A batch the database refuses for good (a broken constraint: a bug) is retried one
operation at a time, so only the culprit is set aside (in the spool's rejected.log, loudly)
and the records behind it go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg
import structlog
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError, SQLAlchemyError

from db.record_ops import BadRecordOp, RecordOp, decode, encode
from db.spool import Spool

log = structlog.get_logger(__name__)

Apply = Callable[[list[RecordOp]], Awaitable[None]]
# The app's linger: a call's record operations come in bursts (a hangup ends the call, its
# leg, its visit, its segment, the agent's state); 25 ms gathers a burst into one
# transaction and keeps a record visible well within 100 ms of the hangup.
LINGER_SECONDS = 0.025
LINGER_BELOW = 64  # operations waiting: fewer, and the writer lingers

# Refused for good: through SQLAlchemy, or from the driver directly (the hot kinds).
PERMANENT = (
    IntegrityError,
    DataError,
    ProgrammingError,
    psycopg.IntegrityError,
    psycopg.DataError,
    psycopg.ProgrammingError,
    BadRecordOp,
)
# Worth a retry: the database or the way to it is away.
TRANSIENT = (SQLAlchemyError, psycopg.Error, OSError)


@dataclass
class _Item:
    op: RecordOp
    offset: int  # in the spool, just past this operation (0 without a spool)
    line: bytes


class RecordWriter:
    def __init__(
        self,
        apply: Apply,
        spool: Spool | None = None,
        *,
        batch_max: int = 1000,
        max_backoff: float = 5.0,
        linger: float = 0.0,
    ) -> None:
        self._apply = apply
        self.spool = spool
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._batch_max = batch_max
        self._max_backoff = max_backoff
        # How long the first operation of a batch waits for others to join it: each batch
        # costs a transaction, a spool sync and a mark, so a few milliseconds here turn the
        # several batches of one call's moments into one.
        self._linger = linger
        self.written = 0
        self.batches = 0
        self.retries = 0
        self.replayed = 0
        self.rejected: list[str] = []
        self.down_since: float | None = None
        # Called with each applied batch (the time from hand-over to stored, for metrics).
        self.on_applied: Callable[[list[RecordOp]], None] | None = None
        if spool is not None:
            self._recover(spool)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="record-writer")

    def _recover(self, spool: Spool) -> None:
        """What the spool holds past its mark goes first, before anything new."""
        for offset, line in spool.pending():
            try:
                op = decode(line)
            except BadRecordOp as exc:
                spool.reject(line, str(exc))
                self.rejected.append(str(exc))
                continue
            self._queue.put_nowait(_Item(op, offset, line))
            self.replayed += 1
        if self.replayed:
            log.warning("records.replaying_spool", operations=self.replayed)

    def submit(self, op: RecordOp) -> None:
        line = encode(op)
        offset = self.spool.append(line) if self.spool is not None else 0
        self._queue.put_nowait(_Item(op, offset, line))

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._linger and self._queue.qsize() < LINGER_BELOW:
                # Only when little is waiting: under a heavy load batches fill up while the
                # last one is written, and a pause would only add to every record's delay.
                await asyncio.sleep(self._linger)
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if self.spool is not None:
                await asyncio.to_thread(self.spool.sync)
            await self._store(batch)
            if self.spool is not None:
                self.spool.applied(batch[-1].offset)
                if self._queue.empty():
                    self.spool.compact()
            for _ in batch:
                self._queue.task_done()

    async def _store(self, batch: list[_Item]) -> None:
        delay = 0.1
        while True:
            try:
                await self._apply([item.op for item in batch])
            except PERMANENT as exc:
                if len(batch) == 1:
                    self._set_aside(batch[0], exc)
                    return
                # Find the culprit: one at a time, in order.
                for item in batch:
                    await self._store([item])
                return
            except TRANSIENT as exc:
                self.retries += 1
                if self.down_since is None:
                    self.down_since = time.monotonic()
                log.warning(
                    "records.write_failed",
                    error=_first_line(exc),
                    retry_in_s=delay,
                    pending=self._queue.qsize() + len(batch),
                )
                await asyncio.sleep(delay)
                delay = min(self._max_backoff, delay * 2)
                continue
            except Exception as exc:  # a bug in the write itself: set aside, go on
                if len(batch) == 1:
                    log.exception("records.write_bug", what=batch[0].op.what)
                    self._set_aside(batch[0], exc)
                    return
                for item in batch:
                    await self._store([item])
                return
            if self.down_since is not None:
                log.warning(
                    "records.database_back",
                    after_s=round(time.monotonic() - self.down_since, 1),
                    pending=self._queue.qsize() + len(batch),
                )
                self.down_since = None
            self.written += len(batch)
            self.batches += 1
            if self.on_applied is not None:
                self.on_applied([item.op for item in batch])
            return

    def _set_aside(self, item: _Item, exc: BaseException) -> None:
        reason = _first_line(getattr(exc, "orig", exc))
        self.rejected.append(item.op.what)
        log.error("records.write_rejected", what=item.op.what, error=reason)
        if self.spool is not None:
            self.spool.reject(item.line, reason)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted operation is stored; False if the timeout came first."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout: float | None = None) -> bool:
        drained = await self.drain(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not drained:
            # Nothing is lost: the spool keeps it for the next start.
            log.error(
                "records.unwritten_at_stop",
                pending=self._queue.qsize(),
                spooled=self.spool is not None,
            )
        if self.spool is not None:
            self.spool.sync()
        return drained


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
