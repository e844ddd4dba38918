"""RFC 4733 key presses as a pcap that sipp's ``play_pcap_audio`` can replay.

The captures shipped with sipp each carry their own fixed RTP sequence numbers and
timestamps, so a second key from another capture can look older than the first one and a
receiver such as Asterisk drops it. Here one capture holds every key of a call, in one RTP
stream whose sequence numbers and timestamps only go forward, timed by the pcap clock.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from pathlib import Path

EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PAYLOAD_TYPE = 101  # as offered in the caller's SDP
SAMPLE_RATE = 8000
PACKET_MS = 20
TONE_MS = 100  # how long each key is held, as autodialers do
VOLUME = 10  # -10 dBm0
END_REPEATS = 3  # the end packet is sent three times, as RFC 4733 recommends

_LINKTYPE_ETHERNET = 1
_SRC_PORT, _DST_PORT = 6000, 6000  # sipp rewrites ports to the negotiated media


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(payload: bytes) -> bytes:
    udp_length = 8 + len(payload)
    udp = struct.pack("!HHHH", _SRC_PORT, _DST_PORT, udp_length, 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + udp_length, 0, 0x4000, 64, 17, 0, bytes(4), bytes(4)
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    ethernet = bytes(6) + bytes(6) + b"\x08\x00"
    return ethernet + header + udp


def rtp_events(
    keys: Sequence[tuple[int, str]], *, ssrc: int | None = None, first_seq: int | None = None
) -> list[tuple[int, bytes]]:
    """(milliseconds from the first packet, RTP packet) for keys at ms offsets."""
    rng = random.Random()
    ssrc = rng.getrandbits(32) if ssrc is None else ssrc
    seq = rng.getrandbits(15) if first_seq is None else first_seq
    base_ts = rng.getrandbits(30)
    packets: list[tuple[int, bytes]] = []
    previous_end = -1
    for at_ms, key in keys:
        if key not in EVENT_CODES:
            raise ValueError(f"no RFC 4733 event for key {key!r}")
        if at_ms <= previous_end:
            raise ValueError(f"key {key!r} at {at_ms} ms overlaps the previous key")
        timestamp = (base_ts + at_ms * SAMPLE_RATE // 1000) & 0xFFFFFFFF
        steps = TONE_MS // PACKET_MS
        for step in range(steps + END_REPEATS):
            end = step >= steps
            duration = min(step + 1, steps) * PACKET_MS * SAMPLE_RATE // 1000
            marker = 0x80 if step == 0 else 0
            header = struct.pack(
                "!BBHII", 0x80, marker | PAYLOAD_TYPE, seq & 0xFFFF, timestamp, ssrc
            )
            event = struct.pack("!BBH", EVENT_CODES[key], (0x80 if end else 0) | VOLUME, duration)
            sent_at = at_ms + min(step, steps) * PACKET_MS
            packets.append((sent_at, header + event))
            if not end or step == steps + END_REPEATS - 1:
                seq += 1
        previous_end = at_ms + TONE_MS
    return packets


def write_pcap(keys: Sequence[tuple[int, str]], path: Path) -> Path:
    """A capture with the keys at ms offsets; the first packet is at offset 0 of the file's
    clock, so callers pause until the first key before playing it."""
    packets = rtp_events(keys)
    start = packets[0][0] if packets else 0
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, _LINKTYPE_ETHERNET)]
    for at_ms, rtp in packets:
        frame = _frame(rtp)
        offset_us = (at_ms - start) * 1000
        seconds, micros = divmod(1_700_000_000_000_000 + offset_us, 1_000_000)
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path
