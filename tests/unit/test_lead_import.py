"""Reading leads from CSV files (callcenter.outbound.lead_import): broken files, the numbers a
dialer must not call, time zones, line numbers, a large file streamed, and properties for any
input (hypothesis)."""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import re
import subprocess
import sys
import time
from typing import Any
from unittest import mock
from zoneinfo import available_timezones

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from callcenter.outbound import lead_import
from callcenter.outbound.lead_import import (
    BadRow,
    ColumnMapping,
    LeadFileError,
    MappingError,
    ParsedLead,
    read_leads,
)
from tests.support import REPO

NYC = "+12125551234"  # a New York fixed line: one zone
NYC2 = "+12125551235"
LONDON = "+442079460000"  # a London fixed line (Ofcom's range for drama)
UK_MOBILE = "+447400123456"  # a mobile: every zone of the UK and the Crown dependencies
SOME = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(
    text: str | bytes,
    mapping: ColumnMapping | None = None,
    *,
    region: str = "US",
    encoding: str = "utf-8",
    **kwargs: Any,
) -> list[ParsedLead | BadRow]:
    data = text.encode(encoding) if isinstance(text, str) else text
    return list(
        read_leads(
            io.BytesIO(data), mapping or ColumnMapping(), region=region, encoding=encoding, **kwargs
        )
    )


def good(items: list[ParsedLead | BadRow]) -> list[ParsedLead]:
    return [i for i in items if isinstance(i, ParsedLead)]


def bad(items: list[ParsedLead | BadRow]) -> list[BadRow]:
    return [i for i in items if isinstance(i, BadRow)]


def only(items: list[ParsedLead | BadRow]) -> ParsedLead | BadRow:
    assert len(items) == 1, items
    return items[0]


def one_lead(text: str | bytes, mapping: ColumnMapping | None = None, **kwargs: Any) -> ParsedLead:
    item = only(parse(text, mapping, **kwargs))
    assert isinstance(item, ParsedLead), item
    return item


def reason_of(number: str, region: str = "US") -> str:
    """Why a file whose only row has this number (and a name) rejects the row."""
    item = only(parse(f"phone,name\n{number},Ann\n", region=region))
    assert isinstance(item, BadRow), item
    return item.reason


def fails(text: str | bytes, mapping: ColumnMapping | None = None, **kwargs: Any) -> str:
    with pytest.raises(LeadFileError) as error:
        parse(text, mapping, **kwargs)
    return str(error.value)


# --- columns ---------------------------------------------------------------------------------


def test_columns_found_by_their_usual_names_and_the_others_kept_as_data() -> None:
    lead = one_lead(f"ID,Full Name,Phone Number,City,time zone\n42,Ann Lee ,{NYC},Paris,\n")
    assert lead == ParsedLead(
        line=2,
        number=NYC,
        time_zones=("America/New_York",),
        region="US",
        name="Ann Lee",
        external_id="42",
        data={"City": "Paris"},
        source="2",
    )


def test_mapped_columns_any_case_and_data_values_kept_exactly() -> None:
    mapping = ColumnMapping.from_options(
        ["number=Tel 1", "name=who", "external_id=ref", "TIMEZONE=Zone"]
    )
    assert mapping == ColumnMapping(number="Tel 1", timezone="Zone", name="who", external_id="ref")
    lead = one_lead(
        f"ref,WHO,tel 1,zone,phone, notes ,,notes\nA-1,Bo,{NYC},,x,  spaced  ,,n2\n",
        mapping,
        source="list.csv",
    )
    assert (lead.number, lead.name, lead.external_id) == (NYC, "Bo", "A-1")
    # The other "phone" column is data once the number is mapped elsewhere; an unnamed column
    # gets its position, a repeated name a suffix.
    assert lead.data == {"phone": "x", "notes": "  spaced  ", "column7": "", "notes_2": "n2"}
    assert lead.source == "list.csv:2"


def test_map_timezone_to_nothing_turns_the_lookup_off() -> None:
    text = f"phone,tz\n{NYC},Europe/Paris\n"
    assert one_lead(text).time_zones == ("Europe/Paris",)
    lead = one_lead(text, ColumnMapping.from_options(["timezone="]))
    assert lead.time_zones == ("America/New_York",)
    assert lead.data == {"tz": "Europe/Paris"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["number"], "give FIELD=COLUMN"),
        (["phone_no=x"], "no field 'phone_no'; the fields are number, timezone, name, external_id"),
        (["number=a", "phone=b"], "number is mapped twice"),
        (["number= "], "needs a column name"),
    ],
)
def test_bad_map_options(options: list[str], message: str) -> None:
    with pytest.raises(MappingError, match=re.escape(message)):
        ColumnMapping.from_options(options)


def test_a_mapped_column_missing_lists_the_columns() -> None:
    message = fails("phone,name\n", ColumnMapping(name="Full name"))
    assert message == (
        "no column 'Full name' (for the name) in the header; the columns are: 'phone', 'name'"
    )


def test_no_number_column() -> None:
    message = fails("name,email\nAnn,a@example.com\n")
    assert message.startswith("no column for the telephone number in the header (looked for ")
    assert message.endswith("the columns are: 'name', 'email'; say which with --map number=COLUMN")


def test_two_columns_that_may_hold_the_number() -> None:
    message = fails(f"Phone,Mobile\n{NYC},{NYC2}\n")
    assert message == (
        "several columns may hold the telephone number: 'Phone', 'Mobile'; "
        "choose one with --map number=COLUMN"
    )
    lead = one_lead(f"Phone,Mobile\n{NYC},{NYC2}\n", ColumnMapping(number="mobile"))
    assert (lead.number, lead.data) == (NYC2, {"Phone": NYC})


def test_a_file_without_header_is_recognised() -> None:
    message = fails(f"{NYC},Ann\n{NYC2},Bob\n")
    assert message.startswith("the file has no header line: its first line holds a telephone")


def test_one_column_mapped_twice() -> None:
    message = fails("phone\n", ColumnMapping(number="phone", name="PHONE"))
    assert message == "column 'phone' is mapped to both the number and the name"


def test_a_column_named_twice_cannot_be_mapped() -> None:
    message = fails("phone,phone\n", ColumnMapping(number="phone"))
    assert "the header has 2 columns named 'phone'" in message


# --- broken files ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [b"", b"\n", b"\r\n\r\n  \n", b",,,\n,\n", b"\xef\xbb\xbf"])
def test_an_empty_file(text: bytes) -> None:
    assert fails(text) == "the file is empty (no header line, no rows)"


def test_a_header_alone_gives_no_rows() -> None:
    assert parse("phone,name\n") == []


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    lead = one_lead(codecs.BOM_UTF8 + f"phone,name\n{NYC},Zoë\n".encode())
    assert (lead.line, lead.name) == (2, "Zoë")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "cp1252", "latin-1", "UTF8"])
def test_other_encodings(encoding: str) -> None:
    note = "café" if encoding == "latin-1" else "café €"
    lead = one_lead(f"phone,name,note\n{NYC},Zoë,{note}\n", encoding=encoding)
    assert (lead.name, lead.data) == ("Zoë", {"note": note})


def test_bytes_not_in_the_encoding_say_the_line_and_suggest_an_encoding() -> None:
    text = f'phone,name,note\n{NYC},Ann,"two\r\nlines"\n\n{NYC2},Zo\xeb,\n'.encode("latin-1")
    message = fails(text)
    assert message == (
        "line 5: bytes that are not utf-8 text (b'\\xeb'); if the file is in another encoding, "
        "give it with --encoding (e.g. --encoding cp1252, latin-1 or utf-16)"
    )
    assert [r.line for r in parse(text, encoding="latin-1")] == [2, 5]


def test_undecodable_bytes_far_into_a_large_file() -> None:
    rows = "".join(f"+1212200{i:04d},n\n" for i in range(5000))
    text = f"phone,name\n{rows}+12125551234,\xe9\n".encode("latin-1")
    assert len(text) > 50_000
    with mock.patch.object(lead_import, "CHUNK_BYTES", 4096):
        assert fails(text).startswith("line 5002: bytes that are not utf-8 text")


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_line_of_bad_bytes_at_any_chunk_size(chunk: int) -> None:
    # "\r\n" and a two-byte character that chunks may split, then a lone \xff on line 5.
    text = b'phone,name\r\n+12125551234,"Zo\xc3\xab\r\n\r\nx"\r\n\xff\r\n'
    with mock.patch.object(lead_import, "CHUNK_BYTES", chunk):
        assert fails(text).startswith("line 5: bytes that are not utf-8")


def test_quotes_embedded_line_ends_and_empty_lines() -> None:
    text = (
        "phone,name,note\r\n"  # 1
        "\r\n"  # 2: empty
        f'{NYC},"Ann ""the boss"" Lee","line one\r\nline two\nline three\rline four"\r\n'  # 3-6
        ",,\n"  # 7: all blank
        "   \n"  # 8: blank too
        f'"{NYC2}",Bob,"a, b"\n'  # 9
        f"+12125551236,Cy,\x0c\u2028\x85 not line ends\r"  # 10
        f'+12125551237,"Di\n'  # 11-12: a quote that never closes, up to the end
        "\n"
    )
    items = parse(text)
    assert [(i.line, type(i).__name__) for i in items] == [
        (3, "ParsedLead"),
        (9, "ParsedLead"),
        (10, "ParsedLead"),
        (11, "BadRow"),
    ]
    first, second, third, last = items
    assert isinstance(first, ParsedLead)
    assert isinstance(second, ParsedLead)
    assert isinstance(third, ParsedLead)
    assert first.name == 'Ann "the boss" Lee'
    assert first.data == {"note": "line one\r\nline two\nline three\rline four"}
    assert (second.number, second.data) == (NYC2, {"note": "a, b"})
    assert third.data == {"note": "\x0c\u2028\x85 not line ends"}
    assert last == BadRow(11, "2 field(s) where the header has 3 column(s)", '+12125551237,"Di')


def test_wrong_number_of_fields() -> None:
    items = parse(f"phone,name\n{NYC},Ann,extra\n{NYC2}\n+12125551236,Cy\n")
    assert [(i.line, getattr(i, "reason", "ok")) for i in items] == [
        (2, "3 field(s) where the header has 2 column(s)"),
        (3, "1 field(s) where the header has 2 column(s)"),
        (4, "ok"),
    ]
    assert bad(items)[0].text == f"{NYC},Ann,extra"


def test_a_quote_that_never_closes_in_a_large_file_is_fatal() -> None:
    filler = "".join(f"{NYC2},filler {i}\n" for i in range(20_000))
    message = fails(f'phone,name\n{NYC},"Ann\n{filler}')
    assert message.startswith("line 2: field larger than field limit")
    assert message.endswith("(a quote that never closes?)")


def test_a_line_too_long_is_fatal() -> None:
    with (
        mock.patch.object(lead_import, "MAX_LINE_CHARS", 1000),
        mock.patch.object(lead_import, "CHUNK_BYTES", 100),
    ):
        message = fails(f"phone,name\n{NYC},{'x' * 5000}\n")
    assert message.startswith("line 2: longer than 1000 characters")


def test_nul_characters() -> None:
    assert fails("pho\x00ne\n").startswith("the header line holds a NUL character")
    items = parse(f"phone,name\n{NYC},A\x00n\n+1212555\x001236,Bo\n")
    assert [(i.line, i.reason) for i in bad(items)] == [
        (2, "a NUL character in column 'name'"),
        (3, "the number holds a NUL character"),
    ]


def test_a_tab_separated_file() -> None:
    assert one_lead(f"phone\tname\n{NYC}\tAnn, Lee\n", delimiter="tab").name == "Ann, Lee"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "XX"}, "unknown region 'XX'"),
        ({"encoding": "nope"}, "unknown encoding 'nope'"),
        ({"encoding": "rot13"}, "'rot13' is not a text encoding"),
        ({"delimiter": ";;"}, "the delimiter is one character"),
        ({"delimiter": '"'}, "the delimiter is one character"),
    ],
)
def test_bad_arguments(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        read_leads(io.BytesIO(b"phone\n"), ColumnMapping(), **{"region": "US", **kwargs})


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "region", "number", "zones"),
    [
        ("(212) 555-1234", "US", NYC, ("America/New_York",)),
        ("212.555.1234", "US", NYC, ("America/New_York",)),
        ("+1 212 555 1234", "GB", NYC, ("America/New_York",)),
        ("001 212 555 1234", "GB", NYC, ("America/New_York",)),
        ("011 44 20 7946 0000", "US", LONDON, ("Europe/London",)),
        ("020 7946 0000", "GB", LONDON, ("Europe/London",)),
        ("07400 123456", "GB", UK_MOBILE, None),
        (
            "\uff10\uff12\uff10 \uff17\uff19\uff14\uff16 \uff10\uff10\uff10\uff10",
            "GB",
            LONDON,
            None,
        ),
        ("+61 2 1234 5678", "US", "+61212345678", ("Australia/Sydney",)),
        ("+1 800 234 5678", "US", "+18002345678", None),  # toll-free: allowed
    ],
)
def test_numbers_to_e164_with_their_region_and_zones(
    text: str, region: str, number: str, zones: tuple[str, ...] | None
) -> None:
    lead = one_lead(f'phone\n"{text}"\n', region=region)
    assert lead.number == number
    assert lead.region == phonenumbers.region_code_for_number(phonenumbers.parse(number))
    if zones is not None:
        assert lead.time_zones == zones


def test_a_number_that_may_be_in_several_zones_gets_them_all() -> None:
    assert one_lead(f"phone\n{UK_MOBILE}\n").time_zones == (
        "Europe/Guernsey",
        "Europe/Isle_of_Man",
        "Europe/Jersey",
        "Europe/London",
    )
    toll_free = one_lead("phone\n+18002345678\n")
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= set(
        toll_free.time_zones
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no telephone number"),
        ("   ", "no telephone number"),
        ("call me", "'call me': not a telephone number"),
        ("12", "'12' is not a valid number (+112)"),
        ("+999 1234 5678", "'+999 1234 5678': no such country code"),
        ("+1 212", "'+1 212' is not a valid number (+1212)"),
        ("1" * 300, "'" + "1" * 40 + "…': too long"),
        ("+1 212 555 01", "'+1 212 555 01' is not a valid number (+121255501)"),
        ("+1 212 123 4567", "'+1 212 123 4567' is not a valid number (+12121234567)"),
        (
            "+1 212 555 1234 ext. 7",
            "'+1 212 555 1234 ext. 7' has an extension, which a dialer cannot dial",
        ),
        ("+1 212\t555 1234", "the number holds a control character (U+0009)"),
        ("+1 212\x1b[2J555 1234", "the number holds a control character (U+001B)"),
        ("+1 212\x00555 1234", "the number holds a NUL character"),
    ],
)
def test_numbers_that_are_not_numbers(text: str, reason: str) -> None:
    assert reason_of(f'"{text}"') == reason


@pytest.mark.parametrize(
    ("number", "what"),
    [
        ("+44 909 879 0000", "a premium-rate number"),  # UK 09
        ("+44 901 234 5678", "a premium-rate number"),
        ("+1 900 234 5678", "a premium-rate number"),  # US 900
        ("+49 900 1234567", "a premium-rate number"),
        ("+33 8 91 12 34 56", "a premium-rate number"),
        ("+61 1900 123 456", "a premium-rate number"),
        ("+49 180 12345", "a shared-cost number"),
        ("+61 1300 123 456", "a shared-cost number"),
        ("+44 55 1234 5678", "a universal access number (UAN)"),
        ("+81 570 123 456", "a universal access number (UAN)"),
        ("+49 1779 9123 4567", "a voicemail access number"),
        ("+44 76 4012 3456", "a pager number"),
        ("+44 70 1234 5678", "a personal (forwarding) number"),
        ("+1 500 234 5678", "a personal (forwarding) number"),
    ],
)
def test_numbers_a_dialer_must_not_call(number: str, what: str) -> None:
    e164 = "+" + re.sub(r"\D", "", number)
    assert reason_of(f'"{number}"') == f"{e164} is {what}: not dialed"


@pytest.mark.parametrize("number", ["+800 1234 5678", "+881 6 1234 5678", "+870 773 111 632"])
def test_global_network_numbers_are_refused(number: str) -> None:
    parsed = phonenumbers.parse(number)
    assert phonenumbers.is_valid_number(parsed)
    assert reason_of(f'"{number}"').endswith("is a global network number (no country): not dialed")


def test_duplicates_within_the_file_name_the_first_line() -> None:
    items = parse(
        f"phone,name\n{NYC},Ann\n(212) 555-1235,Bob\nbad,x\n212 555 1234,Again\n"
        f"+1 212 555 1235,Bob again\n{NYC},Third\n"
    )
    assert [(i.line, i.reason if isinstance(i, BadRow) else i.number) for i in items] == [
        (2, NYC),
        (3, NYC2),
        (4, "'bad': not a telephone number"),
        (5, f"duplicate of line 2 ({NYC})"),
        (6, f"duplicate of line 3 ({NYC2})"),
        (7, f"duplicate of line 2 ({NYC})"),
    ]


def test_a_bad_row_does_not_claim_its_number() -> None:
    items = parse(f"phone,tz\n{NYC},Mars/Olympus\n{NYC},\n")
    assert [type(i).__name__ for i in items] == ["BadRow", "ParsedLead"]


# --- time zones ------------------------------------------------------------------------------


def test_time_zones_from_the_column() -> None:
    items = parse(
        "phone,timezone\n"
        f"{NYC},america/chicago\n"
        f"{NYC2},Europe/Paris; Europe/Berlin;europe/paris\n"
        "+12125551236,\n"
        "+12125551237,Mars/Olympus\n"
        "+12125551238,-05:00\n"
        "+12125551239,../../etc/passwd\n"
        "+12125551240,Etc/Unknown\n"
        '+12125551241,"Europe/\x1b[2J\u2028Paris"\n'
    )
    assert [i.time_zones if isinstance(i, ParsedLead) else i.reason for i in items] == [
        ("America/Chicago",),
        ("Europe/Paris", "Europe/Berlin"),
        ("America/New_York",),  # no value: the number's
        "unknown time zone 'Mars/Olympus' (an IANA name such as America/New_York)",
        "unknown time zone '-05:00' (an IANA name such as America/New_York)",
        "unknown time zone '../../etc/passwd' (an IANA name such as America/New_York)",
        "unknown time zone 'Etc/Unknown' (an IANA name such as America/New_York)",
        "unknown time zone 'Europe/\\x1b[2J\\u2028Paris' (an IANA name such as America/New_York)",
    ]


def test_a_number_with_no_known_zone_needs_the_column() -> None:
    unknown = ("Etc/Unknown",)
    with mock.patch.object(lead_import, "time_zones_for_geographical_number", return_value=unknown):
        assert reason_of(NYC) == f"no time zone is known for {NYC}: give one in a time-zone column"
        assert one_lead(f"phone,tz\n{NYC},Asia/Tokyo\n").time_zones == ("Asia/Tokyo",)


def test_a_zone_the_system_lacks() -> None:
    with mock.patch.object(
        lead_import, "time_zones_for_geographical_number", return_value=("America/Atlantis",)
    ):
        assert "may be in America/Atlantis, a zone this system's time-zone database lacks" in (
            reason_of(NYC)
        )


# --- a large file ----------------------------------------------------------------------------

AREAS = ("212", "646", "718", "917", "415", "312", "617", "202", "305", "713")
EXCHANGES = [e for e in range(200, 1000) if e % 100 != 11 and e not in (555, 950, 958, 959, 976)]
LARGE = 100_000  # rows; 1,000,000 takes ~100 s at ~10,000 rows/s (phonenumbers' parsing)


def generated_number(index: int) -> str:
    rest = index // len(AREAS)
    exchange = EXCHANGES[rest // 10_000 % len(EXCHANGES)]
    return f"+1{AREAS[index % len(AREAS)]}{exchange}{rest % 10_000:04d}"


class GeneratedLeads(io.RawIOBase):
    """A CSV file of ``rows`` leads made as it is read (never whole in memory). Every 1000th
    row repeats the number of the row before it; every 1000th from row 500 has no number."""

    def __init__(self, rows: int) -> None:
        self._rows = rows
        self._made = 0
        self._buffer = bytearray(b"phone,name,id,city,note\n")

    def readable(self) -> bool:
        return True

    def _row(self, index: int) -> str:
        number = generated_number(index - 1 if index % 1000 == 999 else index)
        if index % 1000 == 500:
            number = ""
        note = '"two\nlines"' if index % 100 == 7 else "plain"
        return f"{number},Person {index},{index},Springfield,{note}\n"

    def readinto(self, target: Any) -> int:
        while len(self._buffer) < len(target) and self._made < self._rows:
            end = min(self._made + 1000, self._rows)
            self._buffer += "".join(self._row(i) for i in range(self._made, end)).encode()
            self._made = end
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        del self._buffer[:size]
        return size


def expected_line(index: int) -> int:
    """The physical line of data row ``index`` (0-based) in GeneratedLeads."""
    # Row i starts after the header and rows 0..i-1, of which those with i % 100 == 7 span two.
    two_line_rows = index // 100 + (1 if index % 100 > 7 else 0)
    return 2 + index + two_line_rows


def stream_many(rows: int) -> None:
    """Run in a process of its own: read ``rows`` generated rows, check every one, print the
    figures (JSON)."""
    import resource

    start = time.perf_counter()
    leads = bad_rows = 0
    stream = io.BufferedReader(GeneratedLeads(rows))
    for index, item in enumerate(read_leads(stream, ColumnMapping(), region="US", source="big")):
        line = expected_line(index)
        assert item.line == line, (index, item)
        if index % 1000 == 999:
            assert isinstance(item, BadRow), item
            assert item.reason.startswith(f"duplicate of line {expected_line(index - 1)} ("), item
            bad_rows += 1
        elif index % 1000 == 500:
            assert item == BadRow(
                line, "no telephone number", f",Person {index},{index},Springfield,plain"
            )
            bad_rows += 1
        else:
            assert isinstance(item, ParsedLead), item
            assert item.number == generated_number(index)
            leads += 1
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"leads": leads, "bad": bad_rows, "seconds": seconds, "peak_kib": peak_kib}))


def _stream_in_a_process(rows: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from tests.unit.test_lead_import import stream_many; stream_many({rows})",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures: dict[str, Any] = json.loads(done.stdout)
    assert figures["leads"] == rows - 2 * (rows // 1000)
    assert figures["bad"] == 2 * (rows // 1000)
    return figures


def test_a_large_file_is_streamed() -> None:
    """LARGE rows, and a fifth of them, each in a fresh process: the peak memory grows by the
    numbers seen (~100 bytes each, for the duplicate check), far less than holding the rows
    would take (~1 KiB each as Python objects). The baseline (Python, the libraries,
    phonenumbers' metadata) differs between machines, so only the growth is compared."""
    small = _stream_in_a_process(LARGE // 5)
    large = _stream_in_a_process(LARGE)
    growth_kib = large["peak_kib"] - small["peak_kib"]
    rows = LARGE - LARGE // 5
    assert growth_kib < rows * 400 // 1024, (small, large)  # under 400 bytes a row
    print(f"\n{LARGE} rows: {large['seconds']:.1f} s, {LARGE / large['seconds']:.0f} rows/s")


# --- properties ------------------------------------------------------------------------------

SPECIAL_CHARS = [",", '"', "\r", "\n", "\r\n", " ", "\x00", "\x0c", "\u2028", "\x85", "\ufeff"]
CSV_CHARS = st.sampled_from([*SPECIAL_CHARS, "+", "é", "☎", *"0123456789abcphone;\t"])
ZONES = sorted(available_timezones())


@SOME
@given(
    text=st.lists(CSV_CHARS, max_size=200).map("".join),
    header=st.sampled_from(["", "phone\n", "phone,name,tz\n", "Phone;x\n"]),
    chunk=st.sampled_from([1, 2, 3, 64, 1 << 20]),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
@example(text='"', header="phone\n", chunk=1, encoding="utf-8")
def test_any_text_gives_rows_or_a_file_error(
    text: str, header: str, chunk: int, encoding: str
) -> None:
    data = (header + text).encode(encoding, errors="replace")
    with mock.patch.object(lead_import, "CHUNK_BYTES", chunk):
        try:
            items = parse(data, encoding=encoding)
        except LeadFileError:
            return
    lines = [item.line for item in items]
    assert lines == sorted(set(lines))
    assert all(isinstance(item, ParsedLead | BadRow) for item in items)


@SOME
@given(data=st.binary(max_size=300), chunk=st.sampled_from([1, 5, 1 << 20]))
def test_any_bytes_give_rows_or_a_file_error(data: bytes, chunk: int) -> None:
    with mock.patch.object(lead_import, "CHUNK_BYTES", chunk), contextlib.suppress(LeadFileError):
        parse(b"phone,tz,name\n" + data)


FIELD_CHARS = st.sampled_from(
    ["a", " ", ",", '"', "\r", "\n", "\r\n", "\x00", "\x0c", "\u2028", "\x85", "é", "5", "+"]
)
NUMBERS = st.sampled_from(
    ["", " ", NYC, NYC2, LONDON, "+12125551236", "+19002345678", "abc", "(212) 555-1237"]
)
ROW = st.tuples(
    NUMBERS,
    st.lists(FIELD_CHARS, max_size=8).map("".join),
    st.one_of(
        st.just(""), st.sampled_from(ZONES[:5]), st.lists(FIELD_CHARS, max_size=4).map("".join)
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),  # the line end after the row
    st.booleans(),  # quote every field
    st.sampled_from([0, 0, 0, -1, 1]),  # fields missing or added
)


def csv_field(value: str, quote_all: bool) -> str:
    if quote_all or any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


@SOME
@given(
    rows=st.lists(st.one_of(ROW, st.sampled_from(["\n", "\r\n", "\r"])), max_size=25),
    chunk=st.sampled_from([1, 2, 7, 1 << 20]),
)
def test_every_data_row_gives_one_result_on_its_line(rows: list[Any], chunk: int) -> None:
    text = "phone,name,tz\r\n"
    expected: list[int] = []
    for row in rows:
        line = 1 + len(re.findall(r"\r\n|\r|\n", text))
        if isinstance(row, str):  # an empty line
            text += row
            continue
        number, name, zone, end, quote_all, extra = row
        fields = [number, name, zone] + ["x"] * extra if extra >= 0 else [number, name]
        if not any(f.strip() for f in fields):
            fields = ["", "", "", "filler"]  # keep it a row, never a blank one
        if len(fields) == 1 and not quote_all and not fields[0]:
            quote_all = True
        text += ",".join(csv_field(f, quote_all) for f in fields) + end
        expected.append(line)
    # (A row ending in "\r" and an empty line "\n" after it make one "\r\n": the count of line
    # breaks in the text before each row, above, counts them as the reader must.)
    with mock.patch.object(lead_import, "CHUNK_BYTES", chunk):
        items = parse(text)
    assert [item.line for item in items] == expected


ALLOWED = (
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.VOIP,
)
FORMATS = (
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
)


@SOME
@given(
    region=st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)),
    kind=st.sampled_from(ALLOWED),
    form=st.sampled_from(FORMATS),
)
def test_a_valid_number_round_trips_to_e164(region: str, kind: int, form: int) -> None:
    example_number = phonenumbers.example_number_for_type(region, kind)
    assume(example_number is not None)
    assert example_number is not None
    e164 = phonenumbers.format_number(example_number, phonenumbers.PhoneNumberFormat.E164)
    written = phonenumbers.format_number(example_number, form)
    item = only(parse(f'phone\n"{written}"\n', region=region))
    if isinstance(item, BadRow):  # the only reason a valid number of these types may have
        assert item.reason == f"no time zone is known for {e164}: give one in a time-zone column"
        return
    assert item.number == e164
    assert item.region == phonenumbers.region_code_for_number(example_number)
    assert item.time_zones and set(item.time_zones) <= set(ZONES)


@SOME
@given(
    digits=st.text("0123456789", min_size=2, max_size=16),
    region=st.sampled_from(["US", "GB", "DE", "IN", "BR"]),
)
def test_digits_become_a_lead_exactly_when_phonenumbers_calls_them_dialable(
    digits: str, region: str
) -> None:
    try:
        parsed = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        parsed = None
    item = only(parse(f"phone\n{digits}\n", region=region))
    if parsed is None:
        assert isinstance(item, BadRow)
        return
    # The parser asks number_type() only; that is is_valid_number()'s own test.
    valid = phonenumbers.is_valid_number(parsed)
    assert valid == (phonenumbers.number_type(parsed) != phonenumbers.PhoneNumberType.UNKNOWN)
    dialable = (
        valid
        and phonenumbers.number_type(parsed) not in lead_import.REFUSED_TYPES
        and phonenumbers.region_code_for_number(parsed) != "001"
    )
    if isinstance(item, BadRow) and dialable:  # then the only reason there can be
        assert item.reason.startswith("no time zone is known for"), item
        return
    assert isinstance(item, ParsedLead) == dialable, item
    if isinstance(item, ParsedLead):
        assert item.number == phonenumbers.format_number(
            parsed, phonenumbers.PhoneNumberFormat.E164
        )
        # Digits after a +, within leads.number's 32 characters (phonenumbers accepts some
        # numbers longer than E.164's 15 digits, German ones for instance).
        assert re.fullmatch(r"\+[1-9][0-9]{2,30}", item.number)
