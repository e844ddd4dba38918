"""A deep queue: 300 callers waiting at once with music on hold, in Switchboard's queue and
in app_queue, on the same Asterisk in the same run (no agent is free, so everyone waits).

Measured for each side once every caller waits: Asterisk's CPU over a window, minus its idle
CPU measured just before, per waiting caller; and whether the music keeps its timing (the
RTP packets Asterisk sends, seen on loopback with kernel timestamps: gaps between packets of
each stream, their 99th percentile deviation from 20 ms and the share of packets 20 ms or
more late). Target: Switchboard at half of app_queue's CPU per waiting caller or less.

    .venv/bin/python -m bench.deep_queue [--callers 300] [--window 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.loadkit import BENCH_CALLER_HOST, Rig, asterisk_pid, channel_count, cpu_seconds
from bench.rtp_timing import RtpSniffer, Timing
from db import admin, migrate
from pbx import rootfs
from pbx.instance import AsteriskInstance
from pbx.ports import free_port
from testkit.runner import SippResult, place_calls
from testkit.scenario import CallerScript
from tests.support import database_url_for

FILL_RATE = 50.0  # callers per second while the queue fills


@dataclass
class Side:
    side: str
    callers: int
    waiting: int
    idle_cpu_percent: float
    cpu_percent: float  # Asterisk's, of one core, while every caller waits
    app_cpu_percent: float  # Switchboard's own process (0 for app_queue: not involved)
    cpu_ms_per_caller_per_s: float  # Asterisk above idle, plus the app, per waiting caller
    timing: Timing
    sipp_ok: int = 0
    sipp_failed: int = 0


def cpu_percent(pid: int, seconds: float, *others: int) -> list[float]:
    """CPU of ``pid`` (and of ``others``) over ``seconds``, in % of one core."""
    pids = (pid, *others)
    before, began = [cpu_seconds(p) for p in pids], time.monotonic()
    time.sleep(seconds)
    spent = time.monotonic() - began
    return [100 * (cpu_seconds(p) - b) / spent for p, b in zip(pids, before, strict=True)]


def measure_side(rig: Rig, side: str, callers: int, window: float) -> Side:
    pid = asterisk_pid(rig.asterisk)
    assert rig.app is not None and rig.app.process is not None
    app_pid = rig.app.process.pid
    idle = cpu_percent(pid, 5)[0]
    fill = callers / FILL_RATE
    hold_ms = int(1000 * (fill + 10 + window + 10))
    prefix = f"+1{8 if side == 'switchboard' else 9}88"
    script = CallerScript(caller=prefix + "[call_number]", keys=(), hang_up_after_ms=hold_ms)
    result: list[SippResult] = []

    def call() -> None:
        result.append(
            asyncio.run(
                place_calls(
                    rig.asterisk.params.sip_port,
                    rig.deep_number if side == "switchboard" else "deep",
                    script,
                    calls=callers,
                    rate=FILL_RATE,
                    concurrent=callers,
                    timeout_s=hold_ms / 1000 + 60,
                    local_host=None if side == "switchboard" else BENCH_CALLER_HOST,
                )
            )
        )

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    deadline = time.monotonic() + fill + 30
    waiting = 0
    while time.monotonic() < deadline:
        waiting = channel_count(rig.asterisk)
        if waiting >= callers:
            break
        time.sleep(1)
    time.sleep(3)  # every caller settled in the queue with music
    p = rig.asterisk.params
    sniffer = RtpSniffer(range(p.rtp_start, p.rtp_end + 1), window).start()
    busy, app_busy = cpu_percent(pid, window, app_pid)
    if side != "switchboard":
        app_busy = 0.0  # our app takes no part in app_queue's calls
    timing = sniffer.join()
    thread.join(hold_ms / 1000 + 120)
    sipp = result[0] if result else None
    time.sleep(5)  # channels gone before the next side
    if waiting < callers:
        raise RuntimeError(f"{side}: only {waiting} of {callers} callers ever waited at once")
    return Side(
        side,
        callers,
        waiting,
        round(idle, 2),
        round(busy, 2),
        round(app_busy, 2),
        round(10 * (max(0.0, busy - idle) + app_busy) / waiting, 4),
        timing,
        sipp.successful if sipp else 0,
        sipp.failed if sipp else callers,
    )


def run(callers: int, window: float, workdir: Path) -> list[Side]:
    root = rootfs.default_rootfs_dir()
    rootfs.build(root, log=root.parent / "mmdebstrap.log")
    database_url = database_url_for(f"sb_bench_{secrets.token_hex(4)}")
    admin.create_database_if_missing(database_url)
    migrate.upgrade(database_url)
    agi_port = free_port()
    instance = AsteriskInstance.throwaway(
        root, f"deep-{secrets.token_hex(3)}", agi_port, rtp_ports=max(1000, 4 * callers + 200)
    )
    instance.start()
    rig = Rig(instance, database_url, agi_port, workdir)
    try:
        rig.provision(2)  # members who never log in: everyone waits
        rig.start_app()
        rig.add_app_queue_flow()
        return [
            measure_side(rig, "switchboard", callers, window),
            measure_side(rig, "app_queue", callers, window),
        ]
    finally:
        rig.close()
        instance.destroy()
        admin.drop_database(database_url)


def report(sides: list[Side]) -> dict[str, Any]:
    ours, plain = sides
    ratio = (
        round(ours.cpu_ms_per_caller_per_s / plain.cpu_ms_per_caller_per_s, 3)
        if plain.cpu_ms_per_caller_per_s
        else None
    )
    return {"sides": [asdict(s) for s in sides], "cpu_ratio_switchboard_to_app_queue": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=300)
    parser.add_argument("--window", type=float, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"Deep queue: {args.callers} callers waiting with music on hold, same Asterisk")
    print(f"  machine  {platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="sb-deep-") as folder:
        sides = run(args.callers, args.window, Path(folder))
    for s in sides:
        t = s.timing
        print(
            f"  {s.side:<12} waiting {s.waiting:>4}  Asterisk CPU {s.cpu_percent:6.1f}% "
            f"(idle {s.idle_cpu_percent:.1f}%), app {s.app_cpu_percent:.1f}%  "
            f"{s.cpu_ms_per_caller_per_s:.3f} ms CPU per "
            f"caller per s  | RTP streams {t.streams}, {t.packets_per_stream_per_s} pkt/s each, "
            f"gap median {t.gap_median_ms} ms, p99 {t.gap_p99_ms} ms, jitter p99 "
            f"{t.jitter_p99_ms} ms, late {100 * t.late_share:.2f}%, max gap {t.max_gap_ms} ms"
        )
    figures = report(sides)
    ratio = figures["cpu_ratio_switchboard_to_app_queue"]
    verdict = "meets" if ratio is not None and ratio <= 0.5 else "MISSES"
    print(f"  CPU per waiting caller, Switchboard/app_queue: {ratio} ({verdict} the 0.5 target)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
