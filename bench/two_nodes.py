"""Two nodes, one database: two Asterisks, each with its own Switchboard app, its own agents'
phones and its own inbound callers, and one outbound campaign that both dial together.

Checked: every inbound call sipp completed on either node has exactly one complete record
carrying its node; every lead of the campaign was dialed exactly once in all (the callees'
own sipp trace is the witness), both nodes dialed, and every answered lead reached an agent
of the node that dialed it.

With ``--predictive`` the campaign is dialed predictively on a budget both nodes share: it
starts with a past of ``--history-live`` live answers and ``--history-drops`` drops (an hour
before, from a third instance), and each node's pacer must see the same rolling 24 h
abandonment as the database holds for all instances together, the other node's calls
included; the combined rate must stay within the limit.

    .venv/bin/python -m bench.two_nodes [--calls 200] [--rate 5] [--leads 300]
        [--predictive --history-live 1000 --history-drops 28]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from bench.loadkit import MENU_KEY, Rig, complete_count, wait_for_records
from db import admin, migrate
from db.acd_store import add_agent, add_member, add_queue
from pbx import rootfs
from pbx.instance import AsteriskInstance
from pbx.ports import free_port
from switchboard.cli.main import app as cli_app
from testkit.agents import SippAgent
from testkit.callees import SippCallees
from testkit.runner import SippResult, place_calls
from testkit.scenario import CallerScript
from tests.support import database_url_for, query, wait_until

# Campaign rules see this moment (a Wednesday, 14:00 in New York) as "now" at start-up.
CLOCK = "2026-06-10T18:00:00+00:00"


@dataclass
class NodeResult:
    node: str
    offered: int
    sipp_ok: int
    complete: int
    duplicated: int
    dialed: int = 0
    connected: int = 0
    dropped: int = 0
    # the node's own pacer's rolling 24 h abandonment, read from its wallboard once every
    # attempt has ended (None: not read)
    abandonment_seen: float | None = None


@dataclass
class TwoNodeResult:
    nodes: list[NodeResult] = field(default_factory=list)
    leads: int = 0
    leads_dialed_once: int = 0
    leads_dialed_twice: int = 0
    leads_not_dialed: int = 0
    connected_to_own_node_agent: int = 0
    connected: int = 0
    # the campaign's rolling 24 h abandonment over every instance's attempts, history included
    abandonment_db: float | None = None


def cli(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(
        cli_app,
        list(args),
        env={"DATABASE_URL": database_url, "SWITCHBOARD_BUSINESS_CLOCK_START": CLOCK},
    )
    if result.exit_code != 0:
        raise RuntimeError(f"switchboard {' '.join(args)}: {result.output}")
    return result.output


class TwoNodes:
    def __init__(self, root: Path, database_url: str, workdir: Path, callees: SippCallees) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.callees = callees
        tag = secrets.token_hex(2)
        self.instances = [
            AsteriskInstance.throwaway(root, f"node{i}-{tag}", free_port(), rtp_ports=1000)
            for i in (1, 2)
        ]
        self.rigs: list[Rig] = []
        self.campaign = f"twin{tag}"
        self.campaign_queue = f"cq{tag}"
        self.dialers: dict[str, list[str]] = {}  # node -> campaign agents

    def start(self, inbound_agents: int, campaign_agents: int) -> None:
        first = None
        for index, instance in enumerate(self.instances):
            instance.start()
            work = self.workdir / f"node{index + 1}"
            work.mkdir(parents=True, exist_ok=True)
            rig = Rig(instance, self.database_url, instance.params.agi_port, work)
            if first is not None:  # both nodes answer the same number with the same queue
                rig.queue, rig.number, rig.token = first.queue, first.number, first.token
            self.rigs.append(rig)
            if first is None:
                first = rig
        assert first is not None
        first.provision(2 * inbound_agents)
        second = self.rigs[1]
        second.engine = first.engine
        (second.workdir / "flows").mkdir(exist_ok=True)
        for flow in (first.workdir / "flows").iterdir():
            (second.workdir / "flows" / flow.name).write_text(flow.read_text())
        second.agents = first.agents[inbound_agents:]
        first.agents = first.agents[:inbound_agents]
        second._secrets = first._secrets
        assert first.engine is not None
        add_queue(first.engine, self.campaign_queue, {"wrap_up_seconds": 0, "ring_timeout": 10})
        phone_secrets: dict[str, str] = {}
        for index, rig in enumerate(self.rigs):
            node = rig.asterisk.params.node_id
            names = [f"{self.campaign_queue}n{index}d{i}" for i in range(campaign_agents)]
            for name in names:
                phone_secrets[name] = add_agent(first.engine, name, None, {}).secret
                add_member(first.engine, self.campaign_queue, name, 0)
            self.dialers[node] = names
        for index, rig in enumerate(self.rigs):
            rig.start_app(
                f"app{index + 1}",
                SWITCHBOARD_OUTBOUND_URI=self.callees.uri,
                SWITCHBOARD_BUSINESS_CLOCK_START=CLOCK,
            )
            rig.start_phones()
            node = rig.asterisk.params.node_id
            for name in self.dialers[node]:
                phone = SippAgent(
                    name, phone_secrets[name], rig.asterisk.params.sip_port, 100,
                    hang_up_after_ms=1500,
                )  # fmt: skip
                phone.start()
                rig.phones.append(phone)
            rig.agents = [*rig.agents, *self.dialers[node]]
            rig.log_in_all()

    def inbound(self, calls: int, rate: float) -> list[tuple[str, SippResult]]:
        """The same number of callers to each node at once; (prefix, result) per node, in
        the order of ``self.rigs``."""
        results: dict[int, tuple[str, SippResult]] = {}

        def call(index: int, rig: Rig, prefix: str) -> None:
            script = CallerScript(
                caller=prefix + "[call_number]", keys=((1500, MENU_KEY),), hang_up_after_ms=2000
            )
            result = asyncio.run(
                place_calls(
                    rig.asterisk.params.sip_port, rig.number, script,
                    calls=calls, rate=rate, concurrent=calls, timeout_s=calls / rate + 120,
                )
            )  # fmt: skip
            results[index] = (prefix, result)

        threads = [
            threading.Thread(
                target=call, args=(i, rig, f"+1{4 + i}44{secrets.randbelow(1000):03d}")
            )
            for i, rig in enumerate(self.rigs)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [results[i] for i in range(len(self.rigs))]

    def run_campaign(
        self,
        leads: int,
        timeout: float,
        mode: str = "progressive",
        history: tuple[int, int] = (0, 0),
    ) -> list[str]:
        # New York numbers (the clock says 14:00 there) whose callee answers (last digit 1).
        numbers = [f"+1646556{n:03d}1" for n in range(min(leads, 1000))]
        csv = self.workdir / "leads.csv"
        csv.write_text("phone\n" + "\n".join(numbers) + "\n")
        cli(
            self.database_url,
            "campaign", "create", self.campaign, "--queue", self.campaign_queue,
            "--caller-id", "+12125550000", "--ring-seconds", "15", "--max-attempts", "1",
            "--max-calls-24h", "1", "--mode", mode, "--seller", "Acme Ltd",
            "--message", "sound:vm-goodbye",
        )  # fmt: skip
        self.add_history(*history)
        cli(self.database_url, "campaign", "import", self.campaign, str(csv))
        cli(self.database_url, "campaign", "start", self.campaign)
        sql = (
            "SELECT count(*) AS n FROM dial_attempts WHERE campaign = %s AND result <> 'dialing'"
            " AND node_id <> 'node-past'"
        )
        wait_until(
            lambda: query(self.database_url, sql, self.campaign)[0]["n"] >= len(numbers),
            timeout,
            interval=1,
            what=f"{len(numbers)} ended attempts",
        )
        return numbers

    def add_history(self, live: int, drops: int) -> None:
        """The campaign's past: ``live`` answered dials an hour before the run, the first
        ``drops`` of them dropped, placed by an instance that is no longer running."""
        start = datetime.fromisoformat(CLOCK) - timedelta(hours=1)
        rows = [
            (
                uuid.uuid4(), self.campaign, f"+1646557{n % 10_000:04d}", "node-past",
                f"past-{uuid.uuid4()}", start + timedelta(seconds=n),
                "dropped" if n < drops else "connected", True, n < drops,
            )
            for n in range(live)
        ]  # fmt: skip
        with psycopg.connect(self.database_url) as connection, connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO dial_attempts (id, campaign, number, node_id, channel_id,"
                " placed_at, result, live, dropped, mode) VALUES (%s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, 'predictive')",
                rows,
            )

    def abandonment_seen(self, rig: Rig) -> float | None:
        """The node's pacer's rolling 24 h abandonment for the campaign (its wallboard)."""
        for campaign in rig.api("GET", "/api/wallboard")["campaigns"]:
            if campaign["name"] == self.campaign:
                return float(campaign["abandonment_24h"])
        return None

    def close(self) -> None:
        for rig in self.rigs:
            rig.close()
        for instance in self.instances:
            instance.destroy()


def run(
    database_url: str,
    workdir: Path,
    *,
    inbound_agents: int,
    campaign_agents: int,
    calls: int,
    rate: float,
    leads: int,
    predictive: bool = False,
    history: tuple[int, int] = (0, 0),
) -> TwoNodeResult:
    root = rootfs.default_rootfs_dir()
    rootfs.build(root, log=root.parent / "mmdebstrap.log")
    callees = SippCallees(ring_ms=200).start()
    nodes = TwoNodes(root, database_url, workdir, callees)
    outcome = TwoNodeResult()
    try:
        nodes.start(inbound_agents, campaign_agents)
        # Inbound callers on both nodes while the campaign dials on both.
        dialing: list[str] = []
        campaign = threading.Thread(
            target=lambda: dialing.extend(
                nodes.run_campaign(
                    leads, 120 + leads, "predictive" if predictive else "progressive", history
                )
            ),
            daemon=True,
        )
        campaign.start()
        for rig, (prefix, result) in zip(nodes.rigs, nodes.inbound(calls, rate), strict=True):
            sipp_ok = result.successful
            records = wait_for_records(
                database_url,
                prefix,
                lambda found: complete_count(found) >= sipp_ok,  # noqa: B023 (used at once)
                timeout=30,
            )
            node = rig.asterisk.params.node_id
            on_node = query(
                database_url,
                "SELECT count(*) AS n FROM calls WHERE caller_number LIKE %s AND node_id = %s",
                prefix + "%",
                node,
            )[0]["n"]
            outcome.nodes.append(
                NodeResult(
                    node,
                    calls,
                    result.successful,
                    min(on_node, complete_count(records)),
                    sum(1 for r in records.values() if len(r) > 1),
                )
            )
        campaign.join(240 + leads)
        received = nodes.callees.calls_by_number()
        outcome.leads = len(dialing)
        outcome.leads_dialed_once = sum(1 for n in dialing if received.get(n) == 1)
        outcome.leads_dialed_twice = sum(1 for n in dialing if received.get(n, 0) > 1)
        outcome.leads_not_dialed = sum(1 for n in dialing if not received.get(n))
        attempts = query(
            database_url,
            "SELECT node_id, result, agent FROM dial_attempts WHERE campaign = %s"
            " AND node_id <> 'node-past'",
            nodes.campaign,
        )
        for result_row in outcome.nodes:
            mine = [a for a in attempts if a["node_id"] == result_row.node]
            result_row.dialed = len(mine)
            result_row.connected = sum(1 for a in mine if a["result"] == "connected")
            result_row.dropped = sum(1 for a in mine if a["result"] == "dropped")
        outcome.connected = sum(1 for a in attempts if a["result"] == "connected")
        if predictive:
            read_shared_budget(nodes, outcome)
        outcome.connected_to_own_node_agent = sum(
            1
            for a in attempts
            if a["result"] == "connected" and a["agent"] in nodes.dialers.get(a["node_id"], [])
        )
        return outcome
    finally:
        nodes.close()
        callees.stop()


def read_shared_budget(nodes: TwoNodes, outcome: TwoNodeResult) -> None:
    """The database's rolling 24 h figure for the campaign (all instances), and each node's
    pacer's, once it has caught up with the last attempts (it reads every second)."""
    (row,) = query(
        nodes.database_url,
        "SELECT count(*) FILTER (WHERE live) AS live, count(*) FILTER (WHERE dropped) AS drops"
        " FROM dial_attempts WHERE campaign = %s AND result <> 'dialing'",
        nodes.campaign,
    )
    outcome.abandonment_db = row["drops"] / row["live"] if row["live"] else 0.0
    deadline = time.monotonic() + 15
    for rig, result_row in zip(nodes.rigs, outcome.nodes, strict=True):
        while True:
            result_row.abandonment_seen = nodes.abandonment_seen(rig)
            if result_row.abandonment_seen is not None and (
                abs(result_row.abandonment_seen - outcome.abandonment_db) < 1e-9
                or time.monotonic() > deadline
            ):
                break
            time.sleep(0.5)


def report(outcome: TwoNodeResult) -> list[str]:
    lines = []
    for n in outcome.nodes:
        lines.append(
            f"  {n.node:<14} inbound {n.offered} offered, {n.sipp_ok} sipp ok, {n.complete} "
            f"complete records on this node, {n.duplicated} duplicated; campaign: dialed "
            f"{n.dialed}, connected {n.connected}, dropped {n.dropped}"
            + (
                f"; its pacer sees {n.abandonment_seen:.4%} abandonment (24 h)"
                if n.abandonment_seen is not None
                else ""
            )
        )
    lines.append(
        f"  campaign: {outcome.leads} leads, dialed once {outcome.leads_dialed_once}, twice or "
        f"more {outcome.leads_dialed_twice}, never {outcome.leads_not_dialed}; connected "
        f"{outcome.connected}, to an agent of the dialing node "
        f"{outcome.connected_to_own_node_agent}"
    )
    if outcome.abandonment_db is not None:
        lines.append(
            f"  shared budget: {outcome.abandonment_db:.4%} abandonment (24 h) over every "
            "instance's attempts in the database"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="inbound calls per node")
    parser.add_argument("--rate", type=float, default=5)
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--agents", type=int, default=30, help="inbound agents per node")
    parser.add_argument("--dialer-agents", type=int, default=10, help="per node")
    parser.add_argument("--predictive", action="store_true", help="dial predictively")
    parser.add_argument("--history-live", type=int, default=0, help="past live answers")
    parser.add_argument("--history-drops", type=int, default=0, help="past drops among them")
    args = parser.parse_args()
    print("Two nodes (two Asterisks, two apps) on one PostgreSQL database")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    print(f"  machine  {machine}, Python {platform.python_version()}")
    database_url = database_url_for(f"sb_bench_{secrets.token_hex(4)}")
    admin.create_database_if_missing(database_url)
    migrate.upgrade(database_url)
    try:
        with tempfile.TemporaryDirectory(prefix="sb-two-") as folder:
            outcome = run(
                database_url,
                Path(folder),
                inbound_agents=args.agents,
                campaign_agents=args.dialer_agents,
                calls=args.calls,
                rate=args.rate,
                leads=args.leads,
                predictive=args.predictive,
                history=(args.history_live, args.history_drops),
            )
    finally:
        admin.drop_database(database_url)
    for line in report(outcome):
        print(line)


def summary(outcome: TwoNodeResult) -> dict[str, Any]:
    return {
        "nodes": [vars(n) for n in outcome.nodes],
        **{k: v for k, v in vars(outcome).items() if k != "nodes"},
    }


if __name__ == "__main__":
    main()
