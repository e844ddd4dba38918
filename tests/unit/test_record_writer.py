"""The record writer: in order, retried through outages, never blocked by a bad write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import IntegrityError, OperationalError

from db.writer import RecordWriter


async def test_writes_are_applied_in_order_and_outages_are_retried() -> None:
    writer = RecordWriter(max_backoff=0.05)
    writer.start()
    done: list[int] = []
    failures = {"left": 3}

    def make(n: int) -> Callable[[], Awaitable[None]]:
        async def write() -> None:
            if n == 2 and failures["left"] > 0:
                failures["left"] -= 1
                raise OperationalError("INSERT", {}, ConnectionRefusedError("db down"))
            done.append(n)

        return write

    for n in range(5):
        writer.submit(f"w{n}", make(n))
    assert await writer.stop(timeout=5)
    assert done == [0, 1, 2, 3, 4]
    assert writer.retries == 3


async def test_a_write_the_database_refuses_does_not_block_the_others() -> None:
    writer = RecordWriter(max_backoff=0.05)
    writer.start()
    done: list[str] = []

    async def bad() -> None:
        raise IntegrityError("INSERT", {}, ValueError("violates check constraint"))

    async def good() -> None:
        done.append("good")

    writer.submit("bad", bad)
    writer.submit("good", good)
    assert await asyncio.wait_for(writer.stop(timeout=5), 6)
    assert done == ["good"]
    assert writer.rejected == ["bad"]


async def test_drain_reports_a_timeout_while_the_database_is_away() -> None:
    writer = RecordWriter(max_backoff=0.05)
    writer.start()

    async def never() -> None:
        raise OperationalError("INSERT", {}, ConnectionRefusedError("db down"))

    writer.submit("never", never)
    assert not await writer.drain(timeout=0.3)
    assert writer.retries >= 2  # still trying, not dropped
    assert not await writer.stop(timeout=0.1)
