"""Coverage-guided fuzzing (atheris, libFuzzer) of the FastAGI request parser: any bytes as
the request header block (``read_request``: lines, size limit, EOF) and as an AGI response
line. A finding is any exception but ``AgiProtocolError``, or a request that breaks its own
rules (a script name with a query or slashes around it). Prints executions per second and
each distinct finding with the input that caused it (also saved under ``--findings``).

    .venv/bin/pip install -e '.[fuzz]'      # atheris: not a required dependency
    .venv/bin/python -m bench.fuzz_agi [--seconds 60] [--findings .cache/fuzz/agi]

The short, always-run versions of these properties are the hypothesis tests in
tests/unit/test_hardening_agi.py. ``run`` here is shared with bench/fuzz_csv.py.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import atheris

from agi.protocol import AgiProtocolError, parse_response
from agi.server import MAX_LINE, read_request


class Broken(AssertionError):
    """The parser returned something that breaks its own contract."""


@dataclass
class Findings:
    """Distinct failures (by exception type and the line that raised it), first input each."""

    folder: Path
    seen: dict[str, bytes] = field(default_factory=dict)
    runs: int = 0

    def add(self, exc: BaseException, data: bytes) -> None:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
        if any(key.startswith(where + ":") for key in self.seen):
            return
        key = f"{where}: {str(exc)[:200]}"
        self.seen[key] = data
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(data).hexdigest()[:16]
        (self.folder / f"finding-{name}.bin").write_bytes(data)
        print(f"\nFINDING {key}\n  input: {data[:200]!r}", file=sys.stderr, flush=True)


def run(
    name: str,
    target: Callable[[bytes], None],
    seconds: float,
    folder: Path,
    max_len: int,
    seeds: list[bytes],
) -> None:
    """Fuzz ``target`` (which raises for a finding) for ``seconds``, then print the figures
    and exit (libFuzzer never returns: the process ends here). The corpus, started from
    ``seeds`` and grown by libFuzzer, is kept in ``folder``/corpus for the next run."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (corpus / f"seed-{hashlib.sha256(seed).hexdigest()[:16]}").write_bytes(seed)
    findings = Findings(folder)
    started = time.monotonic()
    deadline = started + seconds

    def one_input(data: bytes) -> None:
        findings.runs += 1
        try:
            target(data)
        except Exception as exc:
            findings.add(exc, data)
        if time.monotonic() > deadline:
            took = time.monotonic() - started
            print(
                f"\n{name}: {findings.runs} executions in {took:.1f} s, "
                f"{findings.runs / took:,.0f}/s; {len(findings.seen)} finding(s)"
                + "".join(f"\n  {key}" for key in findings.seen),
                flush=True,
            )
            os._exit(1 if findings.seen else 0)

    atheris.Setup(
        [sys.argv[0], f"-max_len={max_len}", "-print_final_stats=0", str(corpus)],
        one_input,
    )
    atheris.Fuzz()


_loops: list[asyncio.AbstractEventLoop] = []  # one, made on first use


async def _read(data: bytes) -> None:
    reader = asyncio.StreamReader(limit=MAX_LINE)
    reader.feed_data(data)
    reader.feed_eof()
    try:
        request = await read_request(reader, timeout=5)
    except AgiProtocolError:
        return
    if not request.script or "?" in request.script or request.script != request.script.strip("/"):
        raise Broken(f"script {request.script!r}")


def agi_input(data: bytes) -> None:
    """The first byte chooses: a header block (most inputs) or a response line."""
    if data[:1] == b"R":
        try:
            response = parse_response(data[1:].decode("utf-8", "replace"))
        except AgiProtocolError:
            return
        if not 0 <= response.code <= 999:
            raise Broken(f"response code {response.code}")
        return
    if not _loops:
        _loops.append(asyncio.new_event_loop())
    _loops[0].run_until_complete(asyncio.wait_for(_read(data), 10))


SEEDS = [
    b"agi_network: yes\nagi_network_script: health?echo=x&y=1\n"
    b"agi_request: agi://127.0.0.1/health?echo=x\nagi_channel: PJSIP/trunk-in-00000001\n"
    b"agi_uniqueid: 1700000000.1\nagi_callerid: 5551234\nagi_arg_1: a\nagi_arg_2: b c\n\n",
    b"agi_network: yes\r\nagi_request: agi://[::1]:4573/dnc-check?list=national\r\n\r\n",
    b"R200 result=1 (some value)",
    b"R510 Invalid or unknown command",
    b"R200 result=-1 endpos=1234",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--findings", type=Path, default=Path(".cache/fuzz/agi"))
    args = parser.parse_args()
    # Regular expressions and string comparisons guide the fuzzer too (the parser is mostly
    # regular expressions); then every function loaded is instrumented for coverage.
    atheris.enabled_hooks.add("RegEx")
    atheris.enabled_hooks.add("str")
    atheris.instrument_all()
    run("fuzz_agi", agi_input, args.seconds, args.findings, 3 * MAX_LINE, SEEDS)


if __name__ == "__main__":
    main()
