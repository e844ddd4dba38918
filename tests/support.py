"""Helpers shared by the tests: a throw-away database, a real Asterisk, the app as a process."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from pbx import rootfs
from pbx.instance import AsteriskInstance
from pbx.ports import free_port

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
# The operator's HTTP API token every test app runs with (the API always needs one).
API_TOKEN = secrets.token_urlsafe(24)


def server_url() -> str:
    """The PostgreSQL server the tests may create databases on."""
    return os.environ.get(
        "SWITCHBOARD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )


def database_url_for(name: str) -> str:
    """The server URL with another database name (keeps ``?host=/socket`` and the like)."""
    url = make_url(server_url()).set(database=name)
    return url.render_as_string(hide_password=False)


def wait_until(
    check: Callable[[], T | None], timeout: float, interval: float = 0.1, what: str = ""
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        time.sleep(interval)


def query(url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, row_factory=dict_row) as connection:
        cursor = connection.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def call_of(database_url: str, caller: str, condition: str, timeout: float = 20) -> dict[str, Any]:
    """Wait for the call from ``caller`` whose row meets ``condition`` (SQL), and return it."""

    def find() -> dict[str, Any] | None:
        rows = query(
            database_url,
            f"SELECT * FROM calls WHERE caller_number = %s AND {condition}",
            caller,
        )
        return rows[0] if rows else None

    return wait_until(find, timeout, what=f"the call from {caller} with {condition}")


def ended_call(database_url: str, caller: str, timeout: float = 20) -> dict[str, Any]:
    return call_of(database_url, caller, "ended_at IS NOT NULL", timeout)


def answered_call(database_url: str, caller: str, timeout: float = 20) -> dict[str, Any]:
    return call_of(database_url, caller, "answered_at IS NOT NULL", timeout)


def rootfs_dir() -> Path:
    configured = os.environ.get("SWITCHBOARD_ROOTFS")
    return Path(configured) if configured else REPO / ".cache" / "asterisk-rootfs"


def new_asterisk(name: str, agi_port: int) -> AsteriskInstance:
    root = rootfs_dir()
    rootfs.build(root, log=root.parent / "mmdebstrap.log")
    return AsteriskInstance.throwaway(root, name, agi_port)


@dataclass
class AppProcess:
    """`switchboard run` as a real process, configured by environment only."""

    env: dict[str, str]
    workdir: Path
    name: str = "app"
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / f"{self.name}.log"

    def start(self) -> AppProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env.pop("DATABASE_URL", None)
        env.update(self.env)
        env.setdefault("SWITCHBOARD_LOG_FORMAT", "json")
        # Each app keeps its record spool across its own restarts, and only its own.
        env.setdefault("SWITCHBOARD_SPOOL_DIR", str(self.workdir / f"{self.name}.spool"))
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "switchboard", "run"],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def log_lines(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        lines = []
        with self.log_path.open(encoding="utf-8", errors="replace") as handle:
            handle.seek(self._offset)
            for line in handle:
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    lines.append({"event": "raw", "text": line.rstrip()})
        return lines

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def count(self, event: str) -> int:
        return sum(1 for line in self.log_lines() if line.get("event") == event)

    def wait_for(self, event: str, timeout: float = 20, at_least: int = 1) -> None:
        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"app exited early:\n{self.log_text()[-3000:]}")
            return self.count(event) >= at_least

        try:
            wait_until(seen, timeout, what=f"{event} x{at_least} in the app log")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- app log ---\n{self.log_text()[-3000:]}") from None

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


def app_env(
    instance: AsteriskInstance, database_url: str, agi_port: int, **extra: str
) -> dict[str, str]:
    p = instance.params
    env = {
        "DATABASE_URL": database_url,
        "SWITCHBOARD_NODE_ID": p.node_id,
        "SWITCHBOARD_ARI_URL": f"http://127.0.0.1:{p.http_port}",
        "SWITCHBOARD_ARI_USER": p.ari_user,
        "SWITCHBOARD_ARI_PASSWORD": p.ari_password,
        "SWITCHBOARD_ARI_APP": p.ari_app,
        "SWITCHBOARD_ARI_HEARTBEAT_SECONDS": "2",
        "SWITCHBOARD_AMI_PORT": str(p.ami_port),
        "SWITCHBOARD_AMI_USER": p.ami_user,
        "SWITCHBOARD_AMI_SECRET": p.ami_secret,
        "SWITCHBOARD_AGI_PORT": str(agi_port),
        "SWITCHBOARD_SIP_PORT": str(p.sip_port),
        "SWITCHBOARD_SHUTDOWN_GRACE_SECONDS": "0",
        "SWITCHBOARD_LOG_LEVEL": "debug",
        "SWITCHBOARD_API_PORT": str(free_port()),
        "SWITCHBOARD_API_TOKEN": API_TOKEN,
        "SWITCHBOARD_PHONE_WSS_PORT": str(p.https_port),
    }
    env.update(extra)
    return env
