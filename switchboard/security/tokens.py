"""API tokens: made, hashed, and recognised (the operator's from the settings, the others
from the credential store, looked up by their SHA-256 with a short cache)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable

from switchboard.security.roles import OPERATOR, Principal

# How long a credential found in the store is trusted without asking again: a revoke takes
# effect within this time.
CACHE_SECONDS = 3.0
CACHE_LIMIT = 4096

Lookup = Callable[[str], Awaitable[Principal | None]]


class LookupFailed(Exception):
    """The credential store cannot be asked now (the database is away): nobody gets in on
    a token only the store knows."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the store keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison (of any text, not only ASCII)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class Authenticator:
    """Who holds a token: the operator (the settings' token, without the database), or the
    credential the store has for its hash. Found credentials are remembered for
    ``cache_seconds``; unknown tokens are never remembered."""

    def __init__(
        self,
        operator_token: str,
        lookup: Lookup,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not operator_token:
            raise ValueError("the operator token is empty")
        self.operator_token = operator_token
        self.lookup = lookup
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def identify(self, token: str) -> Principal | None:
        """The principal holding ``token``, or None. Raises LookupFailed when only the
        store could tell and it cannot be asked."""
        if not token:
            return None
        if same_secret(token, self.operator_token):
            return OPERATOR
        digest = hash_token(token)
        now = self.clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        self._cache.pop(digest, None)
        principal = await self.lookup(digest)
        if principal is not None:
            self._remember(digest, principal, now)
        return principal

    def _remember(self, digest: str, principal: Principal, now: float) -> None:
        if len(self._cache) >= CACHE_LIMIT:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
        self._cache[digest] = (principal, now + self.cache_seconds)

    def forget(self) -> None:
        """Drop every remembered credential (the next request asks the store)."""
        self._cache.clear()
