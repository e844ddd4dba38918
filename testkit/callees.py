"""Customers behind the outbound trunk, played by one sipp UAS: the last digit of the number
dialed says what the customer does (callees.xml). It also counts, from sipp's own message
trace, every distinct call it received per number: the independent witness that the dialer
called each lead exactly once."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from pbx.ports import free_tcp_udp_port
from testkit.command import SippCommand
from testkit.dtmf import write_pcap
from testkit.greeting import write_greeting

ANSWERS, BUSY, RINGS, MACHINE, HELLO, OPTS_OUT = "1", "2", "3", "4", "5", "6"
MACHINE_GREETING_MS = 4000  # longer than AMD's greeting limit (1.5 s): a machine
HELLO_MS = 400  # a short word, then quiet: a person
OPTOUT_AFTER_MS = 4000  # a person who opts out presses the key this long after answering
_REQUEST = re.compile(r"^INVITE sip:([^@;>]+)@", re.MULTILINE)
_CALL_ID = re.compile(r"^Call-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


@dataclass
class SippCallees:
    ring_ms: int = 300
    optout_key: str = "9"
    host: str = "127.0.0.1"
    port: int = 0
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sb-callees-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    @property
    def trace(self) -> Path:
        return self.folder / "messages.log"

    def start(self) -> SippCallees:
        self.port = self.port or free_tcp_udp_port(self.host)
        text = (resources.files("testkit") / "callees.xml").read_text("utf-8")
        scenario = self.folder / "callees.xml"
        machine = write_greeting(self.folder / "machine.pcap", MACHINE_GREETING_MS)
        hello = write_greeting(self.folder / "hello.pcap", HELLO_MS, quiet_after_ms=3000)
        optout = write_pcap([(0, self.optout_key)], self.folder / "optout.pcap")
        text = (
            text.replace("@@RING_MS@@", str(self.ring_ms))
            .replace("@@OPTOUT_AFTER_MS@@", str(OPTOUT_AFTER_MS))
            .replace("@@OPTOUT_PCAP@@", escape(str(optout)))
            .replace("@@MACHINE_PCAP@@", escape(str(machine)))
            .replace("@@HELLO_PCAP@@", escape(str(hello)))
        )
        scenario.write_text(text, "iso-8859-1")
        log = (self.folder / "callees.out").open("wb")
        self.process = subprocess.Popen(
            SippCommand(
                scenario,
                self.host,
                self.port,
                message_file=self.trace,
                error_file=self.folder / "callees.err",
            ).argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )
        try:
            code = self.process.wait(0.5)
        except subprocess.TimeoutExpired:
            return self  # listening
        output = (self.folder / "callees.out").read_text(errors="replace")
        raise RuntimeError(f"sipp (the callees) exited with {code}:\n{output[-2000:]}")

    def calls_by_number(self) -> Counter[str]:
        """Distinct calls (Call-IDs) received per number; retransmissions count once."""
        if not self.trace.exists():
            return Counter()
        text = self.trace.read_text("utf-8", errors="replace")
        seen: set[tuple[str, str]] = set()
        for block in re.split(r"^-{10,}.*$", text, flags=re.MULTILINE):
            request = _REQUEST.search(block)
            call_id = _CALL_ID.search(block)
            if request and call_id and "message received" in block:
                seen.add((request.group(1), call_id.group(1)))
        return Counter(number for number, _ in seen)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
