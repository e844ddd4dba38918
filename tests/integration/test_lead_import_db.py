"""Importing a campaign's leads into a real PostgreSQL (db/lead_store.py) and through the
command (switchboard/cli/campaign_import.py): all-or-nothing against --skip-bad, importing
again adds nothing, an unknown campaign, line numbers in the report. No Asterisk.

Each test has a campaign (and its queue) of its own, deleted afterwards with its leads."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from callcenter.outbound import lead_import
from callcenter.outbound.lead_import import (
    BadRow,
    ColumnMapping,
    LeadFileError,
    ParsedLead,
    read_leads,
)
from db.engine import sync_engine
from db.lead_store import (
    FileImport,
    ImportResult,
    LeadImportError,
    campaign_region,
    import_file,
    import_leads,
)
from switchboard.cli.campaign_import import import_leads as import_command
from tests.support import query

pytestmark = pytest.mark.integration

NYC = "+12125551234"
NYC2 = "+12125551235"
NYC3 = "+12125551236"
GOOD = f"phone,name,id,city\n{NYC},Ann,a1,Paris\n{NYC2},Bob,,Rome\n"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = sync_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine
    engine.dispose()


def make_campaign(url: str, region: str = "US") -> str:
    name = f"leads-{secrets.token_hex(4)}"
    query(url, "INSERT INTO queues (name) VALUES (%s)", name)
    query(
        url,
        "INSERT INTO campaigns (name, queue, caller_id, region) VALUES (%s, %s, %s, %s)",
        name,
        name,
        "+12125550100",
        region,
    )
    return name


@pytest.fixture
def campaigns(database_url: str) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        query(database_url, "DELETE FROM campaigns WHERE name = %s", name)  # leads cascade
        query(database_url, "DELETE FROM queues WHERE name = %s", name)


@pytest.fixture
def campaign(database_url: str, campaigns: list[str]) -> str:
    campaigns.append(make_campaign(database_url))
    return campaigns[-1]


def leads(url: str, campaign: str) -> list[dict[str, Any]]:
    return query(url, "SELECT * FROM leads WHERE campaign = %s ORDER BY id", campaign)


def rows_of(text: str, source: str = "leads.csv") -> Iterator[ParsedLead | BadRow]:
    return read_leads(io.BytesIO(text.encode()), ColumnMapping(), region="US", source=source)


def good_rows(text: str) -> list[ParsedLead]:
    return [r for r in rows_of(text) if isinstance(r, ParsedLead)]


# --- the store ---------------------------------------------------------------------------------


def test_leads_are_stored_with_their_zones_data_and_source(
    engine: Engine, database_url: str, campaign: str
) -> None:
    text = GOOD + '+447400123456,Cy,c3,"London\nUK"\n'
    result = import_leads(engine, campaign, good_rows(text))
    assert result == ImportResult(inserted=3, already_there=[], already_there_count=0)
    stored = leads(database_url, campaign)
    assert [
        (r["number"], r["time_zones"], r["region"], r["name"], r["external_id"], r["data"])
        for r in stored
    ] == [
        (NYC, ["America/New_York"], "US", "Ann", "a1", {"city": "Paris"}),
        (NYC2, ["America/New_York"], "US", "Bob", None, {"city": "Rome"}),
        (
            "+447400123456",
            ["Europe/Guernsey", "Europe/Isle_of_Man", "Europe/Jersey", "Europe/London"],
            "GB",
            "Cy",
            "c3",
            {"city": "London\nUK"},
        ),
    ]
    assert [r["source"] for r in stored] == ["leads.csv:2", "leads.csv:3", "leads.csv:4"]
    # Ready for the dialer: pending, first-attempt priority, due at once, never tried.
    assert {
        (r["state"], r["priority"], r["next_attempt_at"], r["attempts"], r["lease_owner"])
        for r in stored
    } == {("pending", 2, None, 0, None)}


def test_importing_again_adds_nothing_and_leaves_leads_as_they_are(
    engine: Engine, database_url: str, campaign: str
) -> None:
    import_leads(engine, campaign, good_rows(GOOD))
    query(
        database_url,
        "UPDATE leads SET state = 'done', attempts = 3, name = 'kept' WHERE number = %s",
        NYC,
    )
    before = leads(database_url, campaign)
    again = good_rows(GOOD.replace("Ann", "Changed") + f"{NYC3},New,,\n")
    result = import_leads(engine, campaign, again)
    assert result == ImportResult(
        inserted=1, already_there=[(2, NYC), (3, NYC2)], already_there_count=2
    )
    after = leads(database_url, campaign)
    assert after[:2] == before
    assert after[2]["number"] == NYC3
    assert import_leads(engine, campaign, again, keep_already=1) == ImportResult(
        inserted=0, already_there=[(2, NYC)], already_there_count=3
    )


def test_batches(engine: Engine, database_url: str, campaign: str) -> None:
    text = "phone\n" + "".join(f"+1212200{i:04d}\n" for i in range(7))
    seen: list[int] = []
    result = import_leads(engine, campaign, good_rows(text), batch=3, on_batch=seen.append)
    assert (result.inserted, seen) == (7, [3, 6, 7])
    # The same number twice in what a caller passes: the second is "already there".
    twice = good_rows("phone\n+12125559999\n") * 2
    assert import_leads(engine, campaign, twice) == ImportResult(1, [(2, "+12125559999")], 1)
    with pytest.raises(ValueError, match="batch is 1 to"):
        import_leads(engine, campaign, [], batch=0)


def test_an_unknown_campaign(engine: Engine, campaign: str) -> None:
    with pytest.raises(LeadImportError) as error:
        import_leads(engine, "no-such-campaign", good_rows(GOOD))
    assert str(error.value).startswith("no campaign 'no-such-campaign' (the campaigns: ")
    assert campaign in str(error.value)
    with pytest.raises(LeadImportError, match="no campaign 'nope'"):
        campaign_region(engine, "nope")
    assert campaign_region(engine, campaign) == "US"


BROKEN = (
    "phone,name\n"
    f"{NYC},Ann\n"  # 2
    "not a number,Bob\n"  # 3
    f"{NYC2},Cy\n"  # 4
    "+19002345678,Premium\n"  # 5
    f"{NYC},Ann again\n"  # 6
    f"{NYC3},Di\n"  # 7
)


def test_all_or_nothing(engine: Engine, database_url: str, campaign: str) -> None:
    outcome = import_file(engine, campaign, rows_of(BROKEN), skip_bad=False, keep_bad=2)
    assert outcome.committed is False
    assert outcome.result == ImportResult()
    assert outcome.bad_count == 3  # every bad row counted, the first two kept
    assert [(b.line, b.reason) for b in outcome.bad] == [
        (3, "'not a number': not a telephone number"),
        (5, "+19002345678 is a premium-rate number: not dialed"),
    ]
    assert leads(database_url, campaign) == []


def test_skip_bad(engine: Engine, database_url: str, campaign: str) -> None:
    outcome = import_file(engine, campaign, rows_of(BROKEN), skip_bad=True)
    assert outcome.committed is True
    assert (outcome.result.inserted, outcome.bad_count) == (3, 3)
    assert [b.line for b in outcome.bad] == [3, 5, 6]
    assert outcome.bad[2].reason == f"duplicate of line 2 ({NYC})"
    assert [r["number"] for r in leads(database_url, campaign)] == [NYC, NYC2, NYC3]
    # A clean file imports the same way in both modes.
    clean = import_file(engine, campaign, rows_of(GOOD), skip_bad=False)
    assert clean == FileImport(ImportResult(0, [(2, NYC), (3, NYC2)], 2), [], 0, True)


@pytest.mark.parametrize("skip_bad", [False, True])
def test_a_file_found_broken_half_way_imports_nothing(
    engine: Engine, database_url: str, campaign: str, skip_bad: bool
) -> None:
    rows = "".join(f"+1212200{i:04d},n\n" for i in range(50))
    data = f"phone,name\n{rows}+12125551234,Zo\xeb\n".encode("latin-1")
    with mock.patch.object(lead_import, "CHUNK_BYTES", 256):
        items = read_leads(io.BytesIO(data), ColumnMapping(), region="US")
        with pytest.raises(LeadFileError, match="line 52: bytes that are not utf-8"):
            import_file(engine, campaign, items, skip_bad=skip_bad, batch=10)
    assert leads(database_url, campaign) == []


# --- the command ---------------------------------------------------------------------------


def cli(url: str, *args: str | Path) -> Result:
    app = typer.Typer()
    app.command()(import_command)
    return CliRunner().invoke(
        app,
        [str(a) for a in args],
        env={"DATABASE_URL": url, "SWITCHBOARD_DATABASE_URL": None, "COLUMNS": "200"},
    )


def write(tmp_path: Path, text: str | bytes, name: str = "leads.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def test_command_imports_and_reimports(database_url: str, campaign: str, tmp_path: Path) -> None:
    file = write(tmp_path, GOOD)
    first = cli(database_url, campaign, file)
    assert first.exit_code == 0, first.output
    assert first.stdout == f"leads.csv -> {campaign}: 2 imported, 0 already there\n"
    again = cli(database_url, campaign, file)
    assert again.exit_code == 0, again.output
    assert again.stdout == (
        f"leads.csv -> {campaign}: 0 imported, 2 already there\n"
        "already there (the campaign has these numbers): lines 2, 3\n"
    )
    assert len(leads(database_url, campaign)) == 2


def test_command_rejects_a_file_with_bad_rows(
    database_url: str, campaign: str, tmp_path: Path
) -> None:
    result = cli(database_url, campaign, write(tmp_path, BROKEN))
    assert result.exit_code == 1
    table = result.stdout
    assert "3 bad rows" in table
    for line, reason in [
        ("3", "'not a number': not a telephone number"),
        ("5", "+19002345678 is a premium-rate number: not dialed"),
        ("6", f"duplicate of line 2 ({NYC})"),
    ]:
        assert any(
            row.split("│")[1].strip() == line and reason in row
            for row in table.splitlines()
            if row.startswith("│")
        ), (line, table)
    assert result.stderr == (
        f"error: {tmp_path / 'leads.csv'}: 3 bad rows, so nothing was imported; fix them, or "
        "import the other rows with --skip-bad\n"
    )
    assert leads(database_url, campaign) == []


def test_command_skips_bad_rows_when_told(database_url: str, campaign: str, tmp_path: Path) -> None:
    result = cli(database_url, campaign, write(tmp_path, BROKEN), "--skip-bad")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(
        f"leads.csv -> {campaign}: 3 imported, 0 already there, 3 bad rows skipped\n"
    )
    assert "│ 5    │ +19002345678 is a premium-rate number: not dialed" in result.stdout
    assert len(leads(database_url, campaign)) == 3


def test_command_shows_the_first_50_bad_rows_and_counts_them_all(
    database_url: str, campaign: str, tmp_path: Path
) -> None:
    text = "phone\n" + "".join(f"bad{i}\n" for i in range(70)) + f"{NYC}\n"
    result = cli(database_url, campaign, write(tmp_path, text), "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "70 bad rows (the first 50)" in result.stdout
    lines = [row.split("│")[1].strip() for row in result.stdout.splitlines() if row[:1] == "│"]
    assert lines == [str(n) for n in range(2, 52)]
    assert "1 imported, 0 already there, 70 bad rows skipped" in result.stdout


def test_command_maps_columns_and_reads_numbers_in_the_campaigns_region(
    database_url: str, campaigns: list[str], tmp_path: Path
) -> None:
    campaigns.append(make_campaign(database_url, region="GB"))
    text = "Tel;Who;Ref;Zone\n07400 123456;Ann;x1;Europe/London\n020 7946 0000;Bob;x2;\n"
    file = write(tmp_path, text.encode("cp1252"), "uk.csv")
    result = cli(
        database_url,
        campaigns[0],
        file,
        "--map",
        "number=tel",
        "--map",
        "name=Who",
        "--map",
        "external_id=Ref",
        "--map",
        "timezone=Zone",
        "--delimiter",
        ";",
        "--encoding",
        "cp1252",
    )
    assert result.exit_code == 0, result.output
    stored = leads(database_url, campaigns[0])
    assert [(r["number"], r["name"], r["external_id"], r["time_zones"]) for r in stored] == [
        ("+447400123456", "Ann", "x1", ["Europe/London"]),
        ("+442079460000", "Bob", "x2", ["Europe/London"]),
    ]
    # --region overrides the campaign's: the same national numbers mean nothing in the US.
    other = write(tmp_path, "phone\n07400 123456\n", "us.csv")
    result = cli(database_url, campaigns[0], other, "--region", "us")
    assert result.exit_code == 1
    assert "'07400 123456' is not a valid number" in result.stdout


def test_command_errors(database_url: str, campaign: str, tmp_path: Path) -> None:
    file = write(tmp_path, GOOD)
    usage = [
        (["--map", "phone"], "error: --map 'phone': give FIELD=COLUMN, e.g. number=Phone\n"),
        (["--encoding", "klingon"], "error: unknown encoding 'klingon' (e.g. utf-8, cp1252, "),
        (["--region", "XX"], "error: unknown region 'XX': an ISO 3166 country code"),
        (["--delimiter", "::"], "error: the delimiter is one character"),
    ]
    for options, message in usage:
        result = cli(database_url, campaign, file, *options)
        assert result.exit_code == 2, (options, result.output)
        assert result.stderr.startswith(message), (options, result.stderr)
    missing = cli(database_url, campaign, tmp_path / "nope.csv")
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr

    unknown = cli(database_url, "no-such-campaign", file)
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: no campaign 'no-such-campaign' (the campaigns: ")

    no_column = cli(database_url, campaign, write(tmp_path, "name,email\nAnn,a@b.c\n", "x.csv"))
    assert no_column.exit_code == 1
    assert "the columns are: 'name', 'email'; say which with --map number=COLUMN" in (
        no_column.stderr
    )
    assert no_column.stderr.endswith("; nothing imported\n")

    latin = write(tmp_path, f"phone,name\n{NYC},Zo\xeb\n".encode("latin-1"), "latin.csv")
    wrong = cli(database_url, campaign, latin)
    assert wrong.exit_code == 1
    assert "line 2: bytes that are not utf-8 text (b'\\xeb')" in wrong.stderr
    assert "--encoding" in wrong.stderr
    assert "Traceback" not in wrong.output
    assert leads(database_url, campaign) == []
    assert cli(database_url, campaign, latin, "--encoding", "latin-1").exit_code == 0


def test_command_reports_an_unreachable_database(campaign: str, tmp_path: Path) -> None:
    result = cli("postgresql://nobody@127.0.0.1:1/none", campaign, write(tmp_path, GOOD))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the database: ")
    assert "Traceback" not in result.output
