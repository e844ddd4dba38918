"""The record writer and its spool: in order, batched, retried through outages, never blocked
by a bad write, and nothing lost when the process dies before the database has it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from db.record_ops import BadRecordOp, RecordOp, decode, encode
from db.spool import Spool, SpoolBusy
from db.writer import RecordWriter


def op(n: int) -> RecordOp:
    return RecordOp("event", {"uid": uuid.UUID(int=n), "type": f"E{n}", "data": {"n": n}})


class FakeDatabase:
    """Applies batches into a list; can be down, or refuse one operation for good."""

    def __init__(self) -> None:
        self.stored: list[int] = []
        self.batches: list[int] = []
        self.down_for = 0
        self.refuse: set[int] = set()

    async def apply(self, ops: list[RecordOp]) -> None:
        if self.down_for > 0:
            self.down_for -= 1
            raise OperationalError("INSERT", {}, ConnectionRefusedError("db down"))
        numbers = [o.row["data"]["n"] for o in ops]
        if self.refuse & set(numbers):
            raise IntegrityError("INSERT", {}, ValueError("violates check constraint"))
        self.batches.append(len(ops))
        # Idempotent, as the real operations are: a replay stores nothing twice.
        self.stored.extend(n for n in numbers if n not in self.stored)


async def test_operations_are_applied_in_order_and_outages_are_retried(tmp_path: Path) -> None:
    database = FakeDatabase()
    database.down_for = 3
    writer = RecordWriter(database.apply, Spool(tmp_path), max_backoff=0.05)
    writer.start()
    for n in range(5):
        writer.submit(op(n))
    assert await writer.stop(timeout=5)
    assert database.stored == [0, 1, 2, 3, 4]
    assert writer.retries == 3


async def test_what_piles_up_goes_in_batches(tmp_path: Path) -> None:
    database = FakeDatabase()
    writer = RecordWriter(database.apply, Spool(tmp_path), batch_max=100)
    for n in range(250):
        writer.submit(op(n))
    writer.start()
    assert await writer.stop(timeout=5)
    assert database.stored == list(range(250))
    assert database.batches == [100, 100, 50]


async def test_an_operation_the_database_refuses_does_not_block_the_others(
    tmp_path: Path,
) -> None:
    database = FakeDatabase()
    database.refuse = {2}
    spool = Spool(tmp_path)
    writer = RecordWriter(database.apply, spool, max_backoff=0.05)
    for n in range(5):
        writer.submit(op(n))
    writer.start()
    assert await asyncio.wait_for(writer.stop(timeout=5), 6)
    assert database.stored == [0, 1, 3, 4]
    assert writer.rejected == [f"event {uuid.UUID(int=2)}"]
    kept = spool.rejected_path.read_bytes()
    assert b"violates check constraint" in kept and b'"E2"' in kept


async def test_drain_reports_a_timeout_while_the_database_is_away(tmp_path: Path) -> None:
    database = FakeDatabase()
    database.down_for = 10**6
    writer = RecordWriter(database.apply, Spool(tmp_path), max_backoff=0.05)
    writer.start()
    writer.submit(op(1))
    assert not await writer.drain(timeout=0.3)
    assert writer.retries >= 2  # still trying, not dropped
    assert not await writer.stop(timeout=0.1)


async def test_a_process_that_dies_before_the_database_has_its_records_replays_them(
    tmp_path: Path,
) -> None:
    database = FakeDatabase()
    database.down_for = 10**6
    first = RecordWriter(database.apply, Spool(tmp_path), max_backoff=0.05)
    first.start()
    for n in range(10):
        first.submit(op(n))
    await asyncio.sleep(0.1)
    # The process dies: nothing is drained, the spool is simply left behind.
    assert first._task is not None
    first._task.cancel()
    assert first.spool is not None
    first.spool.close()

    database.down_for = 0
    second = RecordWriter(database.apply, Spool(tmp_path))
    second.start()
    second.submit(op(10))
    assert await second.stop(timeout=5)
    assert second.replayed == 10
    assert database.stored == list(range(11))
    assert second.spool is not None and second.spool.size == 0  # emptied once caught up


async def test_a_crash_after_the_database_had_a_batch_stores_it_once(tmp_path: Path) -> None:
    database = FakeDatabase()
    spool = Spool(tmp_path)
    writer = RecordWriter(database.apply, spool)
    for n in range(3):
        writer.submit(op(n))
    # Applied, but the process died before the spool's mark moved.
    await database.apply([decode(line) for _, line in spool.pending()])
    spool.close()
    again = RecordWriter(database.apply, Spool(tmp_path))
    again.start()
    assert await again.stop(timeout=5)
    assert again.replayed == 3
    assert database.stored == [0, 1, 2]


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(encode(op(1)))
    spool.close()
    with open(tmp_path / "records.log", "ab") as handle:
        handle.write(b'["event",{"uid"')  # the machine lost power mid-write
    reopened = Spool(tmp_path)
    assert [decode(line).row["data"]["n"] for _, line in reopened.pending()] == [1]
    reopened.append(encode(op(2)))
    assert [decode(line).row["data"]["n"] for _, line in reopened.pending()] == [1, 2]


def test_an_empty_mark_is_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Spool(tmp_path).close()  # creates the mark file, writes nothing
    Spool(tmp_path).close()
    assert "bad_mark" not in capsys.readouterr().out + capsys.readouterr().err


def test_the_applied_mark_is_read_back_after_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    offsets = [spool.append(encode(op(n))) for n in range(3)]
    spool.applied(offsets[0])
    spool.applied(offsets[1])
    spool.close()
    reopened = Spool(tmp_path)
    assert [decode(line).row["data"]["n"] for _, line in reopened.pending()] == [2]
    reopened.close()


@pytest.mark.parametrize(
    ("mark", "replayed"),
    [
        (b"%d", [1, 2]),  # the mark of an earlier version (the number alone)
        (b"%020d %020d\n", [1, 2]),
        (b"00000000000000000999 %020d\n", [0, 1, 2]),  # torn by a power cut: replay all
        (b"rubbish", [0, 1, 2]),
        (b"", [0, 1, 2]),  # made by a start that applied nothing
    ],
)
def test_a_torn_or_old_mark_never_skips_an_operation(
    tmp_path: Path, mark: bytes, replayed: list[int]
) -> None:
    spool = Spool(tmp_path)
    first = spool.append(encode(op(0)))
    for n in (1, 2):
        spool.append(encode(op(n)))
    spool.close()
    text = mark.replace(b"%020d", b"%020d" % first).replace(b"%d", b"%d" % first)
    (tmp_path / "applied").write_bytes(text)
    reopened = Spool(tmp_path)
    assert [decode(line).row["data"]["n"] for _, line in reopened.pending()] == replayed
    reopened.close()


async def test_a_burst_handed_over_within_the_linger_is_one_batch(tmp_path: Path) -> None:
    database = FakeDatabase()
    writer = RecordWriter(database.apply, Spool(tmp_path), linger=0.05)
    writer.start()
    writer.submit(op(0))
    await asyncio.sleep(0.01)  # the rest of the burst comes a little later
    for n in range(1, 5):
        writer.submit(op(n))
    assert await writer.stop(timeout=5)
    assert database.batches == [5]
    assert database.stored == [0, 1, 2, 3, 4]


def test_two_processes_cannot_share_a_spool(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    with pytest.raises(SpoolBusy, match="SWITCHBOARD_NODE_ID"):
        Spool(tmp_path)
    first.close()
    Spool(tmp_path).close()


def test_operations_survive_the_line_format_exactly() -> None:
    row = {
        "id": uuid.uuid4(),
        "caller_name": "O'Brien \"; DROP TABLE calls; -- \x00\x1b[31m 東京 🎧",
        "arrived_at": datetime(2026, 11, 22, 23, 0, 0, 123456, tzinfo=UTC),
        "ivr_path": ["main", "main.sales"],
        "hold_seconds": 1.5,
        "ended_at": None,
    }
    assert decode(encode(RecordOp("call", row))) == RecordOp("call", row)
    with pytest.raises(BadRecordOp):
        decode(b'["nonsense", {}]')
    with pytest.raises(BadRecordOp):
        decode(b"not json")
