"""Inbound load: sipp callers through the IVR menu and the queue to sipp agents, at rising
call rates, through Switchboard and through the same flow in plain dialplan (app_queue), on
the same Asterisk in the same run.

Each caller is answered, hears the menu prompt, presses 1 (RFC 4733), is queued, an agent's
phone rings and answers, they talk, the caller hangs up. A step offers ``rate`` calls/s for
``--seconds`` seconds; it is sustained when at least 99.9% of its calls succeed in sipp AND
reach an agent (Switchboard: a complete record in PostgreSQL with the agent; app_queue: a
CONNECT line in its queue_log). Steps alternate between the two sides at each rate so both
meet the same machine state. Printed: the highest sustained rate of each and their ratio
(target >= 0.95), the app's CPU time per call, its memory per concurrent call, Asterisk's
CPU per call on each side, and for Switchboard the zero-loss check (every call sipp
completed has exactly one complete record).

    .venv/bin/python -m bench.inbound_load [--rates 5 10 15 20 25 30] [--seconds 20]
        [--agents 120] [--talk-ms 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.loadkit import (
    BENCH_CALLER_HOST,
    MENU_KEY,
    Rig,
    asterisk_pid,
    channel_count,
    complete_count,
    cpu_seconds,
    is_complete,
    queue_waits,
    rows_written,
    rss_bytes,
    wait_for_records,
)
from db import admin, migrate
from pbx import rootfs
from pbx.instance import AsteriskInstance
from pbx.ports import free_port
from testkit.runner import place_calls
from testkit.scenario import CallerScript
from tests.support import database_url_for

SUSTAINED = 0.999
PATIENCE_MS = 30_000  # how long a caller waits for the end of the call (agents hang up)


@dataclass
class Step:
    side: str  # "switchboard" or "app_queue"
    rate: float
    offered: int
    sipp_ok: int
    sipp_failed: int
    reached_agent: int
    app_cpu_s: float
    asterisk_cpu_s: float
    peak_channels: int
    peak_app_rss: int
    app_rss_before: int = 0
    wait_p50_s: float | None = None  # queue join to an agent's answer
    wait_p99_s: float | None = None
    duplicated: int = 0
    incomplete: int = 0
    # The app's counters over the step (Switchboard's side): REST requests sent, events
    # received, record operations and batches (transactions) stored, and the rows
    # PostgreSQL inserted or updated.
    ari_requests: int = 0
    ari_events: int = 0
    record_ops: int = 0
    record_batches: int = 0
    rows_written: int = 0

    @property
    def success(self) -> float:
        return min(self.sipp_ok, self.reached_agent) / self.offered if self.offered else 0.0

    @property
    def sustained(self) -> bool:
        return self.success >= SUSTAINED


class Sampler:
    """Peak channel count (ARI) and peak app RSS, sampled twice a second."""

    def __init__(self, rig: Rig, app_pid: int) -> None:
        self._asterisk = rig.asterisk
        self._pid = app_pid
        self.peak_channels = 0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(OSError):
                self.peak_channels = max(self.peak_channels, channel_count(self._asterisk))
            self.peak_rss = max(self.peak_rss, rss_bytes(self._pid))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def caller_prefix(side: str, index: int) -> str:
    return f"+1{5 if side == 'switchboard' else 6}77{index:03d}"


def run_step(
    rig: Rig,
    side: str,
    rate: float,
    seconds: float,
    talk_ms: int,
    index: int,
    agents_hang_up: bool = False,
) -> Step:
    """``rate`` calls/s for ``seconds``. ``agents_hang_up``: the agents' phones end each
    call after their talk and callers wait up to PATIENCE_MS for it (a queue delay is then
    a longer wait, not a failure); otherwise each caller hangs up ``talk_ms`` after the key
    (an agent must have answered by then)."""
    assert rig.app is not None and rig.app.process is not None
    offered = max(1, round(rate * seconds))
    prefix = caller_prefix(side, index)
    script = CallerScript(
        caller=prefix + "[call_number]",
        keys=((1500, MENU_KEY),),
        hang_up_after_ms=None if agents_hang_up else talk_ms,
        bye_timeout_ms=PATIENCE_MS,
    )
    app_pid = rig.app.process.pid
    ast_pid = asterisk_pid(rig.asterisk)
    connects_before = len(rig.app_queue_connects())
    app_cpu, ast_cpu = cpu_seconds(app_pid), cpu_seconds(ast_pid)
    rss_before = rss_bytes(app_pid)
    counters_before, rows_before = rig.counters(), rows_written(rig.database_url)
    with Sampler(rig, app_pid) as sampler:
        result = asyncio.run(
            place_calls(
                rig.asterisk.params.sip_port,
                rig.number if side == "switchboard" else "5000",
                script,
                calls=offered,
                rate=rate,
                concurrent=offered,
                timeout_s=seconds + 120,
                local_host=None if side == "switchboard" else BENCH_CALLER_HOST,
            )
        )
        time.sleep(3)  # the last records reach PostgreSQL, the last queue_log lines the disk
    counters = {k: v - counters_before.get(k, 0) for k, v in rig.counters().items()}
    step = Step(
        side,
        rate,
        offered,
        result.successful,
        result.failed,
        0,
        round(cpu_seconds(app_pid) - app_cpu, 3),
        round(cpu_seconds(ast_pid) - ast_cpu, 3),
        sampler.peak_channels,
        sampler.peak_rss,
        rss_before,
        ari_requests=int(counters.get("ari_requests", 0)),
        ari_events=int(counters.get("ari_events", 0)),
        record_ops=int(counters.get("record_ops", 0)),
        record_batches=int(counters.get("record_batches", 0)),
        rows_written=rows_written(rig.database_url) - rows_before,
    )
    if side == "switchboard":
        records = wait_for_records(
            rig.database_url,
            prefix,
            lambda found: complete_count(found) >= result.successful,
            timeout=30,
        )
        step.reached_agent = complete_count(records)
        step.duplicated = sum(1 for rows in records.values() if len(rows) > 1)
        step.incomplete = sum(1 for rows in records.values() if not is_complete(rows[0]))
        waits: list[float] = queue_waits(rig.database_url, prefix)
    else:
        holds = rig.app_queue_connects()[connects_before:]
        step.reached_agent = len(holds)
        waits = sorted(float(h) for h in holds)  # whole seconds: app_queue's resolution
    if waits:
        step.wait_p50_s = round(waits[len(waits) // 2], 2)
        step.wait_p99_s = round(waits[int(0.99 * (len(waits) - 1))], 2)
    return step


def highest_sustained(steps: list[Step], side: str) -> float:
    best = 0.0
    for step in sorted((s for s in steps if s.side == side), key=lambda s: s.rate):
        if not step.sustained:
            break
        best = step.rate
    return best


def summary(
    steps: list[Step], idle_rss: int, rates: list[float], idle_cpu_percent: float | None = None
) -> dict[str, Any]:
    ours = highest_sustained(steps, "switchboard")
    plain = highest_sustained(steps, "app_queue")
    top_rate = max(rates)
    sb_steps = [s for s in steps if s.side == "switchboard" and s.sustained]
    aq_steps = [s for s in steps if s.side == "app_queue" and s.sustained]
    calls = sum(s.offered for s in sb_steps)
    top = max(sb_steps, key=lambda s: s.rate) if sb_steps else None
    per_call_channels = 2  # the caller's and the agent's
    result: dict[str, Any] = {
        "switchboard_max_rate": ours,
        "app_queue_max_rate": plain,
        "ratio": round(ours / plain, 3) if plain else None,
        # Both sides carried the highest rate tried: the ratio says nothing of their limits.
        "limit_reached": not (ours == plain == top_rate),
        "app_cpu_ms_per_call": round(1000 * sum(s.app_cpu_s for s in sb_steps) / calls, 2)
        if calls
        else None,
        "asterisk_cpu_ms_per_call_switchboard": _per_call(sb_steps, "asterisk_cpu_s"),
        "asterisk_cpu_ms_per_call_app_queue": _per_call(aq_steps, "asterisk_cpu_s"),
        # The app's CPU against Asterisk's for the same calls (target <= 0.2).
        "app_to_asterisk_cpu": round(
            sum(s.app_cpu_s for s in sb_steps) / sum(s.asterisk_cpu_s for s in sb_steps), 3
        )
        if sb_steps and sum(s.asterisk_cpu_s for s in sb_steps)
        else None,
        "ari_requests_per_call": _per_call(sb_steps, "ari_requests", 1),
        "ari_events_per_call": _per_call(sb_steps, "ari_events", 1),
        "record_ops_per_call": _per_call(sb_steps, "record_ops", 1),
        "rows_written_per_call": _per_call(sb_steps, "rows_written", 1),
        "transactions_per_call": _per_call(sb_steps, "record_batches", 1),
        "app_idle_cpu_percent_of_a_core": idle_cpu_percent,
        # Queue to agent, p99 at each rate both sides sustained: Switchboard / app_queue
        # (app_queue's in whole seconds, its queue_log's resolution).
        "wait_p99_s_by_rate": {
            f"{s.rate:g}/s": (s.wait_p99_s, q.wait_p99_s)
            for s in sb_steps
            for q in aq_steps
            if q.rate == s.rate
        },
        "app_rss_idle_mb": round(idle_rss / 2**20, 1),
        # Calls sipp completed without one complete record, and doubled records.
        "lost_or_duplicated": sum(
            max(0, s.sipp_ok - s.reached_agent) + s.duplicated for s in sb_steps
        ),
    }
    if top is not None and top.peak_channels:
        concurrent = top.peak_channels / per_call_channels
        result["app_rss_peak_mb"] = round(top.peak_app_rss / 2**20, 1)
        result["peak_concurrent_calls"] = round(concurrent)
        # Bounds: the peak over the idle app (every step's heap growth charged to these
        # calls), and what the top step itself added (Python seldom gives memory back).
        result["app_kb_per_concurrent_call_at_most"] = round(
            max(0, top.peak_app_rss - idle_rss) / 1024 / concurrent, 1
        )
        result["app_kb_per_concurrent_call_top_step"] = round(
            max(0, top.peak_app_rss - top.app_rss_before) / 1024 / concurrent, 1
        )
    return result


def _per_call(steps: list[Step], attribute: str, scale: float = 1000) -> float | None:
    calls = sum(s.offered for s in steps)
    if not calls:
        return None
    total: float = sum(float(getattr(s, attribute)) for s in steps)
    return round(scale * total / calls, 2)


def run(
    rates: list[float],
    seconds: float,
    agents: int,
    talk_ms: int,
    workdir: Path,
    *,
    strict: bool = False,
    idle_seconds: float = 20,
) -> tuple[list[Step], dict[str, Any]]:
    """``strict``: callers hang up ``talk_ms`` after the key (an agent must answer well
    before), agents' phones wait for them; otherwise agents hang up after ``talk_ms`` of
    talk and callers wait for that."""
    root = rootfs.default_rootfs_dir()
    rootfs.build(root, log=root.parent / "mmdebstrap.log")
    database_url = database_url_for(f"sb_bench_{secrets.token_hex(4)}")
    admin.create_database_if_missing(database_url)
    migrate.upgrade(database_url)
    agi_port = free_port()
    instance = AsteriskInstance.throwaway(
        root, f"load-{secrets.token_hex(3)}", agi_port, rtp_ports=4000
    )
    instance.start()
    rig = Rig(instance, database_url, agi_port, workdir)
    steps: list[Step] = []
    try:
        rig.provision(agents)
        app = rig.start_app()
        rig.start_phones(hang_up_after_ms=None if strict else talk_ms)
        rig.log_in_all()
        rig.add_app_queue_flow()
        assert app.process is not None
        time.sleep(2)
        idle_rss = rss_bytes(app.process.pid)
        # Idle: every agent logged in and registered, no call.
        idle_cpu = cpu_seconds(app.process.pid)
        time.sleep(idle_seconds)
        idle_percent = round(100 * (cpu_seconds(app.process.pid) - idle_cpu) / idle_seconds, 2)
        print(f"  idle app CPU {idle_percent}% of a core over {idle_seconds:g} s", flush=True)
        failed: set[str] = set()
        for index, rate in enumerate(rates):
            for side in ("switchboard", "app_queue"):
                if side in failed:
                    continue
                step = run_step(rig, side, rate, seconds, talk_ms, index, agents_hang_up=not strict)
                steps.append(step)
                print(_line(step), flush=True)
                if not step.sustained:
                    failed.add(side)
                time.sleep(talk_ms / 1000 + 3)  # agents free, channels gone
            if failed >= {"switchboard", "app_queue"}:
                break
        return steps, summary(steps, idle_rss, rates, idle_percent)
    finally:
        rig.close()
        instance.destroy()
        admin.drop_database(database_url)


def _line(step: Step) -> str:
    return (
        f"  {step.side:<12} {step.rate:>5.1f}/s  {step.offered:>5} offered  "
        f"{step.sipp_ok:>5} sipp ok  {step.reached_agent:>5} reached an agent  "
        f"success {100 * step.success:6.2f}%  app CPU {step.app_cpu_s:6.2f} s  "
        f"Asterisk CPU {step.asterisk_cpu_s:6.2f} s  peak channels {step.peak_channels}  "
        f"wait p50/p99 {step.wait_p50_s}/{step.wait_p99_s} s"
        + (
            f"\n{'':17}per call: {step.ari_requests / step.offered:.1f} ARI requests, "
            f"{step.ari_events / step.offered:.1f} events, "
            f"{step.record_ops / step.offered:.1f} record ops, "
            f"{step.rows_written / step.offered:.1f} rows written, "
            f"{step.record_batches / step.offered:.2f} transactions, "
            f"app CPU {1000 * step.app_cpu_s / step.offered:.1f} ms, "
            f"Asterisk CPU {1000 * step.asterisk_cpu_s / step.offered:.1f} ms"
            if step.side == "switchboard"
            else ""
        )
        + (f"  DUPLICATED {step.duplicated}" if step.duplicated else "")
        + (f"  INCOMPLETE {step.incomplete}" if step.incomplete else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[5, 10, 15, 20, 25, 30])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--agents", type=int, default=120)
    parser.add_argument("--talk-ms", type=int, default=3000)
    parser.add_argument(
        "--strict", action="store_true", help="callers hang up --talk-ms after the key"
    )
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print("Inbound load: IVR menu -> queue -> agent, Switchboard vs app_queue, same Asterisk")
    print(f"  machine  {platform.machine()}, Python {platform.python_version()}")
    print(f"  {args.agents} agents, {args.seconds:.0f} s per step, talk {args.talk_ms} ms")
    if args.strict:
        print(f"  strict: callers hang up {args.talk_ms} ms after the key")
    with tempfile.TemporaryDirectory(prefix="sb-load-") as folder:
        steps, figures = run(
            args.rates,
            args.seconds,
            args.agents,
            args.talk_ms,
            Path(folder),
            strict=args.strict,
            idle_seconds=args.idle_seconds,
        )
    print("Summary")
    for key, value in figures.items():
        print(f"  {key:<40} {value}")
    ratio = figures["ratio"]
    if ratio is not None and not figures["limit_reached"]:
        print("  both sides carried the highest rate tried: offer higher --rates for a ratio")
    elif ratio is not None:
        verdict = "meets" if ratio >= 0.95 else "BELOW"
        print(f"  ratio Switchboard/app_queue {ratio} ({verdict} the 0.95 target)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"steps": [asdict(s) for s in steps], **figures}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
