"""Faults under load: sipp callers flow steadily through the IVR menu and the queue to sipp
agents while one part fails: Asterisk restarts (``core restart now``), PostgreSQL restarts,
or the app is killed with ``kill -9`` and started again at once (as a service manager
would). For each fault, printed: how long until calls reached agents again (or, for
PostgreSQL, until the records written meanwhile were in the database), and the records
lost: calls sipp completed without exactly one complete record, records left open, and
duplicates. Target: none lost.

Calls that arrive while Asterisk or the app is down are refused by the PBX (no channel, or
no application to take it): they are counted, and have no record because no call existed
for Switchboard; every call that did reach the app is closed with a cause.

    .venv/bin/python -m bench.faults [--rate 8] [--seconds 60] [--at 20] [--agents 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import signal
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.loadkit import (
    MENU_KEY,
    Rig,
    complete_count,
    is_complete,
    is_reconciled,
    wait_for_records,
)
from db import admin, migrate
from pbx import rootfs
from pbx.instance import AsteriskInstance
from pbx.ports import free_port
from testkit.runner import SippResult, place_calls
from testkit.scenario import CallerScript
from tests.private_postgres import PrivatePostgres
from tests.support import query

FAULTS = ("asterisk_restart", "database_restart", "app_kill")


@dataclass
class FaultRun:
    fault: str
    offered: int
    sipp_ok: int
    sipp_failed: int
    records: int
    complete: int
    reconciled: int  # closed by reconciliation: their end happened while nobody watched
    closed_cut: int  # closed with a cause, cut by the fault before reaching an agent
    left_open: int
    duplicated: int
    refused: int  # offered calls that never became a call in the app
    recovery_s: float | None
    cut_sample: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Calls sipp completed without a record that covers them, records left open, and
        duplicates. Only a killed app has calls that ended while nobody watched: those are
        closed by reconciliation; otherwise every completed call was followed to its end."""
        covered = self.complete + (self.reconciled if self.fault == "app_kill" else 0)
        return max(0, self.sipp_ok - covered) + self.left_open + self.duplicated


class Load:
    """Steady sipp callers in a thread."""

    def __init__(self, rig: Rig, prefix: str, rate: float, seconds: float, talk_ms: int):
        self.offered = max(1, round(rate * seconds))
        self._rig, self._rate = rig, rate
        self._script = CallerScript(
            caller=prefix + "[call_number]", keys=((1500, MENU_KEY),), hang_up_after_ms=talk_ms
        )
        self.result: SippResult | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.result = asyncio.run(
            place_calls(
                self._rig.asterisk.params.sip_port,
                self._rig.number,
                self._script,
                calls=self.offered,
                rate=self._rate,
                concurrent=self.offered,
                timeout_s=self.offered / self._rate + 180,
            )
        )

    def start(self) -> Load:
        self._thread.start()
        return self

    def join(self) -> SippResult:
        self._thread.join()
        assert self.result is not None
        return self.result


def inject(rig: Rig, fault: str, database: PrivatePostgres | None, outage_s: float) -> float:
    """Break one part and bring it back; the monotonic time it was back."""
    if fault == "asterisk_restart":
        rig.asterisk.restart_now()
        rig.asterisk.wait_booted(60)
    elif fault == "database_restart":
        assert database is not None, "the database fault needs a private PostgreSQL"
        database.stop()
        time.sleep(outage_s)
        database.start()
    elif fault == "app_kill":
        assert rig.app is not None
        rig.app.signal(signal.SIGKILL)
        rig.app.wait_exit(10)
        rig.app.start()
    else:
        raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
    return time.monotonic()


def run_fault(
    rig: Rig,
    fault: str,
    *,
    rate: float,
    seconds: float,
    at: float,
    talk_ms: int = 3000,
    database: PrivatePostgres | None = None,
    outage_s: float = 10,
    tag: str = "",
) -> FaultRun:
    prefix = f"+17{FAULTS.index(fault)}{tag or secrets.randbelow(1000):0>3}"
    began = time.monotonic()
    load = Load(rig, prefix, rate, seconds, talk_ms).start()
    time.sleep(at)
    broken_at = datetime.now(UTC)
    inject(rig, fault, database, outage_s)
    back_at = datetime.now(UTC)
    if fault == "app_kill":
        assert rig.app is not None
        rig.app.wait_for("reconcile.done", timeout=60)
    result = load.join()
    sipp_done = time.monotonic()
    records = settle_records(rig.database_url, prefix, result.successful)
    print(
        f"fault {fault}: sipp took {sipp_done - began:.1f} s, records settled "
        f"{time.monotonic() - sipp_done:.1f} s later",
        flush=True,
    )
    rows = [r for found in records.values() for r in found]
    complete = complete_count(records)
    recovery: float | None
    if fault == "database_restart":
        recovery = database_catch_up(rig, back_at)
    else:
        recovery = first_agent_answer_after(rig.database_url, prefix, broken_at)
    return FaultRun(
        fault=fault,
        offered=load.offered,
        sipp_ok=result.successful,
        sipp_failed=result.failed,
        records=len(rows),
        complete=complete,
        reconciled=sum(1 for r in rows if is_reconciled(r)),
        closed_cut=sum(
            1 for r in rows if r["ended_at"] and not is_complete(r) and not is_reconciled(r)
        ),
        left_open=sum(1 for r in rows if r["ended_at"] is None),
        duplicated=sum(1 for found in records.values() if len(found) > 1),
        refused=load.offered - len(records),
        recovery_s=recovery,
        cut_sample=[
            f"{r['caller_number']} agent={r['agent']} answered={bool(r['answered_at'])} "
            f"cause={r['hangup_cause']} outcome={r['outcome']} hangups={r['hangups']} "
            f"reconciled={r['reconciled']}"
            for r in rows
            if r["ended_at"] and not is_complete(r) and not is_reconciled(r)
        ][:20],
    )


def settle_records(database_url: str, prefix: str, sipp_ok: int) -> dict[str, list[Any]]:
    """The run's records once none is open and the closed ones cover sipp's successes,
    or after 90 s (what is still wrong then is what the run reports)."""

    def settled(records: dict[str, list[Any]]) -> bool:
        rows = [r for found in records.values() for r in found]
        closed = sum(1 for r in rows if is_complete(r) or is_reconciled(r))
        return bool(rows) and all(r["ended_at"] for r in rows) and closed >= sipp_ok

    return wait_for_records(database_url, prefix, settled, timeout=90, interval=1)


def first_agent_answer_after(database_url: str, prefix: str, broken_at: datetime) -> float | None:
    """Seconds from the fault to the first call that arrived after it and reached an agent."""
    rows = query(
        database_url,
        "SELECT min(q.answered_at) AS first FROM calls c JOIN call_legs q ON q.call_id = c.id"
        " WHERE c.caller_number LIKE %s AND c.arrived_at > %s AND c.agent IS NOT NULL"
        " AND q.role = 'agent' AND q.answered_at > %s",
        prefix + "%",
        broken_at,
        broken_at,
    )
    first = rows[0]["first"] if rows else None
    return round((first - broken_at).total_seconds(), 2) if first else None


def database_catch_up(rig: Rig, back_at: datetime) -> float | None:
    """Seconds from PostgreSQL's return to the app's writer applying its backlog."""
    assert rig.app is not None
    for line in rig.app.log_lines():
        if line.get("event") == "records.database_back":
            stamp = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))
            if stamp >= back_at:
                return round((stamp - back_at).total_seconds(), 2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--at", type=float, default=20)
    parser.add_argument("--agents", type=int, default=60)
    parser.add_argument("--outage", type=float, default=15, help="PostgreSQL down, seconds")
    parser.add_argument("--faults", nargs="+", default=list(FAULTS), choices=FAULTS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"Faults under load: {args.rate}/s for {args.seconds:.0f} s, fault at {args.at:.0f} s")
    print(f"  machine  {platform.machine()}, Python {platform.python_version()}")
    runs: list[FaultRun] = []
    with tempfile.TemporaryDirectory(prefix="sb-faults-") as folder:
        work = Path(folder)
        database = PrivatePostgres(work / "pg")
        database.start()
        url = database.database_url("sb_faults")
        admin.create_database_if_missing(url)
        migrate.upgrade(url)
        root = rootfs.default_rootfs_dir()
        rootfs.build(root, log=root.parent / "mmdebstrap.log")
        agi_port = free_port()
        instance = AsteriskInstance.throwaway(
            root, f"faults-{secrets.token_hex(3)}", agi_port, rtp_ports=2000
        )
        instance.start()
        rig = Rig(instance, url, agi_port, work)
        try:
            rig.provision(args.agents)
            rig.start_app()
            rig.start_phones()
            rig.log_in_all()
            for fault in args.faults:
                run = run_fault(
                    rig,
                    fault,
                    rate=args.rate,
                    seconds=args.seconds,
                    at=args.at,
                    database=database,
                    outage_s=args.outage,
                )
                runs.append(run)
                print(_line(run), flush=True)
                time.sleep(5)
        finally:
            rig.close()
            instance.destroy()
            database.destroy()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2) + "\n")


def _line(run: FaultRun) -> str:
    what = "records caught up" if run.fault == "database_restart" else "calls reach agents"
    return (
        f"  {run.fault:<17} offered {run.offered}, sipp ok {run.sipp_ok}, "
        f"failed {run.sipp_failed}; records {run.records} (complete {run.complete}, "
        f"closed by reconciliation {run.reconciled}, cut and closed {run.closed_cut}, "
        f"open {run.left_open}, duplicated {run.duplicated}); "
        f"refused while down {run.refused}; {what} {run.recovery_s} s after; LOST {run.lost}"
    )


def figures(runs: list[FaultRun]) -> dict[str, Any]:
    return {r.fault: {**asdict(r), "lost": r.lost} for r in runs}


if __name__ == "__main__":
    main()
