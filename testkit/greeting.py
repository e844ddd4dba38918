"""Spoken-like audio for sipp to send after it answers, so Asterisk's answering-machine
detection has something to judge: a short "hello" then quiet (a person), or a long greeting
(a machine). The sound is a tone loud enough to count as voice for AMD's energy threshold,
as PCMA (G.711 A-law) RTP, one packet per 20 ms, in a pcap for ``play_pcap_audio``."""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path

from testkit.dtmf import _LINKTYPE_ETHERNET, _frame

PCMA = 8
SAMPLE_RATE = 8000
PACKET_SAMPLES = 160  # 20 ms


def alaw(sample: int) -> int:
    """One 16-bit linear sample as an A-law byte (ITU-T G.711)."""
    sign = 0x80 if sample >= 0 else 0x00
    magnitude = (min(sample, 32767) if sample >= 0 else min(-sample - 1, 32767)) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def tone_packets(
    milliseconds: int, quiet_after_ms: int = 0, hz: float = 440.0, level: float = 0.5
) -> list[bytes]:
    """RTP packets (PCMA), one per 20 ms: a tone of ``milliseconds``, then silence (sent as
    audio: AMD counts silence only in the frames it receives)."""
    rng = random.Random()
    ssrc, seq, timestamp = rng.getrandbits(32), rng.getrandbits(15), rng.getrandbits(30)
    packets = []
    loud = max(1, milliseconds // 20)
    for index in range(loud + quiet_after_ms // 20):
        gain = level if index < loud else 0.0
        samples = bytes(
            alaw(round(gain * 32767 * math.sin(2 * math.pi * hz * (n / SAMPLE_RATE))))
            for n in range(index * PACKET_SAMPLES, (index + 1) * PACKET_SAMPLES)
        )
        marker = 0x80 if index == 0 else 0
        header = struct.pack("!BBHII", 0x80, marker | PCMA, seq & 0xFFFF, timestamp, ssrc)
        packets.append(header + samples)
        seq += 1
        timestamp = (timestamp + PACKET_SAMPLES) & 0xFFFFFFFF
    return packets


def write_greeting(path: Path, milliseconds: int, quiet_after_ms: int = 0) -> Path:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, _LINKTYPE_ETHERNET)]
    for index, rtp in enumerate(tone_packets(milliseconds, quiet_after_ms)):
        frame = _frame(rtp)
        seconds, micros = divmod(1_700_000_000_000_000 + index * 20_000, 1_000_000)
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path
