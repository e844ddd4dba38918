"""One Asterisk 22 process running from the shared root with its own configuration.

Each instance has a folder ``/srv/switchboard/<name>`` inside the root holding its rendered
configuration, run, log, spool and database directories, so several instances (the
developer's, each test run's) share one root without sharing ports or state.
"""

from __future__ import annotations

import contextlib
import csv
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dialplan import AsteriskParams, copy_stock, render_all
from pbx import rootfs
from pbx.ports import free_port, free_tcp_udp_port, rtp_range
from pbx.tls import ensure_self_signed

INSTANCES_DIR = "/srv/switchboard"


class AsteriskError(RuntimeError):
    """Asterisk did not do what was asked of it."""


@dataclass
class CdrRow:
    """One line of Asterisk's own CDR (cdr_custom, ``Master.csv``)."""

    uniqueid: str
    linkedid: str
    src: str
    dst: str
    dcontext: str
    channel: str
    lastapp: str
    start: float | None
    answer: float | None
    end: float | None
    duration: int
    billsec: int
    disposition: str
    dstchannel: str = ""


def _epoch(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


class AsteriskInstance:
    """Render, start, drive and stop one Asterisk."""

    def __init__(self, root: Path, params: AsteriskParams) -> None:
        self.root = root
        self.params = params

    @classmethod
    def base_for(cls, name: str) -> str:
        return f"{INSTANCES_DIR}/{name}"

    @classmethod
    def throwaway(
        cls, root: Path, name: str, agi_port: int, rtp_ports: int = 200
    ) -> AsteriskInstance:
        """An instance on free ports with fresh credentials (tests and benchmarks);
        ``rtp_ports``: the size of its RTP port range (two ports per channel)."""
        start, end = rtp_range(rtp_ports)
        params = AsteriskParams(
            instance=name,
            base=cls.base_for(name),
            node_id=name,
            http_port=free_port(),
            ami_port=free_port(),
            sip_port=free_tcp_udp_port(),
            rtp_start=start,
            rtp_end=end,
            ari_user="sb-" + secrets.token_hex(3),
            ari_password=secrets.token_urlsafe(16),
            ari_app="switchboard",
            ami_user="sb-" + secrets.token_hex(3),
            ami_secret=secrets.token_urlsafe(16),
            agi_port=agi_port,
            https_port=free_port(),
            tls_cert=f"{cls.base_for(name)}/keys/tls.crt",
            tls_key=f"{cls.base_for(name)}/keys/tls.key",
        )
        return cls(root, params)

    def destroy(self) -> None:
        """Stop it and remove its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.host_dir, ignore_errors=True)

    @property
    def host_dir(self) -> Path:
        """The instance folder as seen from the host."""
        return self.root / self.params.base.lstrip("/")

    @property
    def conf_in_root(self) -> str:
        return f"{self.params.base}/etc/asterisk.conf"

    @property
    def log_dir(self) -> Path:
        return self.host_dir / "log"

    def write_config(self) -> None:
        etc = self.host_dir / "etc"
        if etc.exists():
            shutil.rmtree(etc)
        # spool/recording: where ARI recordings (calls recorded by queues) are stored.
        subs = ("etc", "run", "log", "log/cdr-custom", "spool", "spool/recording", "lib")
        for sub in (*subs, "cache", "keys"):
            (self.host_dir / sub).mkdir(parents=True, exist_ok=True)
        for name, text in render_all(self.params).items():
            path = etc / name
            path.write_text(text, encoding="utf-8")
            path.chmod(0o640)
        copy_stock(self.root / "etc" / "asterisk", etc)
        if self.params.https_port:  # browser phones: a certificate made once, kept after
            ensure_self_signed(
                self.root / self.params.tls_cert.lstrip("/"),
                self.root / self.params.tls_key.lstrip("/"),
                [self.params.bind_address, "localhost"],
            )
        subprocess.run(
            rootfs.in_root(self.root, "chown", "-R", "asterisk:asterisk", self.params.base),
            check=True,
        )

    def _asterisk(self, *args: str) -> list[str]:
        return rootfs.in_root(self.root, "/usr/sbin/asterisk", "-C", self.conf_in_root, *args)

    def cli(self, command: str, timeout: float = 15) -> str:
        """Run a CLI command through the remote console and return its output."""
        result = subprocess.run(
            self._asterisk("-rx", command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AsteriskError(
                f"asterisk -rx {command!r} failed: {(result.stderr or result.stdout).strip()}"
            )
        return result.stdout

    def is_running(self) -> bool:
        try:
            self.cli("core show uptime", timeout=5)
        except (AsteriskError, subprocess.TimeoutExpired):
            return False
        return True

    def start(self, timeout: float = 60) -> None:
        """Start Asterisk (as the ``asterisk`` user) and wait until it is fully booted."""
        rootfs.prepare(self.root)
        if self.is_running():
            raise AsteriskError(f"Asterisk instance {self.params.instance} is already running")
        self.write_config()
        subprocess.run(
            self._asterisk("-U", "asterisk", "-G", "asterisk"),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_booted(timeout)

    def wait_booted(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                self.cli("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
                return
            except (AsteriskError, subprocess.TimeoutExpired) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise AsteriskError(f"Asterisk did not finish booting in {timeout:.0f} s: {last}")

    def restart_now(self) -> None:
        """``core restart now``: every call is cut, the process restarts in place."""
        # The console connection drops while Asterisk restarts.
        with contextlib.suppress(AsteriskError):
            self.cli("core restart now", timeout=10)
        time.sleep(0.5)

    def stop(self, timeout: float = 20) -> None:
        if not self.is_running():
            rootfs.release(self.root)
            return
        with contextlib.suppress(AsteriskError, subprocess.TimeoutExpired):
            self.cli("core stop now", timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.is_running():
            time.sleep(0.2)
        if self.is_running():
            raise AsteriskError(f"Asterisk instance {self.params.instance} would not stop")
        self._wait_process_gone(deadline)
        rootfs.release(self.root)

    def _wait_process_gone(self, deadline: float) -> None:
        """The console stops answering a moment before the process has exited."""
        pid_file = self.host_dir / "run" / "asterisk.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)

    def cdr_rows(self) -> list[CdrRow]:
        """Asterisk's own CDR lines, as written by cdr_custom."""
        path = self.log_dir / "cdr-custom" / "Master.csv"
        if not path.exists():
            return []
        rows: list[CdrRow] = []
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for fields in csv.reader(handle):
                if len(fields) < 13:
                    continue
                rows.append(
                    CdrRow(
                        uniqueid=fields[0],
                        linkedid=fields[1],
                        src=fields[2],
                        dst=fields[3],
                        dcontext=fields[4],
                        channel=fields[5],
                        lastapp=fields[6],
                        start=_epoch(fields[7]),
                        answer=_epoch(fields[8]),
                        end=_epoch(fields[9]),
                        duration=int(fields[10] or 0),
                        billsec=int(fields[11] or 0),
                        disposition=fields[12],
                        dstchannel=fields[13] if len(fields) > 13 else "",
                    )
                )
        return rows
