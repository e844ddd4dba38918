"""Lead files against hostile input (hypothesis), beyond the properties in test_lead_import.py:
a model of every row (numbers written in many ways, formula-looking cells, quotes, line ends
inside quoted fields, NULs, very long fields, byte-order marks) in many encodings and at any
chunk size gives exactly the model's leads and bad rows, each on its line; any bytes in any
codec Python has give rows or LeadFileError, never another exception."""

from __future__ import annotations

import codecs
import encodings.aliases
import io
import re
from dataclasses import dataclass
from unittest import mock

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from callcenter.outbound import lead_import
from callcenter.outbound.lead_import import (
    BadRow,
    ColumnMapping,
    LeadFileError,
    ParsedLead,
    read_leads,
)

SOME = settings(
    deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow], database=None
)

# Number cells and what each is: the E.164 number, or None for a cell that is no dialable
# number. Formula-looking cells are here: the number in one is read as phonenumbers reads it
# (the stored value is the E.164 number, never the cell), and a formula with no number is bad.
NUMBER_CELLS: list[tuple[str, str | None]] = [
    ("+12125551234", "+12125551234"),
    ("(212) 555-1234", "+12125551234"),
    ("=+12125551234", "+12125551234"),
    ("'+12125551234", "+12125551234"),  # as our own CSV export writes it
    ("+1 212 555 1235", "+12125551235"),
    ("212.555.1235", "+12125551235"),
    ("-1 212 555 1235", "+12125551235"),
    ("\t+12125551236", "+12125551236"),
    ("+44 20 7946 0000", "+442079460000"),
    ("011 44 20 7946 0000", "+442079460000"),  # the US international prefix
    ("+44 7400 123456", "+447400123456"),
    (
        "\uff11\uff12\uff11\uff12\uff15\uff15\uff15\uff11\uff12\uff13\uff17",
        "+12125551237",
    ),  # full-width
    ("@SUM(1+1)", None),
    ("=1+2", None),
    ("=cmd|' /C calc'!A0", None),
    ("+", None),
    ("-", None),
    ("@", None),
    ("=", None),
    ("'; DROP TABLE leads;--", None),
    ("+1 900 234 5678", None),  # premium rate
    ("+1 212 555 1238 ext. 5", None),  # an extension
    ("+800 1234 5678", None),  # a global network
    ("212 555 1238\x00", None),  # NUL
    ("212 555 1238\x1b[2J", None),  # a control character
    ("", None),
]
# Characters for the other cells: CSV's own, formula starts, quotes, line ends, BOMs and
# escapes, Unicode that some encodings lack.
ASCII_CHARS = [",", '"', "'", "\r", "\n", "\r\n", " ", "\t", "=", "+", "-", "@", "\\", ";", "a"]
OTHER_CHARS = ["é", "ß", "☎", "東", "😀", "\u200f", "\u0301", "\ufeff", "\u2028", "\x85", "\x1b"]
ENCODINGS = ["utf-8", "utf-8-bom", "utf-16", "utf-16-le", "utf-32", "cp1252", "latin-1", "gb18030"]


def encodable(char: str, encoding: str) -> bool:
    try:
        char.encode(encoding.removesuffix("-bom"))
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Row:
    number: int  # index into NUMBER_CELLS
    name: str
    note: str
    quote_all: bool
    end: str


def cell(value: str, quote_all: bool) -> str:
    if quote_all or any(c in value for c in ',"\r\n') or value[:1] in (" ", "\t"):
        return '"' + value.replace('"', '""') + '"'
    return value


def rows_for(encoding: str) -> st.SearchStrategy[list[Row | str]]:
    chars = [c for c in ASCII_CHARS + OTHER_CHARS if encodable(c, encoding)]
    text = st.lists(st.sampled_from(chars), max_size=12).map("".join)
    long = st.integers(300, 5_000).map(lambda n: ("=A1+" * n)[:n])  # past BadRow's 300
    numbers = [i for i, (c, _) in enumerate(NUMBER_CELLS) if all(encodable(x, encoding) for x in c)]
    row = st.builds(
        Row,
        number=st.sampled_from(numbers),
        name=st.one_of(text, st.just("Ann"), st.just("\x00")),
        note=st.one_of(text, text, text, long),
        quote_all=st.booleans(),
        end=st.sampled_from(["\n", "\r\n", "\r"]),
    )
    blank = st.sampled_from(["\n", "\r\n", "\r", ",,\n"])
    return st.lists(st.one_of(row, row, row, blank), max_size=20)


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-8-bom":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    return text.encode(encoding)


def parse(data: bytes, encoding: str, chunk: int) -> list[ParsedLead | BadRow]:
    encoding = "utf-8" if encoding == "utf-8-bom" else encoding
    with mock.patch.object(lead_import, "CHUNK_BYTES", chunk):
        stream = io.BytesIO(data)
        return list(read_leads(stream, ColumnMapping(), region="US", encoding=encoding))


@st.composite
def files(draw: st.DrawFn) -> tuple[str, list[Row | str]]:
    encoding = draw(st.sampled_from(ENCODINGS))
    return encoding, draw(rows_for(encoding))


@SOME
@given(
    file=files(),
    chunk=st.sampled_from([1, 2, 3, 5, 1 << 20]),
    header_end=st.sampled_from(["\n", "\r\n", "\r"]),
)
@example(
    file=("utf-8", [Row(2, '=HYPERLINK("http://x")', "@SUM(A1)", False, "\n")]),
    chunk=1,
    header_end="\n",
)
@example(
    file=("utf-16", [Row(0, "a\r", "b\n", True, "\r"), "\n", Row(0, "x", "", False, "\n")]),
    chunk=3,
    header_end="\r",
)
def test_every_row_as_the_model_says_on_its_line(
    file: tuple[str, list[Row | str]], chunk: int, header_end: str
) -> None:
    encoding, rows = file
    text = "phone,name,note" + header_end
    expected: list[tuple[int, str | None, str | None, Row, str]] = []
    first_line: dict[str, int] = {}
    for row in rows:
        if isinstance(row, str):
            text += row
            continue
        line = 1 + len(re.findall(r"\r\n|\r|\n", text))
        number_cell, number = NUMBER_CELLS[row.number]
        written = ",".join(cell(v, row.quote_all) for v in (number_cell, row.name, row.note))
        text += written + row.end
        if not any(v.strip() for v in (number_cell, row.name, row.note)):
            continue  # a blank row: skipped
        reason: str | None = None
        if "\x00" in row.name or number is None:
            number = None
        elif number in first_line:
            reason = f"duplicate of line {first_line[number]} ({number})"
            number = None
        else:
            first_line[number] = line
        expected.append((line, number, reason, row, written))

    items = parse(encode(text, encoding), encoding, chunk)

    assert [i.line for i in items] == [e[0] for e in expected]
    for item, (_line, number, reason, row, written) in zip(items, expected, strict=True):
        if number is None:
            assert isinstance(item, BadRow), (item, row)
            if reason is not None:
                assert item.reason == reason
            shown = written if len(written) <= 300 else written[:300] + "…"
            assert item.text == shown
            continue
        assert isinstance(item, ParsedLead), (item, row)
        assert item.number == number
        assert re.fullmatch(r"\+[1-9][0-9]{6,14}", item.number)
        assert phonenumbers.is_valid_number(phonenumbers.parse(item.number))
        assert item.name == (row.name.strip() or None)
        assert item.data == {"note": row.note}  # kept exactly, formulas and all
    # Nothing lost, nothing twice.
    accepted = [i.number for i in items if isinstance(i, ParsedLead)]
    assert len(accepted) == len(set(accepted)) == len(first_line)


# --- any bytes, any codec -------------------------------------------------------------

CODECS = sorted(
    {name for name in set(encodings.aliases.aliases.values()) if name not in ("mbcs", "oem")}
    | {"punycode", "idna", "utf_7", "unicode_escape", "raw_unicode_escape", "undefined"}
)


def text_codecs() -> list[str]:
    usable = []
    for name in CODECS:
        try:
            lead_import.check_encoding(name)
        except ValueError:
            continue
        usable.append(name)
    return usable


@SOME
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.builds(lambda b: b"phone,name\n" + b, st.binary(max_size=200)),
        st.builds(lambda b: "phone\n".encode("utf-16") + b, st.binary(max_size=200)),
    ),
    encoding=st.sampled_from(text_codecs()),
    chunk=st.sampled_from([1, 4, 1 << 20]),
)
@example(data=b"phone\n-\n", encoding="punycode", chunk=1 << 20)
@example(data=b"phone\n\xff\xfe\x00\n", encoding="idna", chunk=1 << 20)
@example(data=b"phone\n+12125551234\n", encoding="undefined", chunk=1 << 20)
@example(data="phone\n".encode("utf-16-le"), encoding="utf_16", chunk=1)
def test_any_bytes_in_any_codec_give_rows_or_a_file_error(
    data: bytes, encoding: str, chunk: int
) -> None:
    try:
        items = parse(data, encoding, chunk)
    except LeadFileError as exc:
        assert str(exc).isprintable(), exc
        return
    lines = [item.line for item in items]
    assert lines == sorted(set(lines))
    for item in items:
        if isinstance(item, ParsedLead):
            assert re.fullmatch(r"\+[1-9][0-9]{2,30}", item.number)


@pytest.mark.parametrize(
    ("data", "encoding", "message"),
    [
        (b"phone\n+12125551234\n-\n", "punycode", "(the codec says 'Invalid extended code point"),
        (
            "phone\n+12125551234\n".encode("utf-16-le"),  # no byte-order mark
            "utf-16",
            "a UTF-16 or UTF-32 file without a byte-order mark: give its byte order with "
            "--encoding (utf-16-le, utf-16-be, utf-32-le or utf-32-be)",
        ),
        (b"phone\n\xff\xfe\x00\n", "idna", "line 2: bytes that are not idna text (b'\\xff')"),
    ],
)
def test_codecs_that_refuse_without_a_position_or_a_replacement(
    data: bytes, encoding: str, message: str
) -> None:
    with pytest.raises(LeadFileError) as error:
        parse(data, encoding, 1 << 20)
    assert message in str(error.value)
    if "or after" in str(error.value):
        assert str(error.value).startswith(
            f"line 1 or after: the file cannot be read as {encoding}"
        )


def test_a_field_longer_than_the_csv_modules_limit_is_a_file_error_with_its_line() -> None:
    long = "=A1" * 50_000  # 150,000 characters: past csv's field limit (131,072)
    with pytest.raises(LeadFileError) as error:
        parse(f'phone,note\n+12125551234,x\n+12125551235,"{long}"\n'.encode(), "utf-8", 1 << 20)
    assert str(error.value).startswith("line 3: field larger than field limit")
