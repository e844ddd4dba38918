"""The one place a sipp command line is built: which scenario, from which address and port,
to whom, how many calls, and which of sipp's files to write (errors, messages, screen)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pbx.ports import free_media_ports


class SippMissing(RuntimeError):
    pass


def sipp_binary() -> str:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SippMissing("sipp is not installed: apt-get install -y sip-tester")
    return sipp


@dataclass(frozen=True)
class SippCommand:
    scenario: Path
    local_ip: str
    local_port: int
    remote: str | None = None  # host:port a client scenario sends to; None: a server
    service: str | None = None  # the number dialed (-s)
    calls: int | None = None  # -m: stop after this many calls
    rate: float | None = None  # -r: calls per second
    concurrent: int | None = None  # -l: at most this many at once
    media: bool = True  # RTP on a free pair of ports
    timeout_s: float | None = None
    timeout_is_error: bool = False  # a timeout makes sipp exit non-zero
    error_file: Path | None = None
    message_file: Path | None = None  # every SIP message sent and received
    screen_file: Path | None = None  # the final statistics screen

    def argv(self) -> list[str]:
        args = [sipp_binary()]
        if self.remote is not None:
            args.append(self.remote)
        args += ["-sf", str(self.scenario)]
        if self.service is not None:
            args += ["-s", self.service]
        if self.calls is not None:
            args += ["-m", str(self.calls)]
        if self.rate is not None:
            args += ["-r", str(self.rate)]
        args += ["-i", self.local_ip, "-p", str(self.local_port)]
        if self.media:
            args += ["-mi", self.local_ip, "-mp", str(free_media_ports(self.local_ip))]
        args.append("-nostdin")
        if self.timeout_s is not None:
            args += ["-timeout", f"{int(self.timeout_s)}s"]
            if self.timeout_is_error:
                args.append("-timeout_error")
        if self.message_file is not None:
            args += ["-trace_msg", "-message_file", str(self.message_file)]
        if self.screen_file is not None:
            args += ["-trace_screen", "-screen_file", str(self.screen_file)]
        if self.error_file is not None:
            args += ["-trace_err", "-error_file", str(self.error_file)]
        if self.concurrent is not None:
            args += ["-l", str(self.concurrent)]
        return args
