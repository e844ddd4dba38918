"""What the load benchmarks and their shortened CI tests share: a rig of one real Asterisk,
one Switchboard app process and sipp softphones on one throw-away database, the same call
flow written for app_queue in plain dialplan, and the meters (CPU, memory, records).

The app_queue flow is added to a running instance's configuration at run time (it is not
part of the rendered product configuration): an endpoint identified by the caller's source
address ``BENCH_CALLER_HOST`` whose context plays the same prompt, takes the same key and
queues the caller with ``Queue()`` on the same agents' phones.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from db.acd_store import add_agent, add_member, add_queue
from db.engine import sync_engine
from pbx.instance import AsteriskInstance
from testkit.agents import SippAgent
from tests.support import AppProcess, app_env, query, wait_until

# sipp callers that stand for the plain-dialplan side come from this loopback address.
BENCH_CALLER_HOST = "127.0.0.2"
PROMPT = "hello"  # the IVR's menu prompt, the same file on both sides
MENU_KEY = "1"

FLOW = """\
flow: bench
dids: ["{number}"]
start: menu
nodes:
  menu:
    type: menu
    prompts: [sound:{prompt}]
    options: {{"{key}": to_queue}}
    timeout: 5
    on_exhausted: bye
  to_queue: {{type: queue, queue: {queue}, on_unavailable: bye}}
  bye: {{type: hangup}}
"""

DEEP_FLOW = """\
flow: bench_deep
dids: ["{number}"]
start: to_queue
nodes:
  to_queue: {{type: queue, queue: {queue}, on_unavailable: bye}}
  bye: {{type: hangup}}
"""

APP_QUEUE_DIALPLAN = """
; --- added by bench/loadkit.py: the same call flow in plain dialplan (app_queue) ---
[switchboard-bench]
exten => 5000,1,Answer()
 same => n,Background({prompt})
 same => n,WaitExten(5)
 same => n,Hangup()
exten => {key},1,Queue({queue},,,,)
 same => n,Hangup()
exten => deep,1,Answer()
 same => n,Queue({deep_queue},,,,)
 same => n,Hangup()
"""

APP_QUEUE_ENDPOINT = """
; --- added by bench/loadkit.py ---
[bench-appqueue]
type = endpoint
context = switchboard-bench
identify_by = ip
transport = transport-udp
disallow = all
allow = alaw,ulaw
dtmf_mode = rfc4733
direct_media = no
rtp_symmetric = yes

[bench-appqueue]
type = identify
endpoint = bench-appqueue
match = {host}
"""

APP_QUEUE_QUEUE = """
[{name}]
strategy = leastrecent
musicclass = {moh}
timeout = 15
retry = 1
wrapuptime = 0
autofill = yes
ringinuse = no
joinempty = yes
leavewhenempty = no
announce-frequency = 0
periodic-announce-frequency = 0
announce-position = no
announce-holdtime = no
{members}
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def channel_count(instance: AsteriskInstance) -> int:
    """How many channels Asterisk has now (ARI)."""
    p = instance.params
    auth = base64.b64encode(f"{p.ari_user}:{p.ari_password}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{p.http_port}/ari/channels", headers={"Authorization": f"Basic {auth}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return len(json.loads(response.read()))


def asterisk_pid(instance: AsteriskInstance) -> int:
    return int((instance.host_dir / "run" / "asterisk.pid").read_text().strip())


@dataclass
class Rig:
    """Asterisk + app + agents' phones on one database, for one benchmark or test."""

    asterisk: AsteriskInstance
    database_url: str
    agi_port: int
    workdir: Path
    queue: str = field(default_factory=lambda: f"bq{secrets.token_hex(3)}")
    number: str = field(default_factory=lambda: f"8{secrets.randbelow(10**6):06d}")
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    agents: list[str] = field(default_factory=list)
    phones: list[SippAgent] = field(default_factory=list)
    app: AppProcess | None = None
    engine: Engine | None = None
    _originals: dict[Path, str] = field(default_factory=dict)

    @property
    def deep_queue(self) -> str:
        return f"{self.queue}d"

    @property
    def deep_number(self) -> str:
        return f"{self.number}9"

    def provision(self, agents: int, *, moh_class: str = "default") -> None:
        """Agents, members of the IVR queue and of the deep queue, in the database."""
        self.engine = sync_engine(
            self.database_url.replace("postgresql://", "postgresql+psycopg://")
        )
        settings = {
            "strategy": "leastrecent",
            "wrap_up_seconds": 0,
            "ring_timeout": 15,
            "join_empty": True,
            "leave_empty": False,
            "announce_seconds": 0,
            "moh_class": moh_class,
        }
        add_queue(self.engine, self.queue, dict(settings))
        add_queue(self.engine, self.deep_queue, dict(settings))
        secrets_by_agent: dict[str, str] = {}
        for index in range(agents):
            name = f"{self.queue}a{index:03d}"
            secrets_by_agent[name] = add_agent(self.engine, name, None, {}).secret
            add_member(self.engine, self.queue, name, 0)
            add_member(self.engine, self.deep_queue, name, 0)
            self.agents.append(name)
        self._secrets = secrets_by_agent
        flows = self.workdir / "flows"
        flows.mkdir(parents=True, exist_ok=True)
        (flows / "bench.yaml").write_text(
            FLOW.format(number=self.number, prompt=PROMPT, key=MENU_KEY, queue=self.queue)
        )
        (flows / "bench_deep.yaml").write_text(
            DEEP_FLOW.format(number=self.deep_number, queue=self.deep_queue)
        )

    def start_app(self, name: str = "app", **extra: str) -> AppProcess:
        env = app_env(
            self.asterisk,
            self.database_url,
            self.agi_port,
            SWITCHBOARD_FLOWS_DIR=str(self.workdir / "flows"),
            SWITCHBOARD_API_TOKEN=self.token,
            SWITCHBOARD_LOG_LEVEL="info",
            **extra,
        )
        self.app = AppProcess(env, self.workdir, name).start()
        self.app.wait_for("reconcile.done", timeout=60)
        # Phones can register only once the app has given Asterisk their accounts.
        self.app.wait_for("acd.endpoints_pushed", timeout=60)
        return self.app

    def start_phones(self, ring_ms: int = 100, hang_up_after_ms: int | None = None) -> None:
        """Every agent's phone: answers after ``ring_ms``; then waits for the caller to hang
        up, or hangs up itself after ``hang_up_after_ms`` of talk."""
        port = self.asterisk.params.sip_port
        for name in self.agents:
            phone = SippAgent(
                name, self._secrets[name], port, ring_ms, talk_timeout_ms=600_000,
                hang_up_after_ms=hang_up_after_ms,
            )  # fmt: skip
            phone.start()
            self.phones.append(phone)
        time.sleep(1)
        dead = [p.name for p in self.phones if p.process is None or p.process.poll() is not None]
        if dead:
            raise RuntimeError(f"agents' sipp phones exited at start: {', '.join(dead)}")

    def api(self, method: str, path: str) -> Any:
        assert self.app is not None
        port = self.app.env["SWITCHBOARD_API_PORT"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=b"{}" if method == "POST" else None,
            method=method,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())

    def counters(self) -> dict[str, float]:
        """The app's own counters from /metrics (``switchboard_<name>_total``)."""
        assert self.app is not None
        port = self.app.env["SWITCHBOARD_API_PORT"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            text = response.read().decode()
        found = re.findall(r"^switchboard_(\w+)_total (\S+)$", text, re.MULTILINE)
        return {name: float(value) for name, value in found}

    def log_in_all(self) -> None:
        wait_until(
            lambda: all(self.api("GET", f"/api/agents/{a}")["registered"] for a in self.agents),
            60,
            what="every agent's phone registered",
        )
        for name in self.agents:
            self.api("POST", f"/api/agents/{name}/login")

    def add_app_queue_flow(self, moh_class: str = "default") -> None:
        """The same flow in plain dialplan on the same Asterisk, for callers from
        ``BENCH_CALLER_HOST``; the agents' phones are the queue's static members."""
        etc = self.asterisk.host_dir / "etc"
        for name in ("extensions.conf", "pjsip.conf", "queues.conf"):
            self._originals.setdefault(etc / name, (etc / name).read_text())
        members = "\n".join(f"member => PJSIP/{name}" for name in self.agents)
        with (etc / "extensions.conf").open("a") as out:
            out.write(
                APP_QUEUE_DIALPLAN.format(
                    prompt=PROMPT, key=MENU_KEY, queue=self.queue, deep_queue=self.deep_queue
                )
            )
        with (etc / "pjsip.conf").open("a") as out:
            out.write(APP_QUEUE_ENDPOINT.format(host=BENCH_CALLER_HOST))
        with (etc / "queues.conf").open("a") as out:
            out.write(APP_QUEUE_QUEUE.format(name=self.queue, moh=moh_class, members=members))
            out.write(APP_QUEUE_QUEUE.format(name=self.deep_queue, moh=moh_class, members=members))
        self.asterisk.cli("dialplan reload")
        self.asterisk.cli("module reload res_pjsip.so")
        self.asterisk.cli("module reload app_queue.so")
        shown = self.asterisk.cli(f"queue show {self.queue}")
        if f"{self.queue} has" not in shown:
            raise RuntimeError(f"app_queue did not load the bench queue: {shown}")

    def app_queue_connects(self) -> list[int]:
        """The hold time (whole seconds) of every CONNECT app_queue has written so far for
        the IVR queue."""
        path = self.asterisk.log_dir / "queue_log"
        if not path.exists():
            return []
        pattern = re.compile(rf"\|{re.escape(self.queue)}\|[^|]*\|CONNECT\|(\d+)\|")
        found = (pattern.search(line) for line in path.read_text(errors="replace").splitlines())
        return [int(m.group(1)) for m in found if m]

    def remove_app_queue_flow(self) -> None:
        """Back to the product's configuration: the bench endpoint must not outlive the
        bench (on a shared Asterisk, 127.0.0.2 would otherwise reach it unchallenged)."""
        if not self._originals:
            return
        for path, text in self._originals.items():
            path.write_text(text)
        self._originals.clear()
        if self.asterisk.is_running():
            self.asterisk.cli("dialplan reload")
            self.asterisk.cli("module reload res_pjsip.so")
            self.asterisk.cli("module reload app_queue.so")

    def close(self) -> None:
        self.remove_app_queue_flow()
        for phone in self.phones:
            phone.stop()
        if self.app is not None:
            self.app.stop()
        if self.engine is not None:
            self.engine.dispose()


def rows_written(database_url: str) -> int:
    """Rows inserted and updated in the database's tables so far (PostgreSQL's statistics,
    flushed about every second)."""
    rows = query(
        database_url,
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) AS n FROM pg_stat_user_tables",
    )
    return int(rows[0]["n"])


def queue_waits(database_url: str, prefix: str) -> list[float]:
    """Seconds from joining the queue to an agent's answer, for Switchboard's calls."""
    rows = query(
        database_url,
        "SELECT extract(epoch FROM l.answered_at - c.queued_at) AS wait FROM calls c"
        " JOIN call_legs l ON l.call_id = c.id AND l.role = 'agent'"
        " WHERE c.caller_number LIKE %s AND l.answered_at IS NOT NULL",
        prefix + "%",
    )
    return sorted(float(r["wait"]) for r in rows)


def complete_records(database_url: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Call rows whose caller number starts with ``prefix``, by caller number, with what
    makes each complete: ended, answered by an agent, a hang-up cause, one HANGUP event."""
    rows = query(
        database_url,
        "SELECT c.id, c.caller_number, c.agent, c.answered_at, c.ended_at, c.hangup_cause,"
        " c.outcome,"
        " (SELECT count(*) FROM call_events e WHERE e.call_id = c.id AND e.type = 'HANGUP')"
        " AS hangups,"
        " (SELECT count(*) FROM call_events e WHERE e.call_id = c.id AND e.type = 'RECONCILED')"
        " AS reconciled FROM calls c WHERE c.caller_number LIKE %s",
        prefix + "%",
    )
    by_number: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_number.setdefault(row["caller_number"], []).append(row)
    return by_number


def is_complete(row: dict[str, Any]) -> bool:
    """Followed to its end: answered by an agent, ended with a cause, one HANGUP event."""
    return bool(
        row["ended_at"]
        and row["answered_at"]
        and row["agent"]
        and row["hangup_cause"] is not None
        and row["hangups"] == 1
        and row["reconciled"] == 0
    )


def complete_count(records: dict[str, list[dict[str, Any]]]) -> int:
    """How many caller numbers have a complete first record."""
    return sum(1 for rows in records.values() if is_complete(rows[0]))


def wait_for_records(
    database_url: str,
    prefix: str,
    done: Callable[[dict[str, list[dict[str, Any]]]], bool],
    timeout: float,
    interval: float = 0.5,
) -> dict[str, list[dict[str, Any]]]:
    """The records of ``prefix`` once ``done`` holds for them, or after ``timeout`` (what is
    still wrong then is what the caller reports). A database still coming back after a
    fault reads as no records yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            records = complete_records(database_url, prefix)
        except Exception:  # the database may still be coming back
            records = {}
        if done(records) or time.monotonic() > deadline:
            return records
        time.sleep(interval)


def is_reconciled(row: dict[str, Any]) -> bool:
    """Closed by reconciliation after a fault (its end not seen live): ended, one
    RECONCILED event saying why, no HANGUP event."""
    return bool(row["ended_at"] and row["reconciled"] == 1 and row["hangups"] == 0)
