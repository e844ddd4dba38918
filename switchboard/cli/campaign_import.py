"""`switchboard campaign import CAMPAIGN FILE`: a campaign's leads from a CSV file.

The rules for the file (columns, numbers refused, time zones, line numbers) are in
``callcenter/outbound/lead_import.py``; how leads are stored (one transaction, numbers already
there left alone) in ``db/lead_store.py``. Exit status: 0 imported (bad rows skipped with
--skip-bad included), 1 the file was rejected or the import failed (nothing imported), 2 a
usage error (bad option, no such file)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from switchboard.cli.common import fail, load_settings

if TYPE_CHECKING:
    from callcenter.outbound.lead_import import BadRow, ParsedLead

# How many bad rows the report shows (all are counted).
SHOWN_BAD = 50
# How many lines of leads already there the report names.
SHOWN_ALREADY = 10
# Files smaller than this are read too quickly for a progress bar to be of use.
PROGRESS_MIN_BYTES = 1 << 20

errors = Console(stderr=True, soft_wrap=True)


def _output() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _bad_table(rows: list[BadRow], count: int) -> Table:
    shown = f" (the first {len(rows)})" if count > len(rows) else ""
    table = Table("line", "reason", "row", title=f"{_plural(count, 'bad row')}{shown}")
    for row in rows:
        table.add_row(str(row.line), Text(row.reason), Text(_printable(row.text, 60)))
    return table


def _printable(text: str, limit: int) -> str:
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return shown + ("…" if len(text) > limit else "")


def _tracked(
    items: Iterable[ParsedLead | BadRow], stream: IO[bytes], size: int
) -> Iterator[ParsedLead | BadRow]:
    """``items`` with a progress bar (on stderr, by bytes read) when it is worth one."""
    if size < PROGRESS_MIN_BYTES or not errors.is_terminal:
        yield from items
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task("reading", total=size)
        for count, item in enumerate(items, 1):
            if count % 2000 == 0:
                progress.update(task, completed=stream.tell(), description=f"{count:,} rows")
            yield item


def import_leads(
    campaign: str = typer.Argument(..., help="The campaign to add the leads to."),
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="A CSV file whose first line names the columns.",
    ),
    map: list[str] | None = typer.Option(
        None,
        "--map",
        metavar="FIELD=COLUMN",
        help="Which column holds a field: number, timezone, name or external_id, e.g. "
        "--map number=Phone --map name='Full name'. Repeat for several. Unmapped, the number "
        "is looked for under phone, number, telephone, mobile...; the other columns go to the "
        "lead's data. --map timezone= : no time-zone column.",
    ),
    region: str | None = typer.Option(
        None,
        "--region",
        help="Country whose plan numbers without + are read in (ISO code such as US or GB; "
        "default: the campaign's region).",
    ),
    encoding: str = typer.Option(
        "utf-8", "--encoding", help="The file's encoding (utf-8 with or without BOM, cp1252...)."
    ),
    skip_bad: bool = typer.Option(
        False,
        "--skip-bad",
        help="Import the good rows and report the bad ones. Without it, one bad row and "
        "nothing is imported.",
    ),
    delimiter: str = typer.Option(
        ",", "--delimiter", help="The field separator: one character, or 'tab'."
    ),
) -> None:
    """Import leads from a CSV file. Numbers the campaign has already are left as they are, so
    importing a file again adds nothing. Each lead gets the time zones of its number (or those
    of a time-zone column); premium-rate and similar numbers are refused."""
    from sqlalchemy.exc import OperationalError

    from callcenter.outbound.lead_import import (
        ColumnMapping,
        LeadFileError,
        MappingError,
        check_delimiter,
        check_encoding,
        check_region,
        read_leads,
    )
    from db.engine import sync_engine
    from db.lead_store import LeadImportError, campaign_region, import_file

    try:
        mapping = ColumnMapping.from_options(map)
        check_encoding(encoding)
        delimiter = check_delimiter(delimiter)
        if region is not None:
            region = check_region(region)
    except (MappingError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    engine = sync_engine(load_settings().database_url)
    try:
        if region is None:
            stored = campaign_region(engine, campaign)
            try:
                region = check_region(stored)
            except ValueError:
                raise LeadImportError(
                    f"campaign {campaign}'s region {stored!r} is no country code phonenumbers "
                    "knows; give one with --region"
                ) from None
        with file.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            try:
                items = read_leads(
                    stream,
                    mapping,
                    region=region,
                    encoding=encoding,
                    source=file.name,
                    delimiter=delimiter,
                )
                outcome = import_file(
                    engine,
                    campaign,
                    _tracked(items, stream, size),
                    skip_bad=skip_bad,
                    keep_bad=SHOWN_BAD,
                    keep_already=SHOWN_ALREADY,
                )
            except LeadFileError as exc:
                raise fail(f"{file}: {exc}; nothing imported") from None
    except LeadImportError as exc:
        raise fail(str(exc)) from None
    except OperationalError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        raise fail(f"the database: {first}; nothing imported") from None
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror or exc}", 2) from None
    except KeyboardInterrupt:
        raise fail("interrupted: nothing imported", 130) from None
    finally:
        engine.dispose()

    out = _output()
    if outcome.bad:
        out.print(_bad_table(outcome.bad, outcome.bad_count))
    if not outcome.committed:
        raise fail(
            f"{file}: {_plural(outcome.bad_count, 'bad row')}, so nothing was imported; fix "
            "them, or import the other rows with --skip-bad"
        )
    result = outcome.result
    parts = [f"{result.inserted} imported", f"{result.already_there_count} already there"]
    if outcome.bad_count:
        parts.append(f"{_plural(outcome.bad_count, 'bad row')} skipped")
    out.print(Text(f"{file.name} -> {campaign}: {', '.join(parts)}"))
    if result.already_there:
        lines = ", ".join(str(line) for line, _ in result.already_there)
        more = ", ..." if result.already_there_count > len(result.already_there) else ""
        out.print(Text(f"already there (the campaign has these numbers): lines {lines}{more}"))
