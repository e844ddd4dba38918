"""Agents code their calls in wrap-up: the one place the API, the CLI (through the API) and
the phone feature code set an agent's disposition. A final code ends the wrap-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ari_app.acd import AcdRuntime
from callcenter.calls.dispositions import DispositionError
from db.disposition_store import SetDisposition, codes_for_agent, set_disposition

log = structlog.get_logger(__name__)


class DatabaseUnavailable(Exception):
    """Codes are checked against the catalogue in PostgreSQL; it cannot be reached now."""


class WrapUpDesk:
    def __init__(
        self,
        engine: AsyncEngine,
        acd: AcdRuntime,
        *,
        node_id: str,
        region: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.acd = acd
        self.node_id = node_id
        self.region = region
        self.clock = clock

    async def code(
        self,
        agent: str,
        *,
        code: str | None = None,
        digits: str | None = None,
        call_id: str | None = None,
        note: str | None = None,
        callback_at: datetime | None = None,
        callback_mine: bool = False,
    ) -> tuple[SetDisposition, bool]:
        """Set an agent's code on their call (default: their latest); returns it and whether
        it ended their wrap-up. Raises DispositionError with the reason to show."""
        if agent not in self.acd.agents:
            raise DispositionError(f"no agent {agent!r}")
        try:
            result = await set_disposition(
                self.engine,
                code=code,
                digits=digits,
                call_id=call_id,
                agent=agent,
                note=note,
                callback_at=callback_at,
                callback_agent=agent if callback_mine else None,
                now=self.clock(),
                region=self.region,
            )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("wrap_up.database_unavailable", agent=agent, error=str(exc)[:200])
            raise DatabaseUnavailable(
                "the database cannot be reached: try again in a moment"
            ) from exc
        ended = result.final and self.acd.final_code_set(agent, str(result.call_id))
        log.info(
            "wrap_up.coded",
            agent=agent,
            call_id=str(result.call_id),
            code=result.code,
            final=result.final,
            wrap_up_ended=ended,
            actions=[a.kind for a in result.actions],
        )
        self.acd.publish(
            agent,
            {
                "type": "disposition",
                "call_id": str(result.call_id),
                "code": result.code,
                "label": result.label,
                "final": result.final,
            },
        )
        return result, ended

    async def choices(self, agent: str) -> dict[str, Any]:
        """The codes the agent may set on their latest call."""
        if agent not in self.acd.agents:
            raise DispositionError(f"no agent {agent!r}")
        try:
            return await codes_for_agent(self.engine, agent)
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseUnavailable(
                "the database cannot be reached: try again in a moment"
            ) from exc
