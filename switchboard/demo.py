"""`switchboard demo`: real sipp callers through the local Asterisk into PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from ari_app.app import Application
from db.models import Call
from switchboard.config import Settings
from switchboard.sipp.runner import place_calls
from switchboard.sipp.scenario import CallerScript

KEYS = "1234567890"


def _clock(value: datetime | None) -> str:
    return value.astimezone().strftime("%H:%M:%S.%f")[:-3] if value else "-"


async def run_demo(settings: Settings, calls: int, dialed: str) -> list[tuple[str, ...]]:
    started = datetime.now(UTC)
    application = Application(settings)
    stop = asyncio.Event()
    running = asyncio.create_task(application.run(stop))
    try:
        async with asyncio.timeout(30):
            while not application.ari.connected.is_set():
                if running.done():
                    running.result()
                    raise RuntimeError("the application stopped before it connected")
                await asyncio.sleep(0.1)
    except TimeoutError:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)
        raise RuntimeError(
            "could not connect to Asterisk: is it up ('switchboard asterisk up')?"
        ) from None

    async def one(index: int) -> bool:
        await asyncio.sleep(index * 0.3)
        script = CallerScript(
            caller=f"+1555010{index:04d}"[-12:],
            caller_name=f"Demo caller {index + 1}",
            keys=((1000, KEYS[index % len(KEYS)]),),
        )
        result = await place_calls(settings.sip_port, dialed, script, timeout_s=30)
        return result.ok

    outcomes = await asyncio.gather(*(one(i) for i in range(calls)))
    await application.writer.drain(timeout=10)
    stop.set()
    await running
    from db.engine import async_engine

    engine = async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(Call).where(Call.arrived_at >= started).order_by(Call.arrived_at)
                )
            ).all()
    finally:
        await engine.dispose()
    if not all(outcomes):
        failed = outcomes.count(False)
        print(f"{failed} of {calls} sipp calls did not complete")
    return [
        (
            r.caller_number or "",
            r.dialed_number or "",
            _clock(r.arrived_at),
            _clock(r.answered_at),
            _clock(r.ended_at),
            r.digits or "",
            r.hangup_party or "",
            f"{r.hangup_cause} {r.hangup_cause_text or ''}".strip(),
        )
        for r in rows
    ]
