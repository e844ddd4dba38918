"""sipp as an attacker, for the security tests: INVITEs to expensive numbers with or without
credentials and from any loopback address (127.0.0.2 is not the trunk), floods of REGISTERs
with a wrong password, and a softphone that answers a call and then tries to REFER it to an
outside number. Every response Asterisk sends is read back from sipp's own message trace."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from pbx.ports import free_tcp_udp_port
from testkit.agents import SippAgent
from testkit.command import SippCommand

ATTACKER_IP = "127.0.0.2"  # on the loopback interface, but not the trunk's address

# Final responses a scenario may get to a request; each is followed by the next step.
_FAILURES_4XX_5XX = (*range(400, 409), 410, 415, 420, *range(480, 489), 491, *range(500, 505))
_FINALS = tuple(str(code) for code in (*_FAILURES_4XX_5XX, 600, 603, 604, 606))
_STATUS = re.compile(r"^SIP/2\.0 (\d{3})", re.MULTILINE)


def _template(name: str) -> str:
    return (resources.files("testkit") / name).read_text("utf-8")


def _finals(
    next_label: str, challenge_label: str | None = None, last_mandatory: bool = True
) -> str:
    """Receives for every final response, jumping to ``next_label`` (a digest challenge,
    401 or 407, to ``challenge_label`` when given); all optional but the last one, so that
    anything else fails the scenario."""
    lines = []
    for i, code in enumerate(_FINALS):
        optional = "" if last_mandatory and i == len(_FINALS) - 1 else ' optional="true"'
        target = next_label
        auth = ""
        if challenge_label is not None and code in ("401", "407"):
            target, auth = challenge_label, ' auth="true"'
        lines.append(f'  <recv response="{code}"{optional}{auth} next="{target}"/>')
    return "\n".join(lines)


def _blocks(trace: Path) -> list[str]:
    """The messages sipp received, one text each (retransmissions included)."""
    if not trace.exists():
        return []
    text = trace.read_text("utf-8", errors="replace")
    blocks = re.split(r"^-{10,}.*$", text, flags=re.MULTILINE)
    return [b for b in blocks if "message received" in b]


def received_responses(trace: Path, method: str) -> list[int]:
    """Status codes of the responses to ``method`` sipp received, in order, each
    transaction's retransmissions counted once."""
    codes: list[int] = []
    seen: set[tuple[str, str]] = set()
    for block in _blocks(trace):
        status = _STATUS.search(block)
        cseq = re.search(r"^CSeq:\s*(\d+)\s+(\S+)", block, re.MULTILINE | re.IGNORECASE)
        call_id = re.search(r"^Call-ID:\s*(\S+)", block, re.MULTILINE | re.IGNORECASE)
        if status is None or cseq is None or cseq.group(2).upper() != method:
            continue
        key = (f"{call_id.group(1) if call_id else ''}/{cseq.group(1)}", status.group(1))
        if key in seen:
            continue
        seen.add(key)
        codes.append(int(status.group(1)))
    return codes


@dataclass(frozen=True)
class Attempt:
    """One INVITE and what Asterisk answered to it."""

    number: str
    responses: tuple[int, ...]
    output: str

    @property
    def finals(self) -> tuple[int, ...]:
        return tuple(code for code in self.responses if code >= 200)

    @property
    def answered(self) -> bool:
        return 200 in self.responses


INVITE_SDP = """      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=attacker 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15"""


def _invite(cseq: int, authenticate: bool) -> str:
    auth = "      [authentication username=@@AUTH_USER@@ password=@@PASSWORD@@]\n"
    return f"""  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "@@FROM_NAME@@" <sip:@@FROM_USER@@@@@FROM_HOST@@>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:@@FROM_USER@@@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: friendly-scanner
{auth if authenticate else ""}{INVITE_SDP}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" optional="true" rrs="true" next="answered{cseq}"/>"""


def _ack(cseq: int, label: str, then: str) -> str:
    """ACK a final response (same branch for a non-2xx: ``last_Via``)."""
    return f"""  <label id="{label}"/>
  <send next="{then}">
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: "@@FROM_NAME@@" <sip:@@FROM_USER@@@@@FROM_HOST@@>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>"""


def _answered(cseq: int) -> str:
    """Answered (which must never happen for a fraud): ACK, hang up, the end."""
    return f"""  <label id="answered{cseq}"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "@@FROM_NAME@@" <sip:@@FROM_USER@@@@@FROM_HOST@@>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="@@TALK_MS@@"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "@@FROM_NAME@@" <sip:@@FROM_USER@@@@@FROM_HOST@@>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq + 1} BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" next="end"/>"""


def invite_scenario(with_credentials: bool) -> str:
    """INVITE; on a digest challenge either stop (no credentials) or answer it once."""
    parts = [
        '<?xml version="1.0" encoding="ISO-8859-1" ?>',
        '<scenario name="switchboard attacker invite">',
        _invite(1, authenticate=False),
        _finals("final1", "challenge1" if with_credentials else None),
        _ack(1, "final1", "end"),
    ]
    if with_credentials:
        parts += [
            _ack(1, "challenge1", "invite2"),
            '  <label id="invite2"/>',
            _invite(2, authenticate=True),
            _finals("final2"),
            _ack(2, "final2", "end"),
            _answered(2),
        ]
    parts += [_answered(1), '  <label id="end"/>', "</scenario>"]
    return "\n".join(parts)


@dataclass
class Attacker:
    """INVITEs from ``local_ip`` to an Asterisk on this machine, one sipp run each."""

    sip_port: int  # Asterisk's
    local_ip: str = ATTACKER_IP
    remote_ip: str = "127.0.0.1"
    talk_ms: int = 500
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sb-attacker-")))
    runs: int = 0

    def invite(
        self,
        number: str,
        *,
        from_user: str = "1000",
        from_host: str | None = None,
        from_name: str = "",
        credentials: tuple[str, str] | None = None,
        timeout_s: float = 15,
    ) -> Attempt:
        """One INVITE to ``number``; with ``credentials`` it answers one digest challenge."""
        self.runs += 1
        name = f"invite{self.runs}"
        text = invite_scenario(with_credentials=credentials is not None)
        user, password = credentials or ("", "")
        text = (
            text.replace("@@FROM_USER@@", escape(from_user))
            .replace("@@FROM_HOST@@", escape(from_host or self.local_ip))
            .replace("@@FROM_NAME@@", escape(from_name))
            .replace("@@AUTH_USER@@", escape(user))
            .replace("@@PASSWORD@@", escape(password))
            .replace("@@TALK_MS@@", str(self.talk_ms))
        )
        scenario = self.folder / f"{name}.xml"
        scenario.write_text(text, encoding="iso-8859-1")
        trace = self.folder / f"{name}.msg"
        done = subprocess.run(
            SippCommand(
                scenario,
                self.local_ip,
                free_tcp_udp_port(self.local_ip),
                remote=f"{self.remote_ip}:{self.sip_port}",
                service=number,
                calls=1,
                timeout_s=timeout_s,
                timeout_is_error=True,
                message_file=trace,
                error_file=self.folder / f"{name}.err",
            ).argv(),
            capture_output=True,
            cwd=self.folder,
            timeout=timeout_s + 20,
            check=False,
        )
        output = done.stdout.decode(errors="replace")[-1500:]
        return Attempt(number, tuple(received_responses(trace, "INVITE")), output)


@dataclass(frozen=True)
class FloodResult:
    returncode: int
    attempts: int  # scenarios sipp ran to their end (each: REGISTER, 401, REGISTER, 401/403)
    responses: tuple[int, ...]
    output: str


def register_flood(
    sip_port: int,
    user: str,
    wrong_password: str,
    *,
    count: int = 300,
    rate: int = 100,
    local_ip: str = ATTACKER_IP,
    remote_ip: str = "127.0.0.1",
    folder: Path | None = None,
    timeout_s: float = 60,
) -> FloodResult:
    """``count`` REGISTERs for ``user`` at ``rate`` per second, each answering Asterisk's
    challenge with ``wrong_password``: a password-guessing attack."""
    folder = folder or Path(tempfile.mkdtemp(prefix="sb-flood-"))
    text = (
        _template("attacker_register.xml")
        .replace("@@USER@@", escape(user))
        .replace("@@PASSWORD@@", escape(wrong_password))
    )
    scenario = folder / "flood.xml"
    scenario.write_text(text, encoding="iso-8859-1")
    trace = folder / "flood.msg"
    screen = folder / "flood.screen"
    done = subprocess.run(
        SippCommand(
            scenario,
            local_ip,
            free_tcp_udp_port(local_ip),
            remote=f"{remote_ip}:{sip_port}",
            calls=count,
            rate=rate,
            media=False,
            timeout_s=timeout_s,
            message_file=trace,
            screen_file=screen,
            error_file=folder / "flood.err",
        ).argv(),
        capture_output=True,
        cwd=folder,
        timeout=timeout_s + 20,
        check=False,
    )
    text = screen.read_text(errors="replace") if screen.exists() else ""
    successful = 0
    for line in text.splitlines():
        if line.strip().startswith("Successful call"):
            numbers = [p for p in line.replace("|", " ").split() if p.isdigit()]
            successful = int(numbers[-1]) if numbers else 0
    return FloodResult(
        done.returncode,
        successful,
        tuple(received_responses(trace, "REGISTER")),
        text[-3000:] + done.stdout.decode(errors="replace")[-1000:],
    )


@dataclass
class ReferringPhone:
    """An agent's softphone that answers the call Asterisk offers, then tries to transfer
    it (REFER) to ``refer_to`` and records what Asterisk did about it."""

    name: str
    secret: str
    sip_port: int  # Asterisk's
    refer_to: str
    answer_ms: int = 200
    refer_after_ms: int = 1500
    host: str = "127.0.0.1"
    port: int = 0
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sb-refer-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def trace(self) -> Path:
        return self.folder / f"{self.name}-refer.msg"

    def start(self) -> None:
        self.port = self.port or free_tcp_udp_port(self.host)
        text = (
            _template("agent_refer.xml")
            .replace("@@RING_MS@@", str(self.answer_ms))
            .replace("@@REFER_MS@@", str(self.refer_after_ms))
            .replace("@@REFER_TO@@", escape(self.refer_to))
            .replace("@@USER@@", escape(self.name))
            .replace("@@REFER_FINALS@@", _finals("loop", last_mandatory=False))
        )
        scenario = self.folder / f"{self.name}-refer.xml"
        scenario.write_text(text, encoding="iso-8859-1")
        log = (self.folder / f"{self.name}-refer.out").open("wb")
        self.process = subprocess.Popen(
            SippCommand(
                scenario,
                self.host,
                self.port,
                calls=1,
                message_file=self.trace,
                error_file=self.folder / f"{self.name}-refer.err",
            ).argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )

    def register(self) -> None:
        """Register this phone's contact with the agent's credentials (raises if refused)."""
        SippAgent(
            self.name, self.secret, self.sip_port, port=self.port, folder=self.folder
        ).register()

    def refer_responses(self) -> list[int]:
        return received_responses(self.trace, "REFER")

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
