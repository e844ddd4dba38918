"""`switchboard doctor`: is each part reachable, and if not, exactly what is wrong."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ari_app.ami import AmiAuthError, AmiUnavailable, check_login
from ari_app.app import StartupError, check_database
from ari_app.client import AriAuthError, AriClient, AriError, AriUnavailable
from callcenter.config import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # works, but not as an operator would want (exit code stays 0)


async def check_ari(settings: Settings) -> Check:
    name = f"ARI {settings.ari_url}"
    async with AriClient(
        settings.ari_url,
        settings.ari_user,
        settings.ari_password,
        settings.ari_app,
        request_timeout=5,
    ) as ari:
        try:
            info = await ari.get("/asterisk/info")
        except AriAuthError:
            return Check(name, False, f"wrong ARI password for user {settings.ari_user!r}")
        except AriUnavailable as exc:
            return Check(name, False, f"nothing listening: {exc}")
        except AriError as exc:
            return Check(name, False, str(exc))
    version = (info or {}).get("system", {}).get("version", "?")
    return Check(name, True, f"Asterisk {version}")


async def check_ami(settings: Settings) -> Check:
    name = f"AMI {settings.ami_host}:{settings.ami_port}"
    try:
        banner = await check_login(
            settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret
        )
    except AmiAuthError:
        return Check(name, False, f"wrong AMI secret for user {settings.ami_user!r}")
    except AmiUnavailable as exc:
        return Check(name, False, f"nothing listening: {exc}")
    return Check(name, True, f"logged in ({banner})")


async def check_agi(settings: Settings) -> Check:
    name = f"FastAGI {settings.agi_host}:{settings.agi_port}"
    try:
        async with asyncio.timeout(3):
            _reader, writer = await asyncio.open_connection(settings.agi_host, settings.agi_port)
    except (OSError, TimeoutError):
        return Check(
            name, False, "nothing listening: is 'switchboard run' running with these settings?"
        )
    writer.close()
    return Check(name, True, "listening")


async def check_db(settings: Settings) -> Check:
    url = settings.database_url
    shown = url.split("@", 1)[-1] if "@" in url else url
    name = f"PostgreSQL {shown}"
    try:
        await check_database(settings)
    except StartupError as exc:
        return Check(name, False, str(exc))
    return Check(name, True, "reachable and migrated")


def check_flows(settings: Settings) -> Check:
    """The IVR flows `run` would load (structure only; `ivr lint` also checks the prompts),
    wherever the folder is set (the environment or .env)."""
    if settings.flows_dir is None:
        return Check(
            "IVR flows",
            True,
            "no flows folder set (SWITCHBOARD_FLOWS_DIR, in the environment or .env): callers "
            "get no menu",
            warning=True,
        )
    from callcenter.ivr.lint import errors, lint_files

    name = f"IVR flows in {settings.flows_dir}"
    if not settings.flows_dir.is_dir():
        return Check(name, False, "no such directory (SWITCHBOARD_FLOWS_DIR)")
    files = sorted(settings.flows_dir.glob("*.yaml"))
    if not files:
        return Check(name, False, "no *.yaml flow files: every call would hear 'no service'")
    sources, problems = lint_files(files)
    bad = errors(problems)
    if bad:
        more = f" (and {len(bad) - 1} more: switchboard ivr lint)" if len(bad) > 1 else ""
        return Check(name, False, f"{bad[0]}{more}")
    return Check(name, True, f"{len(sources)} flow(s): {', '.join(s.flow.flow for s in sources)}")


def queue_warnings(queues: list[dict[str, Any]]) -> list[Check]:
    """Queues that take calls but cannot serve them as an operator expects."""
    found = []
    for queue in queues:
        problems = []
        if not queue["members"]:
            problems.append(
                "no members: its callers wait until they time out or hang up "
                f"(switchboard queues add-member {queue['name']} AGENT)"
            )
        if not queue["disposition_set"]:
            problems.append(
                "no disposition set: its agents cannot code calls "
                f"(switchboard queues set {queue['name']} --dispositions default)"
            )
        if problems:
            found.append(Check(f"queue {queue['name']}", True, "; ".join(problems), warning=True))
    return found


def check_queues(settings: Settings) -> list[Check]:
    from db.acd_store import list_queues
    from db.engine import sync_engine

    engine = sync_engine(settings.database_url)
    try:
        return queue_warnings(list_queues(engine))
    finally:
        engine.dispose()


async def run_checks(settings: Settings) -> list[Check]:
    checks = list(
        await asyncio.gather(
            check_ari(settings), check_ami(settings), check_agi(settings), check_db(settings)
        )
    )
    checks.append(check_flows(settings))
    if checks[3].ok:  # the database answers and is migrated
        checks += await asyncio.to_thread(check_queues, settings)
    return checks
