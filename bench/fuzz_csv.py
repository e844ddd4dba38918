"""Coverage-guided fuzzing (atheris, libFuzzer) of the CSV lead import: any bytes as a lead
file, read in one of several encodings at one of several chunk sizes. A finding is any
exception but ``LeadFileError``, rows out of order, or a lead whose number is not E.164 or
was already given. Prints executions per second and each distinct finding with its input
(also saved under ``--findings``).

    .venv/bin/pip install -e '.[fuzz]'      # atheris: not a required dependency
    .venv/bin/python -m bench.fuzz_csv [--seconds 60] [--findings .cache/fuzz/csv]

The short, always-run versions of these properties are the hypothesis tests in
tests/unit/test_hardening_lead_import.py.
"""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path

import atheris

from bench.fuzz_agi import Broken, run
from callcenter.outbound import lead_import
from callcenter.outbound.lead_import import ColumnMapping, LeadFileError, ParsedLead

# The first byte of an input chooses the encoding and the chunk size; the rest is the file.
ENCODINGS = (
    "utf-8",
    "utf-16",
    "utf-16-le",
    "utf-32",
    "cp1252",
    "latin-1",
    "shift_jis",
    "utf-7",
    "idna",  # codecs that fail without saying where (a plain UnicodeError)
    "punycode",
)
CHUNKS = (1, 3, 64, 1 << 20)
E164 = re.compile(r"\+[1-9][0-9]{2,30}")


def csv_input(data: bytes) -> None:
    if not data:
        return
    choice, body = data[0], data[1:]
    encoding = ENCODINGS[choice % len(ENCODINGS)]
    chunk = CHUNKS[(choice // len(ENCODINGS)) % len(CHUNKS)]
    lead_import.CHUNK_BYTES = chunk  # this process is the fuzzer's alone
    try:
        items = list(
            lead_import.read_leads(
                io.BytesIO(body), ColumnMapping(), region="US", encoding=encoding
            )
        )
    except LeadFileError:
        return
    lines = [item.line for item in items]
    if lines != sorted(set(lines)):
        raise Broken(f"lines out of order: {lines[:20]}")
    numbers = [item.number for item in items if isinstance(item, ParsedLead)]
    if len(numbers) != len(set(numbers)):
        raise Broken("a number given twice")
    bad = [n for n in numbers if not E164.fullmatch(n)]
    if bad:
        raise Broken(f"not E.164: {bad[:3]}")


SEEDS = [
    b"\x00phone,name,tz,note\n+12125551234,Ann,America/New_York,x\n"
    b'"(212) 555-1235","Bob ""B""",,"two\nlines"\r\n,,\n=HYPERLINK(1),@SUM(1),-1,+1\r',
    b"\x01" + "phone;name\n+44 20 7946 0000;Zoë\n".encode("utf-16"),
    b"\x00\xef\xbb\xbfPhone Number,ID\r\n212-555-1236,7\r\n\x00,8\n",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--findings", type=Path, default=Path(".cache/fuzz/csv"))
    args = parser.parse_args()
    atheris.instrument_all()  # coverage of every function loaded (csv, codecs, phonenumbers)
    run("fuzz_csv", csv_input, args.seconds, args.findings, 1 << 14, SEEDS)


if __name__ == "__main__":
    main()
