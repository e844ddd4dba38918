"""What every `switchboard` command shares: the error line and its exit code, the settings,
and the database engine whose operator mistakes and refusals become that error line (never
a traceback). Exit codes: 1 the request cannot be carried out, 2 bad input or settings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from callcenter.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

errors = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)

# C0/C1 controls, line/paragraph separators and bidirectional marks, overrides and
# isolates, which would make a terminal show the rest of a line reordered.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(value: object) -> str:
    """Text for the terminal: control characters shown as escapes, never sent."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(value))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; raise what this returns."""
    errors.print(f"[bold red]error:[/] {escape(visible(message))}")
    return typer.Exit(code)


def load_settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise fail(f"bad settings: {problems}", 2) from None


def _operator_errors() -> dict[type[Exception], int]:
    """Errors whose message tells the operator what to change, with their exit codes."""
    from callcenter.calls.dispositions import DispositionError
    from callcenter.outbound.compliance import ComplianceConfigError
    from callcenter.reports.metrics import MetricError
    from callcenter.webhooks.topics import TopicError
    from db.acd_store import AcdError
    from db.api_credential_store import CredentialError
    from db.call_query import CallQueryError
    from db.campaign_admin import CampaignError
    from db.recording_store import RecordingError
    from db.webhook_store import WebhookError

    return {
        TopicError: 2,
        WebhookError: 2,
        RecordingError: 2,
        AcdError: 1,
        CampaignError: 1,
        ComplianceConfigError: 1,
        DispositionError: 1,
        CredentialError: 1,
        CallQueryError: 1,
        MetricError: 2,
    }


@contextmanager
def database() -> Iterator[Engine]:
    """An engine on the configured database, disposed of afterwards."""
    from sqlalchemy.exc import DBAPIError

    from db.engine import sync_engine

    engine = sync_engine(load_settings().database_url)
    known = _operator_errors()
    try:
        yield engine
    except tuple(known) as exc:
        code = next(c for kind, c in known.items() if isinstance(exc, kind))
        raise fail(str(exc), code) from None
    except DBAPIError as exc:
        detail = " ".join(str(exc.orig).split("\nLINE ")[0].split())  # no SQL excerpt
        if "relation" in detail and "does not exist" in detail:
            detail += " (run `switchboard db upgrade`)"
        raise fail(f"cannot use the database: {detail}") from None
    finally:
        engine.dispose()
