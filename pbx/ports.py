"""Free local ports, so that a test run never collides with a running Asterisk."""

from __future__ import annotations

import random
import socket

# Listening ports are picked here: below Asterisk's RTP ranges (``rtp_range``, 20000-39999)
# and the kernel's ephemeral ports (32768-60999 by default). A port the kernel hands out
# for ``bind(0)`` is an ephemeral one, which any outgoing connection (a database client, an
# HTTP request) may take as its own source port before our server binds it: "address
# already in use" at a random start.
LISTEN_PORTS = range(10000, 20000)


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port free now for ``kind`` (TCP by default), outside the ephemeral range."""
    for _ in range(500):
        port = random.choice(LISTEN_PORTS)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {LISTEN_PORTS.start}-{LISTEN_PORTS.stop - 1}")


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound now for both TCP and UDP."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


# Ports this process has handed out: a sipp started a moment ago may not have bound its
# ports yet, so the kernel would call them free again.
_handed_out: set[int] = set()


def free_tcp_udp_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP (SIP listens on UDP, checks may use TCP)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM, host)
        if port not in _handed_out and is_free(port, host):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port for both TCP and UDP")


def free_media_ports(host: str = "127.0.0.1", count: int = 4) -> int:
    """The first of ``count`` consecutive free UDP ports, even: sipp's ``-mp`` binds the
    port it is given and the next three (audio RTP and RTCP, video RTP and RTCP)."""
    for _ in range(200):
        base = free_port(socket.SOCK_DGRAM, host) & ~1
        ports = range(base, base + count)
        if base + count > LISTEN_PORTS.stop or any(p in _handed_out for p in ports):
            continue
        if all(_udp_free(p, host) for p in ports):
            _handed_out.update(ports)
            return base
    raise RuntimeError(f"no {count} consecutive free UDP ports")


def _udp_free(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def rtp_range(size: int = 200) -> tuple[int, int]:
    """An even-aligned RTP port range picked at random in 20000-39999."""
    start = random.randrange(20000, 40000 - size, 2)
    return start, start + size - 1
