"""API tokens: made, hashed, and recognised (the operator's from the settings, the others
from the credential store, looked up by their SHA-256 with a short cache, for tokens the store
knows and for tokens it does not)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from callcenter.security.roles import OPERATOR, Principal

# How long a credential found in the store is trusted without asking again: a revoke takes
# effect within this time.
CACHE_SECONDS = 3.0
CACHE_LIMIT = 4096
# How long a token the store does not know is remembered as unknown (by its hash, never the
# token), so that a client repeating a wrong or revoked token costs one query per this time:
# a credential made meanwhile is refused for at most this long (only if its token was tried
# before it existed). Bounded: beyond the limit, the oldest are forgotten first.
NEGATIVE_CACHE_SECONDS = 3.0
NEGATIVE_CACHE_LIMIT = 10_000
# Credential tokens are new_token()'s (43 characters) and the operator's is visible ASCII:
# anything else, or anything longer than this, is nobody's, without asking the store.
TOKEN_MAX_LENGTH = 512

Lookup = Callable[[str], Awaitable[Principal | None]]


class LookupFailed(Exception):
    """The credential store cannot be asked now (the database is away): nobody gets in on
    a token only the store knows."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _utf8(text: str) -> bytes:
    # surrogatepass: text from a request can hold lone surrogates (aiohttp decodes bytes that
    # are not UTF-8 with surrogateescape); they must hash and compare, not raise.
    return text.encode("utf-8", "surrogatepass")


def hash_token(token: str) -> str:
    """What the store keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(_utf8(token)).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison (of any text, not only ASCII)."""
    return hmac.compare_digest(_utf8(given), _utf8(expected))


def could_be_a_token(token: str) -> bool:
    """Visible ASCII of a sensible length: what any token we make or accept looks like."""
    return 0 < len(token) <= TOKEN_MAX_LENGTH and all("!" <= c <= "~" for c in token)


class Authenticator:
    """Who holds a token: the operator (the settings' token, without the database), or the
    credential the store has for its hash. Found credentials are remembered for
    ``cache_seconds``; tokens the store does not know, by their hash, for
    ``negative_seconds`` (at most ``NEGATIVE_CACHE_LIMIT`` of them). Tokens that cannot be
    anyone's (not visible ASCII, too long) are refused without asking the store."""

    def __init__(
        self,
        operator_token: str,
        lookup: Lookup,
        *,
        cache_seconds: float = CACHE_SECONDS,
        negative_seconds: float = NEGATIVE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not operator_token:
            raise ValueError("the operator token is empty")
        self.operator_token = operator_token
        self.lookup = lookup
        self.cache_seconds = cache_seconds
        self.negative_seconds = negative_seconds
        self.clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}
        # Hashes of unknown tokens -> until when, oldest first (one lifetime for all).
        self._unknown: OrderedDict[str, float] = OrderedDict()

    async def identify(self, token: str) -> Principal | None:
        """The principal holding ``token``, or None. Raises LookupFailed when only the
        store could tell and it cannot be asked."""
        if not token:
            return None
        if same_secret(token, self.operator_token):
            return OPERATOR
        if not could_be_a_token(token):
            return None
        digest = hash_token(token)
        now = self.clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        self._cache.pop(digest, None)
        if self._known_unknown(digest, now):
            return None
        principal = await self.lookup(digest)
        if principal is not None:
            self._remember(digest, principal, now)
        else:
            self._remember_unknown(digest, now)
        return principal

    def _known_unknown(self, digest: str, now: float) -> bool:
        """Is ``digest`` a recently unknown token? (Drops the expired, oldest first.)"""
        unknown = self._unknown
        while unknown:
            oldest, until = next(iter(unknown.items()))
            if until > now:
                break
            del unknown[oldest]
        return digest in unknown

    def _remember_unknown(self, digest: str, now: float) -> None:
        if self.negative_seconds <= 0:
            return
        self._unknown.pop(digest, None)
        while len(self._unknown) >= NEGATIVE_CACHE_LIMIT:
            self._unknown.popitem(last=False)
        self._unknown[digest] = now + self.negative_seconds

    def _remember(self, digest: str, principal: Principal, now: float) -> None:
        if len(self._cache) >= CACHE_LIMIT:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
        self._cache[digest] = (principal, now + self.cache_seconds)

    def forget(self) -> None:
        """Drop every remembered credential and unknown token (the next request asks the
        store)."""
        self._cache.clear()
        self._unknown.clear()
