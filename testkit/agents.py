"""sipp as agents' softphones: register with a generated secret, then ring and answer (or
ring and never answer) every call Asterisk offers, until stopped."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from pbx.ports import free_tcp_udp_port
from testkit.command import SippCommand
from testkit.dtmf import write_pcap
from testkit.greeting import write_greeting
from testkit.scenario import WAIT_FOR_BYE


def _template(name: str) -> str:
    return (resources.files("testkit") / name).read_text("utf-8")


@dataclass
class SippAgent:
    """One softphone. ``ring_ms`` None: it rings and is never answered."""

    name: str
    secret: str
    sip_port: int  # Asterisk's
    ring_ms: int | None = 300
    talk_timeout_ms: int = 120_000
    hang_up_after_ms: int | None = None  # None: wait for the far end's BYE
    # Honour a request to answer at once (Call-Info: ...;answer-after=0), as softphones'
    # auto-answer does; False: ring ``ring_ms`` whatever the call asks.
    auto_answer: bool = True
    # Audio (a tone) sent once the call is answered, for this long: a phone whose user
    # talks. 0: silent (sipp sends no RTP of its own).
    audio_ms: int = 0
    # Keys (RFC 4733) pressed once the call is answered: (ms after the previous, key); in
    # place of the audio.
    keys: tuple[tuple[int, str], ...] = ()
    host: str = "127.0.0.1"
    port: int = field(default=0)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sb-agent-")))
    process: subprocess.Popen[bytes] | None = None

    def start(self, register: bool = True) -> None:
        """Listen for calls, then register the contact (raises if Asterisk refuses).
        Without ``register`` it only answers (a customer's phone behind a trunk)."""
        self.port = self.port or free_tcp_udp_port(self.host)
        if self.ring_ms is None:
            text = _template("agent_ignore.xml")
        else:
            ending = (
                WAIT_FOR_BYE.replace("@@TIMEOUT@@", str(self.talk_timeout_ms))
                if self.hang_up_after_ms is None
                else HANG_UP.replace("@@TALK_MS@@", str(self.hang_up_after_ms))
            )
            audio = ""
            pcap = None
            if self.keys and self.keys[0][0] > 0:  # the capture starts with its first key
                audio = f'  <pause milliseconds="{self.keys[0][0]}"/>\n'
            if self.keys:
                offsets, at = [], 0
                for pause_ms, key in self.keys:
                    at += pause_ms
                    offsets.append((at, key))
                pcap = write_pcap(offsets, self.folder / f"{self.name}-keys.pcap")
            elif self.audio_ms:
                pcap = write_greeting(self.folder / f"{self.name}-audio.pcap", self.audio_ms)
            if pcap is not None:
                audio += (
                    f'  <nop><action><exec play_pcap_audio="{escape(str(pcap))}"/></action></nop>'
                )
            text = (
                _template("agent_answer.xml")
                .replace("@@AUDIO@@", audio)
                .replace("@@ENDING@@", ending)
                .replace("@@CAPTURE@@", "" if self.hang_up_after_ms is None else CAPTURE)
                .replace("@@RING_MS@@", str(self.ring_ms))
                .replace(
                    "@@AUTOANSWER@@",
                    "answer-after=0" if self.auto_answer else "no-auto-answer-on-this-phone",
                )
            )
        scenario = self.folder / f"{self.name}-uas.xml"
        scenario.write_text(text, encoding="iso-8859-1")
        log = (self.folder / f"{self.name}-uas.log").open("wb")
        self.process = subprocess.Popen(
            SippCommand(
                scenario,
                self.host,
                self.port,
                error_file=self.folder / f"{self.name}-uas.err",
            ).argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )
        if register:
            try:
                self.register()
            except BaseException:
                self.stop()  # never a phone left answering after its start failed
                raise

    def register(self, expires: int = 3600) -> None:
        text = (
            _template("agent_register.xml")
            .replace("@@USER@@", escape(self.name))
            .replace("@@PASSWORD@@", escape(self.secret))
            .replace("@@CONTACT_PORT@@", str(self.port))
            .replace("@@EXPIRES@@", str(expires))
        )
        self._client("register", text, None, "could not register")

    def dial(self, number: str) -> None:
        """Place a call from this softphone (a feature code such as *51), answering
        Asterisk's digest challenge; returns once Asterisk has hung up."""
        text = (
            _template("agent_dial.xml")
            .replace("@@USER@@", escape(self.name))
            .replace("@@PASSWORD@@", escape(self.secret))
        )
        self._client("dial", text, number, f"could not dial {number}")

    def _client(self, what: str, text: str, dialed: str | None, failure: str) -> None:
        """Run one sipp client scenario to its end from a port of its own (with media when
        it ``dialed`` a number)."""
        scenario = self.folder / f"{self.name}-{what}.xml"
        scenario.write_text(text, encoding="iso-8859-1")
        errors = self.folder / f"{self.name}-{what}.err"
        done = subprocess.run(
            SippCommand(
                scenario,
                self.host,
                free_tcp_udp_port(self.host),
                remote=f"{self.host}:{self.sip_port}",
                service=dialed,
                calls=1,
                media=dialed is not None,
                timeout_s=20,
                timeout_is_error=True,
                error_file=errors,
            ).argv(),
            capture_output=True,
            cwd=self.folder,
            timeout=40,
        )
        if done.returncode != 0:
            detail = errors.read_text(errors="replace")[-1500:] if errors.exists() else ""
            raise RuntimeError(f"agent {self.name} {failure}: {detail}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


# What the softphone must remember of the INVITE to hang up itself (sipp refuses a scenario
# that captures variables it never uses, so this goes in only with HANG_UP).
CAPTURE = """
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="invite_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="invite_to"/>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" check_it="true"
            assign_to="invite_contact"/>"""

HANG_UP = """  <pause milliseconds="@@TALK_MS@@"/>
  <send retrans="500">
    <![CDATA[
      BYE [$invite_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$invite_to];tag=[pid]SIPpTag01[call_number]
      To: [$invite_from]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>"""
