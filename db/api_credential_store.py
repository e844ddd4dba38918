"""Credentials for the HTTP API (docs/api.md): made and revoked by the CLI, looked up by the
running app by their token's SHA-256 (the token itself is never stored)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.security.roles import Principal, Role
from callcenter.security.tokens import Lookup, LookupFailed, hash_token, new_token, same_secret
from db.models import API_ROLES, Agent, ApiCredential, Call, CallEvent

NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")


class CredentialError(ValueError):
    """A credential request that cannot be carried out (the message says why)."""


def _check(name: str, role: str, agent: str | None) -> None:
    if not NAME.fullmatch(name):
        raise CredentialError(
            f"credential name {name!r}: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter, at most 32 characters"
        )
    if role not in API_ROLES:
        raise CredentialError(f"role {role!r}: one of {', '.join(API_ROLES)}")
    if role == Role.AGENT and agent is None:
        raise CredentialError("an agent credential names its agent: --agent NAME")


def _agent_exists(connection: Connection, agent: str) -> None:
    if connection.execute(select(Agent.name).where(Agent.name == agent)).first() is None:
        raise CredentialError(f"no agent {agent!r}")


def _put(connection: Connection, name: str, role: str, agent: str | None, *, reissue: bool) -> str:
    """Store a new token for ``name``. A revoked credential of that name is replaced; a live
    one only when ``reissue`` (its old token stops working at once)."""
    token = new_token()
    values: dict[str, Any] = {
        "role": role,
        "agent": agent,
        "token_hash": hash_token(token),
        "created_at": func.now(),
        "revoked_at": None,
    }
    old = connection.execute(
        select(ApiCredential.revoked_at).where(ApiCredential.name == name).with_for_update()
    ).first()
    if old is None:
        connection.execute(insert(ApiCredential).values(name=name, **values))
        return token
    if old.revoked_at is None and not reissue:
        raise CredentialError(f"credential {name!r} already exists: revoke it first")
    connection.execute(update(ApiCredential).where(ApiCredential.name == name).values(**values))
    return token


def add_credential(engine: Engine, name: str, role: str, agent: str | None = None) -> str:
    """Create a credential; returns its token (shown once, never stored)."""
    _check(name, role, agent)
    try:
        with engine.begin() as connection:
            if agent is not None:
                _agent_exists(connection, agent)
            return _put(connection, name, role, agent, reissue=False)
    except IntegrityError:  # made at the same moment by someone else
        raise CredentialError(f"credential {name!r} already exists") from None


def issue_agent_token(engine: Engine, agent: str) -> str:
    """A new token for an agent's own credential (named after the agent); any earlier token
    of that credential stops working."""
    with engine.begin() as connection:
        _agent_exists(connection, agent)
        old = connection.execute(
            select(ApiCredential.role, ApiCredential.agent, ApiCredential.revoked_at).where(
                ApiCredential.name == agent
            )
        ).first()
        mine = old is None or (old.role == Role.AGENT and old.agent == agent)
        if not mine and old is not None and old.revoked_at is None:
            raise CredentialError(
                f"credential {agent!r} belongs to a {old.role}, not to agent {agent!r}: "
                "revoke it first"
            )
        return _put(connection, agent, Role.AGENT, agent, reissue=True)


def revoke_credential(engine: Engine, name: str) -> None:
    with engine.begin() as connection:
        done = connection.execute(
            update(ApiCredential)
            .where(ApiCredential.name == name, ApiCredential.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(ApiCredential.id)
        ).first()
        if done is None:
            known = connection.execute(
                select(ApiCredential.id).where(ApiCredential.name == name)
            ).first()
            raise CredentialError(
                f"credential {name!r} is already revoked" if known else f"no credential {name!r}"
            )


def list_credentials(engine: Engine) -> list[dict[str, Any]]:
    """Every credential, without its token (nor its hash)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                ApiCredential.name,
                ApiCredential.role,
                ApiCredential.agent,
                ApiCredential.created_at,
                ApiCredential.revoked_at,
            ).order_by(ApiCredential.name)
        ).all()
    return [dict(r._mapping) for r in rows]


# --- the running app --------------------------------------------------------------------


async def find_principal(engine: AsyncEngine, token_hash: str) -> Principal | None:
    """The live credential whose token has this SHA-256, as a principal (None: none)."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    ApiCredential.name,
                    ApiCredential.role,
                    ApiCredential.agent,
                    ApiCredential.token_hash,
                ).where(ApiCredential.token_hash == token_hash, ApiCredential.revoked_at.is_(None))
            )
        ).first()
    if row is None or not same_secret(row.token_hash, token_hash):
        return None
    return Principal(row.name, Role(row.role), row.agent)


def credential_lookup(engine: AsyncEngine) -> Lookup:
    """``find_principal`` for the Authenticator: a database error is LookupFailed."""

    async def lookup(token_hash: str) -> Principal | None:
        try:
            return await find_principal(engine, token_hash)
        except (SQLAlchemyError, OSError) as exc:
            raise LookupFailed(str(exc)[:200]) from exc

    return lookup


async def agent_handled_call(engine: AsyncEngine, agent: str, call_id: str) -> bool:
    """Did ``agent`` talk on this call (the one who answered it, or any agent it was
    transferred to or called back by)? False for an unknown call or a malformed id."""
    try:
        wanted = uuid.UUID(call_id)
    except ValueError:
        return False
    talked = exists().where(
        CallEvent.call_id == wanted,
        CallEvent.type.in_(("CONNECT", "CALLBACKANSWERED")),
        CallEvent.data["agent"].astext == agent,
    )
    async with engine.connect() as connection:
        found = (
            await connection.execute(
                select(Call.id).where(Call.id == wanted, or_(Call.agent == agent, talked))
            )
        ).first()
    return found is not None
