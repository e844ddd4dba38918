"""The deep-queue benchmark's audio timing meter: which packets count, and its figures."""

from __future__ import annotations

import struct

from bench.rtp_timing import _rtp_stream, summarise


def frame(source_port: int, payload_type: int, version: int = 2, protocol: int = 17) -> bytes:
    ethernet = b"\x00" * 12 + b"\x08\x00"
    ip = bytes([0x45, 0]) + b"\x00" * 7 + bytes([protocol]) + b"\x00" * 10
    udp = struct.pack("!HHHH", source_port, 5000, 8 + 172, 0)
    rtp = bytes([version << 6, payload_type]) + b"\x00" * 6 + struct.pack("!I", 7) + b"\xd5" * 160
    return ethernet + ip + udp + rtp


def test_audio_from_asterisks_even_ports_counts_and_nothing_else() -> None:
    ports = (20000, 21000)
    assert _rtp_stream(frame(20010, 8), *ports) == 20010  # PCMA
    assert _rtp_stream(frame(20011, 8), *ports) is None  # the RTCP port
    assert _rtp_stream(frame(20010, 101), *ports) is None  # RFC 4733 event
    assert _rtp_stream(frame(20010, 200 & 0x7F), *ports) is None  # RTCP sender report
    assert _rtp_stream(frame(30000, 8), *ports) is None  # not Asterisk's range
    assert _rtp_stream(frame(20010, 8, version=1), *ports) is None
    assert _rtp_stream(frame(20010, 8, protocol=6), *ports) is None  # TCP
    assert _rtp_stream(frame(20010, 8)[:40], *ports) is None  # truncated


def test_figures_from_a_steady_and_a_late_stream() -> None:
    ms = 1_000_000
    steady = [i * 20 * ms for i in range(101)]
    late = [i * 20 * ms for i in range(50)] + [(49 * 20 + 60) * ms]  # one 60 ms gap
    timing = summarise({1: steady, 2: late}, seconds=2.0)
    assert timing.streams == 2 and timing.packets == 152
    assert timing.gap_median_ms == 20.0
    assert timing.max_gap_ms == 60.0
    assert timing.late_share == round(1 / 150, 4)
    assert summarise({}, 1.0).packets == 0
