"""The RFC 4733 capture sipp replays for a caller's keys."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from testkit.dtmf import EVENT_CODES, rtp_events, write_pcap
from testkit.scenario import CallerScript, render, write


def parse(packet: bytes) -> tuple[bool, int, int, int, int, bool, int]:
    flags, seq, timestamp, _ssrc = struct.unpack("!BHII", packet[1:12])
    event, end_volume, duration = struct.unpack("!BBH", packet[12:16])
    return (
        bool(flags & 0x80),
        flags & 0x7F,
        seq,
        timestamp,
        event,
        bool(end_volume & 0x80),
        duration,
    )


def test_keys_go_forward_in_sequence_and_time() -> None:
    packets = rtp_events([(0, "9"), (1500, "1"), (1700, "#")], ssrc=7, first_seq=65534)
    parsed = [parse(p) for _, p in packets]
    starts = [p for p in parsed if p[0]]
    assert [p[4] for p in starts] == [9, 1, EVENT_CODES["#"]]
    assert starts[1][3] - starts[0][3] == 1500 * 8  # RTP clock at 8 kHz
    assert all(p[1] == 101 for p in parsed)
    seqs = [p[2] for p in parsed]
    # The sequence wraps at 16 bits and never goes back; end packets repeat theirs.
    unwrapped = [s + (65536 if s < 60000 else 0) for s in seqs]
    assert unwrapped == sorted(unwrapped) and unwrapped[0] == 65534
    ends = [p for p in parsed if p[5]]
    assert len(ends) == 9 and len({(p[2], p[3]) for p in ends}) == 3
    times = [at for at, _ in packets]
    assert times == sorted(times)


def test_overlapping_keys_and_unknown_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        rtp_events([(0, "1"), (50, "2")])
    with pytest.raises(ValueError, match="no RFC 4733 event"):
        rtp_events([(0, "A")])


def test_pcap_is_timed_from_the_first_key(tmp_path: Path) -> None:
    data = write_pcap([(800, "5"), (2800, "6")], tmp_path / "k.pcap").read_bytes()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    offset, stamps = 24, []
    while offset < len(data):
        seconds, micros, length, _ = struct.unpack("<IIII", data[offset : offset + 16])
        stamps.append(seconds * 1_000_000 + micros)
        offset += 16 + length
    assert offset == len(data)
    assert stamps[0] == min(stamps)
    assert max(stamps) - stamps[0] == (2000 + 100) * 1000  # last key's end packets


def test_scenario_waits_for_the_first_key_then_plays_one_capture(tmp_path: Path) -> None:
    script = CallerScript(keys=((800, "1"), (1200, "2")), hang_up_after_ms=500)
    text = write(script, tmp_path, "caller").read_text("iso-8859-1")
    assert text.count("play_pcap_audio") == 1
    assert '<pause milliseconds="800"/>' in text and '<pause milliseconds="1200"/>' in text
    assert (tmp_path / "caller-keys.pcap").exists()
    with pytest.raises(ValueError, match="capture"):
        render(script)
