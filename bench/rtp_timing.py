"""Whether audio keeps its timing: RTP packets seen on the loopback interface (a raw
AF_PACKET socket, root only), stamped by the kernel on arrival, grouped per stream (the
channel's RTP source port: a new SSRC on the same channel, as when music restarts, is still
the same caller's audio). A 20 ms stream should see a packet every 20 ms; the figures say how far
the gaps stray from that and how many packets came late (> 20 ms past due)."""

from __future__ import annotations

import itertools
import socket
import statistics
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
PACKET_MS = 20.0


@dataclass(frozen=True)
class Timing:
    streams: int
    packets: int
    packets_per_stream_per_s: float
    gap_median_ms: float
    gap_p99_ms: float
    jitter_p99_ms: float  # |gap - 20 ms|, 99th percentile
    late_share: float  # gaps over 40 ms (a packet at least 20 ms late)
    max_gap_ms: float


class RtpSniffer:
    """Collect arrival times of RTP packets sent from ``source_ports`` (Asterisk's RTP
    range) over loopback, for ``seconds``, in a thread."""

    def __init__(self, source_ports: range, seconds: float) -> None:
        self.source_ports = source_ports
        self.seconds = seconds
        self.arrivals: dict[int, list[int]] = defaultdict(list)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RtpSniffer:
        self._thread.start()
        return self

    def join(self) -> Timing:
        self._thread.join()
        return summarise(self.arrivals, self.seconds)

    def _run(self) -> None:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind(("lo", 0))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 2**20)
        sock.settimeout(0.2)
        deadline = time.monotonic() + self.seconds
        low, high = self.source_ports.start, self.source_ports.stop
        try:
            while time.monotonic() < deadline:
                try:
                    data, ancillary, _flags, address = sock.recvmsg(256, 64)
                except TimeoutError:
                    continue
                if address[2] == PACKET_OUTGOING:  # loopback shows each packet twice
                    continue
                stream = _rtp_stream(data, low, high)
                if stream is None:
                    continue
                stamp = _kernel_ns(ancillary)
                if stamp is not None:
                    self.arrivals[stream].append(stamp)
        finally:
            sock.close()


def _rtp_stream(frame: bytes, low: int, high: int) -> int | None:
    """The source port of an RTP audio packet in an Ethernet frame from loopback."""
    if len(frame) < 14 + 20 + 8 + 12 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    header = (ip[0] & 0x0F) * 4
    if ip[9] != 17:  # UDP
        return None
    source_port = struct.unpack("!H", ip[header : header + 2])[0]
    if not low <= source_port < high or source_port % 2:  # RTCP uses the odd port
        return None
    rtp = ip[header + 8 :]
    if len(rtp) < 12:
        return None
    payload_type = rtp[1] & 0x7F
    # Audio only: not RFC 4733 events (dynamic types), not RTCP (200-204 -> 72-76).
    if rtp[0] >> 6 != 2 or payload_type >= 72:
        return None
    return int(source_port)


def _kernel_ns(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanos = struct.unpack("qq", data[:16])
            return int(seconds) * 1_000_000_000 + int(nanos)
    return None


def summarise(arrivals: dict[int, list[int]], seconds: float) -> Timing:
    gaps: list[float] = []
    for stamps in arrivals.values():
        stamps.sort()
        gaps.extend((b - a) / 1e6 for a, b in itertools.pairwise(stamps))
    packets = sum(len(s) for s in arrivals.values())
    if not gaps:
        return Timing(len(arrivals), packets, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    deviations = sorted(abs(g - PACKET_MS) for g in gaps)
    ordered = sorted(gaps)
    return Timing(
        streams=len(arrivals),
        packets=packets,
        packets_per_stream_per_s=round(packets / len(arrivals) / seconds, 1),
        gap_median_ms=round(statistics.median(ordered), 2),
        gap_p99_ms=round(ordered[int(0.99 * (len(ordered) - 1))], 2),
        jitter_p99_ms=round(deviations[int(0.99 * (len(deviations) - 1))], 2),
        late_share=round(sum(1 for g in gaps if g > 2 * PACKET_MS) / len(gaps), 4),
        max_gap_ms=round(ordered[-1], 1),
    )
