"""Run sipp as one or more callers against an Asterisk on this machine."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pbx.ports import free_tcp_udp_port
from testkit.command import SippCommand
from testkit.scenario import CallerScript, write


@dataclass(frozen=True)
class SippResult:
    returncode: int
    successful: int
    failed: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0


def _count(stat_line: str) -> int:
    parts = [p for p in stat_line.replace("|", " ").split() if p.isdigit()]
    return int(parts[-1]) if parts else 0


async def place_calls(
    sip_port: int,
    dialed: str,
    script: CallerScript,
    *,
    calls: int = 1,
    rate: float = 1.0,
    concurrent: int | None = None,
    timeout_s: float = 60,
    host: str = "127.0.0.1",
    local_host: str | None = None,
) -> SippResult:
    """Place ``calls`` calls to ``dialed`` at ``rate`` per second; wait for them all.
    ``local_host``: the loopback address sipp sends from (default: ``host``)."""
    local = local_host or host
    with tempfile.TemporaryDirectory(prefix="sb-sipp-") as folder:
        scenario = write(script, Path(folder), "caller")
        stats = Path(folder) / "stats"
        args = SippCommand(
            scenario,
            local,
            free_tcp_udp_port(local),
            remote=f"{host}:{sip_port}",
            service=dialed,
            calls=calls,
            rate=rate,
            concurrent=concurrent or None,
            timeout_s=timeout_s,
            timeout_is_error=True,
            error_file=Path(str(stats) + ".err"),
            screen_file=Path(str(stats) + ".screen"),
        ).argv()
        process = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=folder,
        )
        out, _ = await process.communicate()
        screen = stats.with_suffix(".screen")
        text = screen.read_text(errors="replace") if screen.exists() else ""
        errors = Path(str(stats) + ".err")
        if errors.exists():
            text += "\n" + errors.read_text(errors="replace")[-4000:]
        text += out.decode(errors="replace")[-2000:]
        successful = failed = 0
        for line in text.splitlines():
            if line.strip().startswith("Successful call"):
                successful = _count(line)
            elif line.strip().startswith("Failed call"):
                failed = _count(line)
        return SippResult(process.returncode or 0, successful, failed, text)
