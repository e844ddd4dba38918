"""Sustained call-record writes through the app's RecordWriter, against one transaction per row.

Simulates complete calls the way the app records them (CallRecord snapshots, events, legs,
the system disposition, built with db/call_store.py) and feeds them, interleaved as
concurrent calls interleave, to a real ``RecordWriter(CallStore.apply, Spool)`` on a
throw-away database migrated to head (dropped at the end). Measures, in one run:

1. throughput as fast as possible until ``writer.drain()``: with the write-ahead spool
   (fsync per batch, as the app runs) and without it (what the disk sync costs);
2. the naive baseline: the same operations, each in its own transaction, for fewer calls;
   the ratio batched/naive;
3. under a steady offered load (``--rate`` calls/s, asyncio pacing; by default a light
   load and the target load): the time from the ``submit`` of a call's final snapshot
   (ended_at set) to its commit (``on_applied``, called after the batch's transaction
   committed), and for a sample, to the moment another connection (in another process)
   reads the row with ended_at set. p50 and p99.

A "record" (the target: 10,000 records/s) is one row written: a call snapshot (an upsert
of the ``calls`` row), an event, a leg, a disposition; each is one operation handed to the
writer. Both operations/s and complete calls/s are printed.

No assertion on timing: figures and ratios measured in the same run are printed. The whole
run takes about 50 s with the defaults.

    .venv/bin/python -m bench.record_writes [--calls 8000] [--naive-calls 300] [--rate 100 667]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import platform
import queue
import secrets
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue as MpQueue
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.calls.record import CAUSE_NORMAL_CLEARING, CallRecord
from db import admin, migrate
from db.call_store import CallStore, call_op, event_op, leg_op, system_disposition_op
from db.engine import async_engine
from db.record_ops import RecordOp, apply_ops
from db.spool import Spool
from db.writer import LINGER_SECONDS, RecordWriter

TARGET_RECORDS_PER_S = 10_000
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# Phases of one call (the operations handed over at one moment); between two phases of one
# call, other calls hand over theirs (see ``interleave``).
Phase = list[RecordOp]
PHASES = 6  # of one call, in ``one_call``
Sample = tuple[uuid.UUID, float]  # a call's id, when its final snapshot was handed over
Seen = tuple[uuid.UUID, float, float]  # ... and when another connection read it as ended


# --- the calls ----------------------------------------------------------------------------


def one_call(node_id: str, run: str, n: int) -> list[Phase]:
    """One inbound call: IVR, queue, agent, caller hangs up; the app's operations for it."""
    at = T0 + timedelta(milliseconds=n)
    record = CallRecord(
        node_id=node_id,
        channel_id=f"{run}-{n}",
        direction="inbound",
        arrived_at=at,
        caller_number=f"+4420{7946_0000 + n % 10_000:08d}",
        caller_name="Bench Caller",
        dialed_number="+442079460999",
        linkedid=f"{run}-{n}",
    )
    channel = f"PJSIP/trunk-{n:08x}"

    def snapshot() -> Phase:  # WriterSink.save: the calls row, then the caller's leg
        return [call_op(record), leg_op(record, channel, "caller")]

    def event(op_at: datetime, kind: str, **data: Any) -> RecordOp:
        return event_op(node_id, record.event(op_at, kind, **data))

    phases: list[Phase] = [snapshot()]
    answered = record.answer(at + timedelta(milliseconds=200))
    assert answered is not None
    record.ivr_flow, record.ivr_version = "main", "7"
    record.ivr_started_at = at + timedelta(milliseconds=250)
    phases.append(
        [
            event_op(node_id, answered),
            event(record.ivr_started_at, "IVR_START", flow="main", version="7"),
        ]
    )
    phases.append([event(at + timedelta(seconds=4), "IVR_KEY", node="menu", key="1")])
    record.ivr_ended_at = record.queued_at = at + timedelta(seconds=5)
    record.ivr_exit, record.ivr_path, record.queue = "queue", ["menu", "to_sales"], "sales"
    record.queue_position = 1 + n % 7
    phases.append(
        [
            event(record.ivr_ended_at, "IVR_QUEUE", node="to_sales", queue="sales"),
            event(record.queued_at, "ENTERQUEUE", queue="sales", position=record.queue_position),
        ]
    )
    record.connected_at = record.queue_left_at = at + timedelta(seconds=35)
    record.agent, record.queue_exit, record.ring_seconds = f"agent{n % 500}", "connected", 4.5
    phases.append(
        [
            event(record.connected_at, "CONNECT", queue="sales", agent=record.agent, hold=30),
            *snapshot(),
        ]
    )
    ended = at + timedelta(seconds=215)
    record.talk_ended_at = ended
    record.hold_seconds, record.hold_count = 12.0, 1
    completed = event(ended, "COMPLETECALLER", queue="sales", agent=record.agent, talk=180)
    hangup = record.end(ended, cause=CAUSE_NORMAL_CLEARING, cause_text="Normal Clearing")
    assert hangup is not None
    phases.append(
        [
            completed,
            event_op(node_id, hangup),
            *snapshot(),  # the final snapshot: ended_at set
            system_disposition_op(record, "GB"),  # WriterSink.ended
        ]
    )
    return phases


def interleave(calls: list[list[Phase]], spacing: int) -> list[list[RecordOp]]:
    """Steps of a steady state: at step s call s arrives, call s-spacing reaches its second
    phase, and so on; one call ends per step. With ``spacing`` steps of ~15 operations between
    two phases of one call, its snapshots land in different batches (as they do in real
    life, where a call lasts minutes), so nothing is collapsed by ``_last_by``."""
    depth = max(len(c) for c in calls)
    steps: list[list[RecordOp]] = []
    for s in range(len(calls) + (depth - 1) * spacing):
        step: list[RecordOp] = []
        for k in range(depth):
            c = s - k * spacing
            if 0 <= c < len(calls) and k < len(calls[c]):
                step.extend(calls[c][k])
        steps.append(step)
    return steps


def workload(node_id: str, calls_n: int, spacing: int) -> list[list[RecordOp]]:
    """All the operations of a run, built beforehand (not timed). They are then moved out of
    the garbage collector's sight (``gc.freeze``): a heap of some 100,000 prepared rows is
    an artefact of the benchmark, and full collections over it paused the writer for up to
    ~160 ms. Call ``gc.unfreeze()`` at the end of the run."""
    run = secrets.token_hex(3)
    steps = interleave([one_call(node_id, run, n) for n in range(calls_n)], spacing)
    gc.collect()
    gc.freeze()
    return steps


def is_final(op: RecordOp) -> bool:
    return op.kind == "call" and op.row["ended_at"] is not None


# --- the runs -----------------------------------------------------------------------------


@dataclass
class Throughput:
    label: str
    calls: int
    ops: int
    seconds: float
    batches: int = 0
    submit_seconds: float = 0.0  # time spent in writer.submit (on the event loop)
    cpu_seconds: float = 0.0  # this process's CPU time (all threads) during the run
    sync_seconds: float = 0.0  # in the spool's fsync, awaited by the writer

    def add(self, other: Throughput) -> None:
        self.calls += other.calls
        self.ops += other.ops
        self.seconds += other.seconds
        self.batches += other.batches
        self.submit_seconds += other.submit_seconds
        self.cpu_seconds += other.cpu_seconds
        self.sync_seconds += other.sync_seconds

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds


@dataclass
class Latency:
    rate: float
    calls: int
    ops: int
    seconds: float
    offered_ops_per_s: float
    commit_ms: list[float] = field(default_factory=list)
    visible_ms: list[float] = field(default_factory=list)
    visible_minus_commit_ms: list[float] = field(default_factory=list)
    max_pending: int = 0
    batches: int = 0


class TimedSpool(Spool):
    """The app's spool, timing its fsync (what the write-ahead costs per batch)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.sync_seconds = 0.0
        self.syncs = 0

    def sync(self) -> None:
        began = time.perf_counter()
        super().sync()
        self.sync_seconds += time.perf_counter() - began
        self.syncs += 1


async def new_store(engine: AsyncEngine, label: str) -> CallStore:
    store = CallStore(engine, f"bench-{label}-{secrets.token_hex(3)}")
    await store.register_node("bench")
    return store


async def batched(
    engine: AsyncEngine, label: str, calls_n: int, spool_dir: Path | None, spacing: int
) -> Throughput:
    store = await new_store(engine, label)
    steps = workload(store.node_id, calls_n, spacing)
    spool = TimedSpool(spool_dir) if spool_dir is not None else None
    writer = RecordWriter(store.apply, spool, linger=LINGER_SECONDS)
    writer.start()
    ops = 0
    in_submit = 0.0
    cpu = time.process_time()
    began = time.perf_counter()
    for i, step in enumerate(steps):
        t = time.perf_counter()
        for op in step:
            writer.submit(op)
        in_submit += time.perf_counter() - t
        ops += len(step)
        if i % 64 == 63:
            await asyncio.sleep(0)  # let the writer take a batch, as the app's loop would
    await writer.drain()
    seconds = time.perf_counter() - began
    cpu = time.process_time() - cpu
    await writer.stop()
    await store.close()
    synced = 0.0
    if spool is not None:
        synced = spool.sync_seconds
        spool.close()
    gc.unfreeze()
    await verify(engine, store.node_id, calls_n)
    return Throughput(label, calls_n, ops, seconds, writer.batches, in_submit, cpu, synced)


async def naive(engine: AsyncEngine, calls_n: int, spacing: int) -> Throughput:
    store = await new_store(engine, "naive")
    steps = workload(store.node_id, calls_n, spacing)
    ops = 0
    cpu = time.process_time()
    began = time.perf_counter()
    for step in steps:
        for op in step:
            async with engine.begin() as connection:
                await apply_ops(connection, [op])
            ops += 1
    seconds = time.perf_counter() - began
    cpu = time.process_time() - cpu
    gc.unfreeze()
    await verify(engine, store.node_id, calls_n)
    return Throughput("naive: 1 transaction/op", calls_n, ops, seconds, ops, 0.0, cpu)


async def verify(engine: AsyncEngine, node_id: str, calls_n: int) -> None:
    """Everything handed over is stored: every call closed, every event and leg there."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE c.ended_at IS NOT NULL),"
                    " (SELECT count(*) FROM call_events e WHERE e.node_id = :node),"
                    " (SELECT count(*) FROM call_legs l JOIN calls c2 ON c2.id = l.call_id"
                    "   WHERE c2.node_id = :node AND l.ended_at IS NOT NULL),"
                    " (SELECT count(*) FROM call_dispositions d JOIN calls c3"
                    "   ON c3.id = d.call_id WHERE c3.node_id = :node)"
                    " FROM calls c WHERE c.node_id = :node"
                ),
                {"node": node_id},
            )
        ).one()
    expected = (calls_n, 8 * calls_n, calls_n, calls_n)
    if tuple(row) != expected:
        raise SystemExit(f"{node_id}: stored {tuple(row)}, expected {expected}")


def watch(dsn: str, inbox: MpQueue[Sample | None], outbox: MpQueue[list[Seen] | str]) -> None:
    """Another connection, in its own process (no share of the app's GIL), polling every
    ~1 ms until the sampled calls read as ended; hands back when each was first seen."""
    pending: dict[uuid.UUID, float] = {}
    seen: list[Seen] = []
    done = False
    with psycopg.connect(dsn, autocommit=True) as connection:
        outbox.put("ready")
        while not done or pending:
            while not done:
                try:
                    item = inbox.get_nowait() if pending else inbox.get()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                else:
                    pending[item[0]] = item[1]
            if not pending:
                continue
            rows = connection.execute(
                "SELECT id FROM calls WHERE id = ANY(%s) AND ended_at IS NOT NULL",
                (list(pending),),
            ).fetchall()
            now = time.perf_counter()  # CLOCK_MONOTONIC: one clock for both processes
            for (call_id,) in rows:
                seen.append((call_id, pending.pop(call_id), now))
            time.sleep(0.001)
    outbox.put(seen)


async def paced(
    engine: AsyncEngine,
    dsn: str,
    rate: float,
    seconds: float,
    spool_dir: Path,
    spacing: int,
    samples: int,
) -> Latency:
    store = await new_store(engine, "paced")
    # A short ramp (see ``interleave``): phases of one call ~1,000 operations apart at most.
    spacing = max(1, min(spacing, int(rate / 10)))
    calls_n = max(100, int(rate * seconds))
    steps = workload(store.node_id, calls_n, spacing)
    offered = rate * sum(map(len, steps)) / calls_n  # one call ends per step
    # Measured: the calls that end in the steady state (all phases offered at every step),
    # from step (PHASES - 1) * spacing, when the first call ends, to step calls_n, when
    # arrivals stop; a sample of them is also watched from another connection.
    sample_every = max(1, (calls_n - (PHASES - 1) * spacing) // samples)
    spool = Spool(spool_dir)
    writer = RecordWriter(store.apply, spool, linger=LINGER_SECONDS)
    submitted: dict[uuid.UUID, float] = {}
    committed: dict[uuid.UUID, float] = {}

    def on_applied(ops: list[RecordOp]) -> None:  # after the batch's transaction committed
        now = time.perf_counter()
        for op in ops:
            if is_final(op):
                committed.setdefault(op.row["id"], now)

    writer.on_applied = on_applied
    context = multiprocessing.get_context("spawn")
    inbox: MpQueue[Sample | None] = context.Queue()
    outbox: MpQueue[list[Seen] | str] = context.Queue()
    watcher = context.Process(target=watch, args=(dsn, inbox, outbox), name="bench-watcher")
    watcher.start()
    if await asyncio.to_thread(outbox.get) != "ready":
        raise SystemExit("the watcher did not start")
    writer.start()
    finals = 0
    ops = 0
    max_pending = 0
    began = time.perf_counter()
    done = 0
    while done < len(steps):
        due = min(len(steps), int((time.perf_counter() - began) * rate) + 1)
        for index in range(done, due):
            for op in steps[index]:
                writer.submit(op)
                if is_final(op) and index < calls_n:
                    at = time.perf_counter()
                    submitted[op.row["id"]] = at
                    finals += 1
                    if finals % sample_every == 0:
                        inbox.put((op.row["id"], at))
            ops += len(steps[index])
        done = due
        max_pending = max(max_pending, writer.pending)
        await asyncio.sleep(0.001)
    await writer.drain()
    elapsed = time.perf_counter() - began
    await writer.stop()
    await store.close()
    spool.close()
    inbox.put(None)
    seen = await asyncio.to_thread(outbox.get)
    await asyncio.to_thread(watcher.join)
    assert isinstance(seen, list)
    gc.unfreeze()
    await verify(engine, store.node_id, calls_n)
    result = Latency(
        rate, calls_n, ops, elapsed, offered, max_pending=max_pending, batches=writer.batches
    )
    result.commit_ms = [(committed[k] - t) * 1e3 for k, t in submitted.items()]
    for call_id, handed_over, read in seen:
        result.visible_ms.append((read - handed_over) * 1e3)
        result.visible_minus_commit_ms.append((read - committed[call_id]) * 1e3)
    return result


# --- the machine and the report ---------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def filesystem_of(path: Path) -> str:
    """The type of the file system holding ``path`` (a tmpfs would make fsync free)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount, fs = parts[1], parts[2]
            if str(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fs
    except (OSError, IndexError):
        pass
    return kind


async def server_facts(engine: AsyncEngine) -> dict[str, str]:
    facts = {}
    async with engine.connect() as connection:
        for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method"):
            facts[name] = str((await connection.execute(text(f"SHOW {name}"))).scalar())
    return facts


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bench_url() -> str:
    server = os.environ.get(
        "SWITCHBOARD_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = make_url(server).set(drivername="postgresql+psycopg")
    return url.set(database=f"sb_bench_{secrets.token_hex(4)}").render_as_string(
        hide_password=False
    )


async def run(args: argparse.Namespace, url: str, workdir: Path) -> None:
    console = Console(highlight=False, width=132)
    engine = async_engine(url)
    try:
        facts = await server_facts(engine)
        console.print(
            f"machine: {os.cpu_count()} CPUs ({cpu_model()}), {memory_gib():.0f} GiB, "
            f"Python {platform.python_version()}; PostgreSQL {facts['server_version']} on "
            f"the same machine (fsync={facts['fsync']}, "
            f"synchronous_commit={facts['synchronous_commit']}, {facts['wal_sync_method']}); "
            f"spool on {filesystem_of(workdir)} ({workdir})"
        )
        console.print(
            "a record = one row written (a call snapshot, an event, a leg, a disposition) = "
            "one operation handed to the writer; one call = 15 operations (3 snapshots, 3 "
            f"legs, 8 events, 1 disposition). Target: {TARGET_RECORDS_PER_S:,} records/s."
        )
        await batched(engine, "warm-up", min(1000, args.calls), workdir / "w", args.spacing)
        # Alternating rounds, so that a drift of the machine hits both alike.
        spooled = Throughput("batched, spool (app)", 0, 0, 0.0)
        unspooled = Throughput("batched, no spool", 0, 0, 0.0)
        per_round = max(1, args.calls // args.rounds)
        for i in range(args.rounds):
            spooled.add(await batched(engine, "spool", per_round, workdir / f"a{i}", args.spacing))
            unspooled.add(await batched(engine, "nospool", per_round, None, args.spacing))
        one_by_one = await naive(engine, args.naive_calls, args.spacing)
        latencies = [
            await paced(
                engine,
                url.replace("postgresql+psycopg://", "postgresql://", 1),
                rate,
                args.seconds,
                workdir / f"p{i}",
                args.spacing,
                args.samples,
            )
            for i, rate in enumerate(args.rate)
        ]
    finally:
        await engine.dispose()

    table = Table(
        title=f"throughput, as fast as possible until writer.drain() ({args.rounds} "
        "alternating rounds each for the batched runs)"
    )
    columns = ("run", "calls", "ops", "s", "ops/s", "calls/s", "batches", "CPU", "vs naive")
    for column in columns:
        table.add_column(column, justify="left" if column == "run" else "right")
    for result in (spooled, unspooled, one_by_one):
        table.add_row(
            result.label,
            f"{result.calls:,}",
            f"{result.ops:,}",
            f"{result.seconds:.2f}",
            f"{result.ops_per_s:,.0f}",
            f"{result.calls_per_s:,.0f}",
            f"{result.batches:,}",
            f"{result.cpu_seconds / result.seconds:.0%}",
            f"x{result.ops_per_s / one_by_one.ops_per_s:.1f}",
        )
    console.print(table)
    console.print(
        "CPU = this Python process's CPU time / wall time (100% = one core busy). "
        f"submit (encode + spool append, on the event loop): "
        f"{spooled.submit_seconds / spooled.ops * 1e6:.1f} us/op with the spool, "
        f"{unspooled.submit_seconds / unspooled.ops * 1e6:.1f} us/op without "
        f"({spooled.submit_seconds / spooled.seconds:.0%} of the spooled run's wall time)."
    )
    console.print(
        f"spooled/unspooled throughput = {spooled.ops_per_s / unspooled.ops_per_s:.2f}; the "
        f"writer waited {spooled.sync_seconds:.2f} s on the spool's fsync "
        f"({spooled.sync_seconds / max(1, spooled.batches) * 1e3:.1f} ms per batch, "
        f"{spooled.sync_seconds / spooled.seconds:.0%} of the run). Batched (spool) / naive "
        f"= x{spooled.ops_per_s / one_by_one.ops_per_s:.1f}."
    )
    verdict = "meets" if spooled.ops_per_s >= TARGET_RECORDS_PER_S else "MISSES"
    console.print(
        f"Target {TARGET_RECORDS_PER_S:,} records/s: the app's path (batched, spool) "
        f"{verdict} it: {spooled.ops_per_s:,.0f} records/s = {spooled.calls_per_s:,.0f} "
        "complete calls/s."
    )

    lat = Table(
        title="hangup to stored: submit of the final snapshot (ended_at set) -> committed "
        "(on_applied) / read by another connection (sample); spool on, as the app runs"
    )
    for column in (
        "offered calls/s",
        "= ops/s",
        "calls measured",
        "ops/batch",
        "max queued",
        "commit p50 ms",
        "p99",
        "max",
        "seen p50 ms",
        "p99",
        "sampled",
        "seen - applied",
    ):
        lat.add_column(column, justify="right")
    for paced_run in latencies:
        gap = paced_run.visible_minus_commit_ms
        lat.add_row(
            f"{paced_run.rate:,.0f}",
            f"{paced_run.offered_ops_per_s:,.0f}",
            f"{len(paced_run.commit_ms):,}",
            f"{paced_run.ops / max(1, paced_run.batches):,.0f}",
            f"{paced_run.max_pending:,}",
            f"{percentile(paced_run.commit_ms, 50):.1f}",
            f"{percentile(paced_run.commit_ms, 99):.1f}",
            f"{max(paced_run.commit_ms):.1f}",
            f"{percentile(paced_run.visible_ms, 50):.1f}",
            f"{percentile(paced_run.visible_ms, 99):.1f}",
            f"{len(paced_run.visible_ms):,}",
            f"{statistics.median(gap):+.1f} ms" if gap else "-",
        )
    console.print(lat)
    console.print(
        "calls measured: those ending in the steady state. seen: read with ended_at set by "
        "another connection polling every ~1 ms; seen - applied: median from the writer's "
        "on_applied callback to that read (negative: visible before the callback ran)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=8_000, help="calls per batched run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating batched rounds")
    parser.add_argument("--naive-calls", type=int, default=300, help="calls, naive run")
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        default=[100, round(TARGET_RECORDS_PER_S / 15)],
        help="offered calls/s for the latency runs (15 operations per call)",
    )
    parser.add_argument("--seconds", type=float, default=8, help="length of each paced run")
    parser.add_argument("--spacing", type=int, default=80, help="steps between phases")
    parser.add_argument("--samples", type=int, default=100, help="watched calls per rate")
    args = parser.parse_args()
    url = bench_url()
    admin.create_database_if_missing(url)
    workdir = Path(tempfile.mkdtemp(prefix="sb-bench-records-"))
    try:
        migrate.upgrade(url)
        asyncio.run(run(args, url, workdir))
    finally:
        admin.drop_database(url)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
