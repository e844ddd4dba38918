"""sipp as agents' softphones: register with a generated secret, then ring and answer (or
ring and never answer) every call Asterisk offers, until stopped."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from switchboard.pbx.ports import free_port, free_tcp_udp_port


def _template(name: str) -> str:
    return (resources.files("switchboard.sipp") / name).read_text("utf-8")


@dataclass
class SippAgent:
    """One softphone. ``ring_ms`` None: it rings and is never answered."""

    name: str
    secret: str
    sip_port: int  # Asterisk's
    ring_ms: int | None = 300
    talk_timeout_ms: int = 120_000
    host: str = "127.0.0.1"
    port: int = field(default=0)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sb-agent-")))
    process: subprocess.Popen[bytes] | None = None

    def _sipp(self) -> str:
        sipp = shutil.which("sipp")
        if sipp is None:
            raise RuntimeError("sipp is not installed: apt-get install -y sip-tester")
        return sipp

    def start(self) -> None:
        """Listen for offers, then register the contact (raises if Asterisk refuses)."""
        self.port = self.port or free_tcp_udp_port(self.host)
        if self.ring_ms is None:
            text = _template("agent_ignore.xml")
        else:
            text = (
                _template("agent_answer.xml")
                .replace("@@RING_MS@@", str(self.ring_ms))
                .replace("@@TALK_TIMEOUT_MS@@", str(self.talk_timeout_ms))
            )
        scenario = self.folder / f"{self.name}-uas.xml"
        scenario.write_text(text, encoding="iso-8859-1")
        log = (self.folder / f"{self.name}-uas.log").open("wb")
        self.process = subprocess.Popen(
            [
                self._sipp(),
                "-sf",
                str(scenario),
                "-i",
                self.host,
                "-p",
                str(self.port),
                "-mi",
                self.host,
                "-mp",
                str(free_port()),
                "-nostdin",
                "-trace_err",
                "-error_file",
                str(self.folder / f"{self.name}-uas.err"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )
        self.register()

    def register(self, expires: int = 3600) -> None:
        text = (
            _template("agent_register.xml")
            .replace("@@USER@@", escape(self.name))
            .replace("@@PASSWORD@@", escape(self.secret))
            .replace("@@CONTACT_PORT@@", str(self.port))
            .replace("@@EXPIRES@@", str(expires))
        )
        scenario = self.folder / f"{self.name}-register.xml"
        scenario.write_text(text, encoding="iso-8859-1")
        done = subprocess.run(
            [
                self._sipp(),
                f"{self.host}:{self.sip_port}",
                "-sf",
                str(scenario),
                "-m",
                "1",
                "-i",
                self.host,
                "-p",
                str(free_tcp_udp_port(self.host)),
                "-nostdin",
                "-timeout",
                "10s",
                "-timeout_error",
                "-trace_err",
                "-error_file",
                str(self.folder / f"{self.name}-register.err"),
            ],
            capture_output=True,
            cwd=self.folder,
            timeout=30,
        )
        if done.returncode != 0:
            errors = self.folder / f"{self.name}-register.err"
            detail = errors.read_text(errors="replace")[-1500:] if errors.exists() else ""
            raise RuntimeError(f"agent {self.name} could not register: {detail}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
