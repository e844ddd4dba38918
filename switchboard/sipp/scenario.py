"""Render a sipp caller scenario: who calls, which keys at which moments, who hangs up."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

DTMF_PCAP = "/usr/share/sip-tester/dtmf_2833_{key}.pcap"
_PCAP_NAMES = {"*": "star", "#": "pound"}

_WAIT_FOR_BYE = """  <recv request="BYE" timeout="@@TIMEOUT@@"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>"""

_HANG_UP = """  <pause milliseconds="@@AFTER@@"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "@@CALLER_NAME@@" <sip:@@CALLER@@@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:@@CALLER@@@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>"""


@dataclass(frozen=True)
class CallerScript:
    """What one sipp caller does once answered."""

    caller: str = "5551234"
    caller_name: str = "Switchboard Test"
    keys: tuple[tuple[int, str], ...] = field(default=((1000, "7"),))
    hang_up_after_ms: int | None = None  # None: wait for our BYE
    bye_timeout_ms: int = 30000


def pcap_for(key: str) -> str:
    return DTMF_PCAP.format(key=_PCAP_NAMES.get(key, key))


def render(script: CallerScript) -> str:
    template = (resources.files("switchboard.sipp") / "caller.xml").read_text("utf-8")
    key_lines = []
    for pause_ms, key in script.keys:
        if key not in "0123456789*#":
            raise ValueError(f"sipp has no DTMF capture for key {key!r}")
        key_lines.append(f'  <pause milliseconds="{int(pause_ms)}"/>')
        key_lines.append(f'  <nop><action><exec play_pcap_audio="{pcap_for(key)}"/></action></nop>')
    if script.hang_up_after_ms is None:
        ending = _WAIT_FOR_BYE.replace("@@TIMEOUT@@", str(script.bye_timeout_ms))
    else:
        ending = _HANG_UP.replace("@@AFTER@@", str(script.hang_up_after_ms))
    text = template.replace("@@KEYS@@", "\n".join(key_lines)).replace("@@ENDING@@", ending)
    return text.replace("@@CALLER_NAME@@", escape(script.caller_name)).replace(
        "@@CALLER@@", escape(script.caller)
    )


def write(script: CallerScript, folder: Path, name: str) -> Path:
    path = folder / f"{name}.xml"
    path.write_text(render(script), encoding="iso-8859-1")
    return path
