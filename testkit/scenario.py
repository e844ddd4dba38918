"""Render a sipp caller scenario: who calls, which keys at which moments, who hangs up."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from testkit.dtmf import EVENT_CODES, write_pcap
from testkit.greeting import write_greeting

# Wait for the far end's BYE (up to @@TIMEOUT@@ ms) and answer it: callers and softphones.
WAIT_FOR_BYE = """  <recv request="BYE" timeout="@@TIMEOUT@@"/>
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
    # Audio (a tone, PCMA) sent after the keys for this long: a caller who speaks, so
    # media from the caller can be counted at the far end. 0: only the keys.
    audio_ms: int = 0


def key_offsets(script: CallerScript) -> list[tuple[int, str]]:
    """The script's keys as (ms after the answer, key)."""
    offsets, at = [], 0
    for pause_ms, key in script.keys:
        if key not in EVENT_CODES:
            raise ValueError(f"no RFC 4733 event for key {key!r}")
        at += int(pause_ms)
        offsets.append((at, key))
    return offsets


def render(
    script: CallerScript, keys_pcap: Path | None = None, audio_pcap: Path | None = None
) -> str:
    """The scenario; its keys are played from ``keys_pcap``, then its audio from
    ``audio_pcap`` (see ``write``)."""
    template = (resources.files("testkit") / "caller.xml").read_text("utf-8")
    key_lines = []
    offsets = key_offsets(script)
    if offsets:
        if keys_pcap is None:
            raise ValueError("a script with keys needs the capture of its keys")
        first, last = offsets[0][0], offsets[-1][0]
        key_lines.append(f'  <pause milliseconds="{first}"/>')
        key_lines.append(
            f'  <nop><action><exec play_pcap_audio="{escape(str(keys_pcap))}"/></action></nop>'
        )
        if last > first:
            key_lines.append(f'  <pause milliseconds="{last - first}"/>')
    if script.audio_ms:
        if audio_pcap is None:
            raise ValueError("a script with audio needs the capture of its audio")
        if offsets:
            key_lines.append('  <pause milliseconds="500"/>')  # the last key's packets go first
        key_lines.append(
            f'  <nop><action><exec play_pcap_audio="{escape(str(audio_pcap))}"/></action></nop>'
        )
    if script.hang_up_after_ms is None:
        ending = WAIT_FOR_BYE.replace("@@TIMEOUT@@", str(script.bye_timeout_ms))
    else:
        ending = _HANG_UP.replace("@@AFTER@@", str(script.hang_up_after_ms))
    text = template.replace("@@KEYS@@", "\n".join(key_lines)).replace("@@ENDING@@", ending)
    return text.replace("@@CALLER_NAME@@", escape(script.caller_name)).replace(
        "@@CALLER@@", escape(script.caller)
    )


def write(script: CallerScript, folder: Path, name: str) -> Path:
    path = folder / f"{name}.xml"
    offsets = key_offsets(script)
    keys_pcap = write_pcap(offsets, folder / f"{name}-keys.pcap") if offsets else None
    audio_pcap = None
    if script.audio_ms:
        audio_pcap = write_greeting(folder / f"{name}-audio.pcap", script.audio_ms)
    path.write_text(render(script, keys_pcap, audio_pcap), encoding="iso-8859-1")
    return path
