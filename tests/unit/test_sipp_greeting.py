"""The audio sipp sends as a callee's greeting: G.711 A-law by the book, RTP in order."""

from __future__ import annotations

import struct
from itertools import pairwise
from pathlib import Path

from testkit.greeting import PCMA, alaw, tone_packets, write_greeting


def test_alaw_reference_values() -> None:
    assert alaw(0) == 0xD5  # silence
    assert alaw(32767) == 0xAA  # the loudest positive sample
    assert alaw(-32768) == 0x2A  # the loudest negative one
    # As the reference encoder (Python's audioop, before its removal) gives them:
    expected = {8: 0xD5, -8: 0x55, 16: 0xD4, -16: 0x55, 1000: 0xFA, -1000: 0x7A, 20000: 0xA6}
    assert {sample: alaw(sample) for sample in expected} == expected


def test_a_greeting_is_loud_then_quiet_in_one_rtp_stream() -> None:
    packets = tone_packets(400, quiet_after_ms=200)
    assert len(packets) == 30  # 20 ms each
    seqs = [struct.unpack("!H", p[2:4])[0] for p in packets]
    stamps = [struct.unpack("!I", p[4:8])[0] for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in pairwise(seqs))
    assert all((b - a) & 0xFFFFFFFF == 160 for a, b in pairwise(stamps))
    assert all(p[1] & 0x7F == PCMA for p in packets)
    assert len(set(packets[-1][12:])) == 1 and packets[-1][12] == 0xD5  # silence
    assert len(set(packets[5][12:])) > 10  # a tone


def test_the_capture_holds_one_frame_per_packet(tmp_path: Path) -> None:
    path = write_greeting(tmp_path / "g.pcap", 100, quiet_after_ms=100)
    data = path.read_bytes()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    offset, frames = 24, 0
    while offset < len(data):
        length = struct.unpack("<I", data[offset + 8 : offset + 12])[0]
        offset += 16 + length
        frames += 1
    assert frames == 10
