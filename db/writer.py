"""The one ordered path by which call records reach PostgreSQL.

Call handlers hand over snapshots and events and go on with the call: a slow or absent
database never makes a caller wait. Writes are applied in order; a failed write is retried
with backoff until it succeeds (a write the database refuses for good, such as a broken
constraint, is logged and set aside so that it cannot block the records behind it), and
``drain()`` waits for everything handed over, which is how a clean shutdown loses no record.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError, SQLAlchemyError

log = structlog.get_logger(__name__)

Write = Callable[[], Awaitable[None]]


@dataclass
class _Item:
    what: str
    write: Write


class RecordWriter:
    def __init__(self, *, max_backoff: float = 5.0) -> None:
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._max_backoff = max_backoff
        self.written = 0
        self.retries = 0
        self.rejected: list[str] = []

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="record-writer")

    def submit(self, what: str, write: Write) -> None:
        self._queue.put_nowait(_Item(what, write))

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            delay = 0.1
            while True:
                try:
                    await item.write()
                    self.written += 1
                    break
                except (IntegrityError, DataError, ProgrammingError) as exc:
                    # The database refuses this write for good; retrying would block every
                    # record behind it. Keep it aside, loudly, and go on.
                    self.rejected.append(item.what)
                    log.error(
                        "records.write_rejected",
                        what=item.what,
                        error=_first_line(getattr(exc, "orig", exc)),
                    )
                    break
                except (SQLAlchemyError, OSError) as exc:
                    self.retries += 1
                    log.warning(
                        "records.write_failed",
                        what=item.what,
                        error=_first_line(exc),
                        retry_in_s=delay,
                        pending=self._queue.qsize() + 1,
                    )
                    await asyncio.sleep(delay)
                    delay = min(self._max_backoff, delay * 2)
                except Exception:  # a bug in the write itself: set aside, go on
                    self.rejected.append(item.what)
                    log.exception("records.write_bug", what=item.what)
                    break
            self._queue.task_done()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted write is stored; False if the timeout came first."""
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
            log.error("records.unwritten_at_stop", pending=self._queue.qsize())
        return drained


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
