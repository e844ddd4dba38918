"""Storing a campaign's leads, as read from a file by ``callcenter.outbound.lead_import``
(the CLI's side; sync).

Leads go in by batches of ``INSERT ... ON CONFLICT (campaign, number) DO NOTHING RETURNING
number``: a number the campaign has already is left as it is (its state, attempts and data
untouched) and reported as "already there", so importing a file twice adds nothing the
second time. A whole import is one transaction, whatever the mode: it lands entirely or not
at all (an error, a file found broken half-way, Ctrl-C), and the dialer never sees half a file.

The two modes of :func:`import_file`:

* all-or-nothing (the default): one bad row and nothing is imported; every bad row is
  counted (the first ``keep_bad`` kept for the report) so that the file can be fixed at once;
* ``skip_bad``: bad rows are reported and left out, the good ones imported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.engine import Engine

from callcenter.outbound.lead_import import BadRow, ParsedLead
from db.models import Campaign

BATCH = 5000
MAX_BATCH = 100_000

# One statement a batch, whatever its size: the batch travels as one JSON document (made by
# json.dumps in C, parsed by PostgreSQL), which json_to_recordset() turns into rows. Many times
# faster than a VALUES list of thousands of rows (which the driver rewrites parameter by
# parameter) or columns as arrays (which it quotes element by element).
_INSERT = text(
    """
    INSERT INTO leads (campaign, number, time_zones, region, name, external_id, data, source)
    SELECT :campaign, t.n, t.z, t.r, t.m, t.x, t.d, t.s
    FROM json_to_recordset(CAST(:rows AS json))
        AS t(n text, z jsonb, r text, m text, x text, d jsonb, s text)
    ON CONFLICT (campaign, number) DO NOTHING
    RETURNING number
    """
)


class LeadImportError(ValueError):
    """An import that cannot be carried out (the message says why)."""


@dataclass
class ImportResult:
    inserted: int = 0
    # (line, number) of the leads the campaign had already: the first ``keep_already`` of them
    # (all by default); already_there_count counts them all.
    already_there: list[tuple[int, str]] = field(default_factory=list)
    already_there_count: int = 0


@dataclass
class FileImport:
    """What :func:`import_file` did. ``committed`` false: nothing was imported (bad rows in
    all-or-nothing mode), and ``result`` is empty."""

    result: ImportResult
    bad: list[BadRow]  # the first ``keep_bad`` bad rows, in file order
    bad_count: int
    committed: bool


def _campaign(connection: Connection, campaign: str) -> Any:
    row = connection.execute(
        select(Campaign.name, Campaign.region)
        .where(Campaign.name == campaign)
        .with_for_update(key_share=True, read=True)
    ).first()
    if row is None:
        names = list(
            connection.execute(select(Campaign.name).order_by(Campaign.name).limit(11)).scalars()
        )
        if not names:
            raise LeadImportError(f"no campaign {campaign!r}: there are no campaigns yet")
        listing = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise LeadImportError(f"no campaign {campaign!r} (the campaigns: {listing})")
    return row


def campaign_region(engine: Engine, campaign: str) -> str:
    """The campaign's default region for numbers (LeadImportError if there is no such
    campaign)."""
    with engine.connect() as connection:
        return str(_campaign(connection, campaign).region)


def insert_leads(
    connection: Connection,
    campaign: str,
    rows: Iterable[ParsedLead],
    *,
    batch: int = BATCH,
    on_batch: Callable[[int], None] | None = None,
    keep_already: int | None = None,
) -> ImportResult:
    """Insert ``rows`` into ``campaign`` on ``connection``, in the caller's transaction.

    ``on_batch`` is called after each batch with the number of rows handled so far."""
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch is 1 to {MAX_BATCH} rows (got {batch})")
    result = ImportResult()
    handled = 0
    iterator = iter(rows)
    while chunk := list(islice(iterator, batch)):
        document = json.dumps(
            [
                {
                    "n": lead.number,
                    "z": lead.time_zones,
                    "r": lead.region,
                    "m": lead.name,
                    "x": lead.external_id,
                    "d": lead.data,
                    "s": lead.source or None,
                }
                for lead in chunk
            ],
            ensure_ascii=False,
        )
        new = set(connection.execute(_INSERT, {"campaign": campaign, "rows": document}).scalars())
        for lead in chunk:
            if lead.number in new:
                new.discard(lead.number)  # a number twice in rows: the second is "already"
                result.inserted += 1
            else:
                result.already_there_count += 1
                if keep_already is None or len(result.already_there) < keep_already:
                    result.already_there.append((lead.line, lead.number))
        handled += len(chunk)
        if on_batch is not None:
            on_batch(handled)
    return result


def import_leads(
    engine: Engine,
    campaign: str,
    rows: Iterable[ParsedLead],
    *,
    batch: int = BATCH,
    on_batch: Callable[[int], None] | None = None,
    keep_already: int | None = None,
) -> ImportResult:
    """Add ``rows`` to ``campaign`` in one transaction (see the module's docstring).

    LeadImportError if there is no such campaign; an exception raised while iterating
    ``rows`` (a LeadFileError half-way through a file) rolls everything back and goes on."""
    with engine.begin() as connection:
        _campaign(connection, campaign)
        return insert_leads(
            connection,
            campaign,
            rows,
            batch=batch,
            on_batch=on_batch,
            keep_already=keep_already,
        )


def import_file(
    engine: Engine,
    campaign: str,
    items: Iterable[ParsedLead | BadRow],
    *,
    skip_bad: bool,
    batch: int = BATCH,
    on_batch: Callable[[int], None] | None = None,
    keep_bad: int = 50,
    keep_already: int | None = None,
) -> FileImport:
    """Import what ``read_leads`` gives, all-or-nothing or skipping bad rows (``skip_bad``).

    Every item is read either way (to count the bad rows); in all-or-nothing mode the good
    rows after the first bad one are not even sent to the database."""
    bad: list[BadRow] = []
    bad_count = 0

    def good() -> Iterator[ParsedLead]:
        nonlocal bad_count
        for item in items:
            if isinstance(item, BadRow):
                bad_count += 1
                if len(bad) < keep_bad:
                    bad.append(item)
            elif skip_bad or not bad_count:
                yield item

    with engine.connect() as connection, connection.begin() as transaction:
        _campaign(connection, campaign)
        result = insert_leads(
            connection,
            campaign,
            good(),
            batch=batch,
            on_batch=on_batch,
            keep_already=keep_already,
        )
        if bad_count and not skip_bad:
            transaction.rollback()
            return FileImport(ImportResult(), bad, bad_count, committed=False)
    return FileImport(result, bad, bad_count, committed=True)
