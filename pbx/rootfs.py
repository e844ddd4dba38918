"""Build and prepare the Debian sid root filesystem that Asterisk 22 runs from.

Debian's stable release has no Asterisk package and installing sid packages into the host
would upgrade its C library, so Asterisk lives in its own root built by mmdebstrap and is
entered with chroot. It shares the host's network: it listens on 127.0.0.1 like any local
server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

PACKAGES = (
    "asterisk",
    "asterisk-modules",
    "asterisk-core-sounds-en-gsm",
    "asterisk-moh-opsound-gsm",
)
MIRROR = "http://deb.debian.org/debian"
SUITE = "sid"
_MARKER = ".switchboard-rootfs"


class RootfsError(RuntimeError):
    """The Asterisk root filesystem cannot be built or used."""


def default_rootfs_dir() -> Path:
    """Where the root lives: ``SWITCHBOARD_ROOTFS`` or ``.cache/asterisk-rootfs`` here."""
    configured = os.environ.get("SWITCHBOARD_ROOTFS")
    if configured:
        return Path(configured)
    return Path.cwd() / ".cache" / "asterisk-rootfs"


def _marker_text() -> str:
    return f"{SUITE} {' '.join(PACKAGES)}\n"


def is_built(root: Path) -> bool:
    marker = root / _MARKER
    return marker.is_file() and marker.read_text() == _marker_text()


def build(root: Path, *, log: Path | None = None) -> None:
    """Build the root with mmdebstrap unless an identical one is cached there."""
    if is_built(root):
        return
    if os.geteuid() != 0:
        raise RootfsError("building the Asterisk root needs root (mmdebstrap and chroot)")
    if shutil.which("mmdebstrap") is None:
        raise RootfsError("mmdebstrap is not installed: apt-get install -y mmdebstrap")
    unmount(root)
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    partial = root.with_name(root.name + ".partial")
    unmount(partial)
    if partial.exists():
        shutil.rmtree(partial)
    command = [
        "mmdebstrap",
        "--variant=apt",
        # The mirror may serve a snapshot whose Release file has expired.
        '--aptopt=Acquire::Check-Valid-Until "false"',
        '--aptopt=Acquire::Check-Date "false"',
        "--include=" + ",".join(PACKAGES),
        SUITE,
        str(partial),
        MIRROR,
    ]
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    finally:
        if log and not isinstance(out, int):
            out.close()
    if result.returncode != 0:
        where = f" (see {log})" if log else ""
        raise RootfsError(f"mmdebstrap failed with exit code {result.returncode}{where}")
    (partial / _MARKER).write_text(_marker_text())
    partial.rename(root)


def _mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        return any(line.split()[1] == target for line in mounts if len(line.split()) > 1)


def prepare(root: Path) -> None:
    """Mount /proc inside the root (Asterisk reads it) and give it an /etc/hosts; idempotent."""
    if not is_built(root):
        raise RootfsError(f"no Asterisk root at {root}: run 'switchboard asterisk up' first")
    write_hosts(root)
    proc = root / "proc"
    if not _mounted(proc):
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)


def hosts_text(hostname: str) -> str:
    return f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def write_hosts(root: Path) -> None:
    """mmdebstrap leaves the root without /etc/hosts, so Asterisk's look-ups of this
    machine's own name (it makes one for every outgoing call's SDP) went to the DNS server;
    where that does not answer, each waited 5 s and held outgoing calls up (measured: 500
    dials took 175 s, 18 s with this file)."""
    hosts = root / "etc" / "hosts"
    wanted = hosts_text(socket.gethostname())
    if not hosts.exists() or hosts.read_text(errors="replace") != wanted:
        hosts.write_text(wanted)


def in_use(root: Path) -> bool:
    """Whether any process runs with ``root`` as its root directory (an Asterisk in it)."""
    target = str(root.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == target:
                return True
        except OSError:
            continue
    return False


def release(root: Path) -> None:
    """Unmount /proc from the root once nothing runs in it, so that the folder can be
    deleted like any other (``rm -rf`` of a checkout must never reach the host's /proc)."""
    if not in_use(root):
        unmount(root)


def unmount(root: Path) -> None:
    proc = root / "proc"
    if proc.exists() and _mounted(proc):
        subprocess.run(["umount", "-l", str(proc)], check=False)


def in_root(root: Path, *argv: str) -> list[str]:
    """The command line that runs ``argv`` inside the root."""
    return ["chroot", str(root), *argv]
