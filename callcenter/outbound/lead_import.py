"""Reading an outbound campaign's leads from a CSV file (no database here: see
``db/lead_store.py`` for storing them and ``switchboard campaign import`` for the command).

The file is read as a stream: a file of millions of rows never sits in memory, only the set of
numbers seen so far (to report duplicates within the file). Each data row becomes either a
:class:`ParsedLead` or a :class:`BadRow` (with the reason), in file order; problems with the
file as a whole (no header, a missing column, bytes that are not in the file's encoding, ...)
raise :class:`LeadFileError`.

Rules (docs for operators; the command's help points here):

* The first non-empty line is the header. A UTF-8 byte-order mark is accepted. Lines that are
  empty, or whose fields are all blank (``,,,`` as spreadsheets export), are skipped silently.
* ``line`` is the physical line number in the file (the header on line 1 when the file starts
  with it): a quoted field that spans lines counts every line it spans, and a row's number is
  the line it starts on. Line ends are ``\\n``, ``\\r\\n`` or a lone ``\\r``.
* Columns: the number (required), a time zone, the name and an external id; every other column
  goes to the lead's ``data`` (values kept exactly, blank ones included). Without ``--map``,
  each is looked for under common header names (case, spaces and dashes don't matter, see
  ``NUMBER_HEADERS`` ...); two candidates for the number is an error, for the others the column
  is left to ``data``. ``--map timezone=`` (nothing after ``=``) turns the look-up off.
* Numbers: without a ``+`` (or an international prefix such as 00/011) they are read in the
  campaign's region. A row is bad when its number is missing, holds control characters (NUL
  included), does not parse, has an extension (a dialer cannot dial one), is not valid
  (``phonenumbers.is_valid_number``), belongs to a global network (+800, +808, +870, +88x: no
  country, satellite and other costly services), or is of a type a dialer must not call:
  premium rate, shared cost, UAN (companies' "universal access" numbers), voicemail access,
  pager and personal numbers (forwarding numbers such as the UK's 070, charged like premium
  ones). Toll-free, fixed, mobile and VoIP numbers are fine.
* Time zones: from the time-zone column when the row has a value there (one IANA name, or
  several separated by ``;``; case does not matter, the stored name is the canonical one);
  otherwise every zone the number may be in (``phonenumbers.timezone``): the dialer requires
  its calling window to hold in each of them. A row whose number gives no zone and that has
  none in the column is bad; there is no fallback to the campaign's region.
* A NUL character anywhere in a row makes it bad (PostgreSQL cannot store one).
* A number seen on an earlier good row makes the later row bad: ``duplicate of line N``.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import BinaryIO, NamedTuple
from zoneinfo import available_timezones

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers.timezone import (
    UNKNOWN_TIMEZONE,
    time_zones_for_geographical_number,
    time_zones_for_number,
)

CHUNK_BYTES = 1 << 20
# A line longer than this (in characters) is not a CSV line of leads: the file is something
# else, or it is read in the wrong encoding. Keeps memory bounded on such files.
MAX_LINE_CHARS = 1 << 20
# How much of a bad row's text a BadRow keeps.
MAX_TEXT_CHARS = 300

NUMBER_HEADERS = (
    "phone",
    "number",
    "phone_number",
    "phonenumber",
    "phone_no",
    "telephone",
    "telephone_number",
    "tel",
    "mobile",
    "mobile_number",
    "cell",
    "cell_phone",
    "cellphone",
    "msisdn",
    "e164",
)
TIMEZONE_HEADERS = ("timezone", "time_zone", "tz")
NAME_HEADERS = ("name", "full_name", "fullname")
EXTERNAL_ID_HEADERS = ("external_id", "externalid", "id")

# The fields --map knows, with the other spellings it accepts for them.
FIELDS = {
    "number": ("number", "phone"),
    "timezone": ("timezone", "time_zone", "tz"),
    "name": ("name",),
    "external_id": ("external_id", "id"),
}

# Numbers a dialer must not call, by phonenumbers' type (see the module's docstring).
REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.UAN: "a universal access number (UAN)",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
    PhoneNumberType.PAGER: "a pager number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
}
NON_GEO_REGION = "001"

_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "no such country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a telephone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SEPARATORS = re.compile(r"[\s\-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class LeadFileError(Exception):
    """The file cannot be read as leads at all (the message says why, and where)."""


class MappingError(ValueError):
    """A ``--map`` option that makes no sense (a usage error, before any file is read)."""


@dataclass(frozen=True, slots=True)
class ParsedLead:
    line: int  # physical line the row starts on
    number: str  # E.164
    time_zones: tuple[str, ...]  # IANA names, at least one
    region: str  # ISO 3166 code of the number's country
    name: str | None
    external_id: str | None
    data: dict[str, str] = field(hash=False)
    source: str = ""  # "FILE:LINE", kept with the lead


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str
    text: str  # the row as it is in the file (shortened), for reports


def _normal(header: str) -> str:
    return _SEPARATORS.sub("_", header.strip().lower())


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns hold what. ``None``: look for a column under common names; ``""`` (only for
    the optional fields): no such column, whatever the header says."""

    number: str | None = None
    timezone: str | None = None
    name: str | None = None
    external_id: str | None = None

    @classmethod
    def from_options(cls, options: Iterable[str] | None) -> ColumnMapping:
        """From ``--map FIELD=COLUMN`` options (FIELD: number, timezone, name, external_id)."""
        chosen: dict[str, str] = {}
        for option in options or ():
            key, equals, column = option.partition("=")
            if not equals:
                raise MappingError(f"--map {option!r}: give FIELD=COLUMN, e.g. number=Phone")
            wanted = _normal(key)
            target = next((f for f, names in FIELDS.items() if wanted in names), None)
            if target is None:
                raise MappingError(
                    f"--map {option!r}: no field {key.strip()!r}; "
                    f"the fields are {', '.join(FIELDS)} (other columns go to the lead's data)"
                )
            if target in chosen:
                raise MappingError(f"--map: {target} is mapped twice")
            column = column.strip()
            if target == "number" and not column:
                raise MappingError("--map number=COLUMN needs a column name")
            chosen[target] = column
        return cls(**chosen)


class _Columns(NamedTuple):
    number: int
    timezone: int | None
    name: int | None
    external_id: int | None
    data: tuple[tuple[int, str], ...]  # (index, key in data)
    width: int


def _find(header: list[str], wanted: str, role: str) -> int:
    exact = [i for i, h in enumerate(header) if h == wanted]
    if not exact:
        exact = [i for i, h in enumerate(header) if _normal(h) == _normal(wanted)]
    if len(exact) == 1:
        return exact[0]
    if exact:
        raise LeadFileError(
            f"the header has {len(exact)} columns named {wanted!r} (for the {role}); "
            "rename all but one"
        )
    raise LeadFileError(
        f"no column {wanted!r} (for the {role}) in the header; the columns are: {_listing(header)}"
    )


def _listing(header: list[str]) -> str:
    return ", ".join(repr(h) for h in header) or "(none)"


def _guess(header: list[str], names: tuple[str, ...]) -> list[int]:
    normal = [_normal(h) for h in header]
    for name in names:  # the first name present wins (phone before mobile ...)
        found = [i for i, n in enumerate(normal) if n == name]
        if found:
            return found
    return []


def _looks_like_numbers(header: list[str], region: str) -> str | None:
    for cell in header:
        try:
            parsed = phonenumbers.parse(cell, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return cell
    return None


def _resolve(mapping: ColumnMapping, header: list[str], region: str) -> _Columns:
    if mapping.number is not None:
        number = _find(header, mapping.number, "number")
    else:
        candidates = [i for name in NUMBER_HEADERS for i in _guess(header, (name,))]
        if not candidates:
            cell = _looks_like_numbers(header, region)
            if cell is not None:
                raise LeadFileError(
                    "the file has no header line: its first line holds a telephone number "
                    f"({cell!r}); add a line naming the columns (e.g. phone,name) first"
                )
            raise LeadFileError(
                "no column for the telephone number in the header (looked for "
                f"{', '.join(NUMBER_HEADERS)}); the columns are: {_listing(header)}; "
                "say which with --map number=COLUMN"
            )
        if len(candidates) > 1:
            raise LeadFileError(
                "several columns may hold the telephone number: "
                f"{', '.join(repr(header[i]) for i in candidates)}; "
                "choose one with --map number=COLUMN"
            )
        number = candidates[0]

    def optional(given: str | None, names: tuple[str, ...], role: str) -> int | None:
        if given == "":
            return None
        if given is not None:
            return _find(header, given, role)
        found = _guess(header, names)
        return found[0] if len(found) == 1 else None

    timezone = optional(mapping.timezone, TIMEZONE_HEADERS, "time zone")
    name = optional(mapping.name, NAME_HEADERS, "name")
    external_id = optional(mapping.external_id, EXTERNAL_ID_HEADERS, "external id")
    roles = {"number": number, "time zone": timezone, "name": name, "external id": external_id}
    used: dict[int, str] = {}
    for role, index in roles.items():
        if index is None:
            continue
        if index in used:
            raise LeadFileError(
                f"column {header[index]!r} is mapped to both the {used[index]} and the {role}"
            )
        used[index] = role

    data: list[tuple[int, str]] = []
    keys: set[str] = set()
    for index, title in enumerate(header):
        if index in used:
            continue
        key = title.strip() or f"column{index + 1}"
        if key in keys:
            suffix = 2
            while f"{key}_{suffix}" in keys:
                suffix += 1
            key = f"{key}_{suffix}"
        keys.add(key)
        data.append((index, key))
    return _Columns(number, timezone, name, external_id, tuple(data), len(header))


# --- the file's lines -----------------------------------------------------------------------


def _breaks(text: str) -> int:
    return len(_LINE_BREAK.findall(text))


class _Lines:
    """The decoded file, one physical line at a time (line end kept), for ``csv.reader``.

    Decoding is done here, by chunks, so that bytes that are not in the encoding are reported
    with their line; lines end only at ``\\n``, ``\\r\\n`` or ``\\r`` (not at the other breaks
    ``str.splitlines`` knows, which may be data). ``count`` is the number of lines handed out,
    ``record`` the lines handed out since the caller last cleared it (the current row's text).
    """

    def __init__(self, stream: BinaryIO, encoding: str, shown: str) -> None:
        self._stream = stream
        self._encoding = encoding
        self._shown = shown  # the encoding as the user named it, for messages
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._ready: list[str] = []
        self._next = 0
        self._tail = ""
        self._done = False
        self.count = 0
        self.record: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._next >= len(self._ready):
            self._fill()
        line = self._ready[self._next]
        self._next += 1
        self.count += 1
        self.record.append(line)
        return line

    def _fill(self) -> None:
        self._ready = []
        self._next = 0
        while not self._ready:
            if self._done:
                raise StopIteration
            chunk = self._stream.read(CHUNK_BYTES)
            final = not chunk
            try:
                text = self._tail + self._decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                raise self._undecodable(exc) from None
            except UnicodeError as exc:  # utf-16 and utf-32 with no BOM, idna, punycode...
                raise self._unreadable(exc) from None
            self._done = final
            self._tail = ""
            pending = ""
            for piece in text.splitlines(keepends=True):
                if piece[-1] in "\r\n":
                    self._ready.append(pending + piece if pending else piece)
                    pending = ""
                else:  # split at a break that is not a line end here, or the text's end
                    pending += piece
            if not final and not pending and self._ready and self._ready[-1][-1] == "\r":
                pending = self._ready.pop()  # a "\n" may follow in the next chunk
            if final and pending:
                self._ready.append(pending)
            elif len(pending) > MAX_LINE_CHARS:
                raise LeadFileError(
                    f"line {self.count + len(self._ready) + 1}: longer than {MAX_LINE_CHARS} "
                    "characters; this is not a CSV file of leads (or --encoding is wrong)"
                )
            else:
                self._tail = pending

    def _unreadable(self, exc: UnicodeError) -> LeadFileError:
        """A codec that fails without saying where: the line the failing chunk starts on."""
        if "does not start with BOM" in str(exc):
            hint = (
                "a UTF-16 or UTF-32 file without a byte-order mark: give its byte order with "
                "--encoding (utf-16-le, utf-16-be, utf-32-le or utf-32-be)"
            )
        else:
            hint = "give its encoding with --encoding (e.g. --encoding cp1252, latin-1 or utf-16)"
        return LeadFileError(
            f"line {self.count + _breaks(self._tail) + 1} or after: the file cannot be read as "
            f"{self._shown} text (the codec says {_visible(str(exc), 80)}); {hint}"
        )

    def _undecodable(self, exc: UnicodeDecodeError) -> LeadFileError:
        try:
            before = bytes(exc.object[: exc.start]).decode(self._encoding, errors="replace")
        except UnicodeError:  # a codec without "replace" (idna): count the line ends in bytes
            before = bytes(exc.object[: exc.start]).decode("latin-1")
        line = self.count + _breaks(self._tail + before) + 1
        bad = bytes(exc.object[exc.start : exc.end])
        return LeadFileError(
            f"line {line}: bytes that are not {self._shown} text ({bad!r}); if the file is "
            "in another encoding, give it with --encoding (e.g. --encoding cp1252, latin-1 or "
            "utf-16)"
        )


# --- rows ------------------------------------------------------------------------------------


@cache
def _zone_names() -> dict[str, str]:
    """Every IANA zone name this system knows, by its lower-case spelling."""
    return {name.lower(): name for name in available_timezones()}


def _visible(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message, shortened, control and other invisible characters
    written as escapes (``\\x1b``) so that a message never carries them."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return f"'{shown}{'…' if len(text) > limit else ''}'"


def _number_problem(text: str) -> str | None:
    found = _CONTROL.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "the number holds a NUL character"
    return f"the number holds a control character (U+{ord(found.group()):04X})"


class _Reader:
    def __init__(
        self,
        stream: BinaryIO,
        mapping: ColumnMapping,
        region: str,
        encoding: str,
        source: str,
        delimiter: str,
    ) -> None:
        self._lines = _Lines(stream, check_encoding(encoding), encoding)
        self._rows = csv.reader(self._lines, delimiter=delimiter)
        self._region = region
        self._source = source
        self._seen: dict[int, int] = {}  # E.164 digits -> line of the good row
        header = self._header()
        if header is None:
            raise LeadFileError("the file is empty (no header line, no rows)")
        header[0] = header[0].removeprefix("\ufeff")
        if any("\x00" in cell for cell in header):
            raise LeadFileError("the header line holds a NUL character: is this a CSV file?")
        self._header_names = [h.strip() for h in header]
        self._columns = _resolve(mapping, self._header_names, region)

    def _record(self) -> tuple[int, list[str]] | None:
        """The next row and the line it starts on (None at the end)."""
        start = self._lines.count + 1
        self._lines.record.clear()
        try:
            row = next(self._rows, None)
        except csv.Error as exc:
            hint = " (a quote that never closes?)" if "field larger" in str(exc) else ""
            raise LeadFileError(f"line {start}: {exc}{hint}") from None
        return None if row is None else (start, row)

    def _header(self) -> list[str] | None:
        while (record := self._record()) is not None:
            if any(cell.strip() for cell in record[1]):
                return record[1]
        return None

    def rows(self) -> Iterator[ParsedLead | BadRow]:
        while (record := self._record()) is not None:
            line, row = record
            if not any(cell.strip() for cell in row):
                continue
            yield self._row(line, row)

    def _bad(self, line: int, reason: str) -> BadRow:
        text = "".join(self._lines.record).rstrip("\r\n")
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS] + "…"
        return BadRow(line, reason, text)

    def _row(self, line: int, row: list[str]) -> ParsedLead | BadRow:
        columns = self._columns
        if len(row) != columns.width:
            return self._bad(
                line, f"{len(row)} field(s) where the header has {columns.width} column(s)"
            )
        for index, cell in enumerate(row):
            if "\x00" in cell and index != columns.number:
                return self._bad(line, f"a NUL character in column {self._header_names[index]!r}")
        text = row[columns.number].strip()
        if not text:
            return self._bad(line, "no telephone number")
        problem = _number_problem(text)
        if problem is not None:
            return self._bad(line, problem)
        try:
            parsed = phonenumbers.parse(text, self._region)
        except phonenumbers.NumberParseException as exc:
            reason = _PARSE_ERRORS.get(exc.error_type, "not a telephone number")
            return self._bad(line, f"{_visible(text)}: {reason}")
        if parsed.extension:
            return self._bad(line, f"{_visible(text)} has an extension, which a dialer cannot dial")
        # number_type() is UNKNOWN exactly when is_valid_number() is false (both apply the
        # same patterns of the number's region; a unit test keeps that true); asking once
        # saves a third of the time per row.
        kind = phonenumbers.number_type(parsed)
        number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if kind == PhoneNumberType.UNKNOWN:
            return self._bad(line, f"{_visible(text)} is not a valid number ({number})")
        region = phonenumbers.region_code_for_number(parsed)
        if region is None or region == NON_GEO_REGION:
            return self._bad(line, f"{number} is a global network number (no country): not dialed")
        refused = REFUSED_TYPES.get(kind)
        if refused is not None:
            return self._bad(line, f"{number} is {refused}: not dialed")

        zones: tuple[str, ...] | None = None
        if columns.timezone is not None and row[columns.timezone].strip():
            zones = self._column_zones(row[columns.timezone])
            if zones is None:
                return self._bad(
                    line,
                    f"unknown time zone {_visible(row[columns.timezone].strip())} (an IANA "
                    "name such as America/New_York)",
                )
        else:
            if phonenumbers.is_number_type_geographical(kind, parsed.country_code or 0):
                found = time_zones_for_geographical_number(parsed)
            else:
                found = time_zones_for_number(parsed)
            names = _zone_names()
            zones = tuple(z for z in found if z != UNKNOWN_TIMEZONE)
            if not zones:
                return self._bad(
                    line, f"no time zone is known for {number}: give one in a time-zone column"
                )
            unknown = [z for z in zones if z.lower() not in names]
            if unknown:
                return self._bad(
                    line,
                    f"{number} may be in {', '.join(unknown)}, a zone this system's time-zone "
                    "database lacks (update tzdata)",
                )

        key = int(number[1:])
        first = self._seen.get(key)
        if first is not None:
            return self._bad(line, f"duplicate of line {first} ({number})")
        self._seen[key] = line

        name = (row[columns.name].strip() or None) if columns.name is not None else None
        external_id = (
            (row[columns.external_id].strip() or None) if columns.external_id is not None else None
        )
        return ParsedLead(
            line=line,
            number=number,
            time_zones=zones,
            region=region,
            name=name,
            external_id=external_id,
            data={key: row[index] for index, key in columns.data},
            source=f"{self._source}:{line}" if self._source else str(line),
        )

    def _column_zones(self, value: str) -> tuple[str, ...] | None:
        names = _zone_names()
        zones: list[str] = []
        for part in value.split(";"):
            part = part.strip()
            if not part:
                continue
            canonical = names.get(part.lower())
            if canonical is None:
                return None
            if canonical not in zones:
                zones.append(canonical)
        return tuple(zones) or None


def check_region(region: str) -> str:
    """The ISO 3166 code in upper case, if phonenumbers knows its numbering plan."""
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {region!r}: an ISO 3166 country code such as US or GB")
    return code


def check_encoding(encoding: str) -> str:
    """The codec's canonical name (``utf-8-sig`` for UTF-8: a byte-order mark is accepted)."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"{encoding!r} is not a text encoding")
    return "utf-8-sig" if info.name == "utf-8" else info.name


def check_delimiter(delimiter: str) -> str:
    """One character; ``\\t`` and ``tab`` mean a tab."""
    if delimiter in ("\\t", "tab", "TAB"):
        return "\t"
    if len(delimiter) != 1 or delimiter in '\r\n"' or delimiter == "\x00":
        raise ValueError(
            f"the delimiter is one character other than a quote or a line end (got {delimiter!r})"
        )
    return delimiter


def read_leads(
    stream: BinaryIO,
    mapping: ColumnMapping,
    *,
    region: str,
    encoding: str = "utf-8",
    source: str = "",
    delimiter: str = ",",
) -> Iterator[ParsedLead | BadRow]:
    """The leads of a CSV file, one ParsedLead or BadRow per non-empty data row, in order.

    The header is read at once: problems with the file as a whole raise LeadFileError here,
    before any row (bytes undecodable further on, or a quote that never closes, raise it when
    reached). ``region`` reads numbers written without a country code; ``source`` (the file's
    name) becomes each lead's ``source`` as ``SOURCE:LINE``. ValueError for a bad region,
    encoding or delimiter.
    """
    reader = _Reader(
        stream,
        mapping,
        check_region(region),
        encoding,
        source,
        check_delimiter(delimiter),
    )
    return reader.rows()
