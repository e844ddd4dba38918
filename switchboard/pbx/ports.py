"""Free local ports, so that a test run never collides with a running Asterisk."""

from __future__ import annotations

import random
import socket


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port the kernel says is free now for ``kind`` (TCP by default)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound now for both TCP and UDP."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def free_tcp_udp_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP (SIP listens on UDP, checks may use TCP)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM, host)
        if is_free(port, host):
            return port
    raise RuntimeError("no free port for both TCP and UDP")


def rtp_range(size: int = 200) -> tuple[int, int]:
    """An even-aligned RTP port range picked at random in 20000-39999."""
    start = random.randrange(20000, 40000 - size, 2)
    return start, start + size - 1
