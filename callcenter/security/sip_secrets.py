"""Agents' SIP accounts: the names they may have and the secrets (digest passwords) that
protect them. Pure functions, no I/O.

A generated secret is 18 bytes from :mod:`secrets` (144 bits) written URL-safe (24
characters of ``A-Za-z0-9-_``: nothing a softphone, a config file or a SIP header could
misread). A secret somebody chooses is judged by what a guesser would try first: short ones,
digits only, the user name, well-known defaults, few distinct characters, and an estimate of
its strength from its length and the kinds of characters in it.
"""

from __future__ import annotations

import math
import re
import secrets
import string

MIN_BITS = 128
GENERATED_BYTES = 18  # 144 bits
MIN_LENGTH = 16
MIN_DISTINCT = 8

# Endpoint names Asterisk or our pjsip.conf already use: an agent with one of these names
# would replace the trunk's endpoint over ARI, or (``anonymous``) catch every request from
# an unknown sender.
RESERVED_NAMES = frozenset(
    {"anonymous", "trunk-in", "trunk-out", "transport-udp", "global", "system", "default"}
)

# Defaults and favourites that scanners (sipvicious, friendly-scanner) try first; compared
# case-insensitively, alone and inside a longer secret.
KNOWN_DEFAULTS = frozenset(
    {
        "asterisk",
        "secret",
        "password",
        "passw0rd",
        "changeme",
        "change_me",
        "default",
        "admin",
        "administrator",
        "letmein",
        "welcome",
        "qwerty",
        "123456",
        "1234",
        "0000",
        "switchboard",
        "pbx",
        "voip",
        "sip",
    }
)
_FORBIDDEN = set(' "\\;') | {chr(c) for c in range(32)} | {chr(127)}


class WeakSecret(ValueError):
    """A SIP secret that a guesser would find (the message says why)."""


def new_secret() -> str:
    """A fresh secret: 144 random bits from the operating system's generator."""
    while True:
        secret = secrets.token_urlsafe(GENERATED_BYTES)
        # Rejection sampling for the vanishingly rare draw with no character variety: it
        # keeps the rule "every secret we store passes our own check" without a measurable
        # loss of entropy. A draw that starts with "0x" (1 in 4096) is drawn again too:
        # sipp, and SIP tools built like it, read such a password as hexadecimal bytes, and
        # the phone's digest fails with the right secret typed in.
        if weakness(secret) is None and not secret.lower().startswith("0x"):
            return secret


def estimated_bits(secret: str) -> float:
    """Length times log2 of the alphabet its kinds of characters suggest (an upper bound
    for a person's choice, the exact value for a uniformly random one)."""
    alphabet = 0
    if any(c in string.ascii_lowercase for c in secret):
        alphabet += 26
    if any(c in string.ascii_uppercase for c in secret):
        alphabet += 26
    if any(c in string.digits for c in secret):
        alphabet += 10
    if any(c not in string.ascii_letters + string.digits for c in secret):
        alphabet += 33  # printable ASCII punctuation and space
    return len(secret) * math.log2(alphabet) if alphabet else 0.0


def _without(secret: str, word: str) -> str:
    return re.sub(re.escape(word), "", secret, flags=re.IGNORECASE)


def weakness(secret: str, username: str = "") -> str | None:
    """Why ``secret`` must not protect ``username``'s SIP account (None: it may)."""
    if not secret:
        return "the secret is empty"
    if any(c in _FORBIDDEN or ord(c) > 126 for c in secret):
        return "use printable ASCII without spaces, quotes, backslashes or ';'"
    lowered = secret.lower()
    if username and lowered == username.lower():
        return "the secret is the user name"
    if lowered in KNOWN_DEFAULTS:
        return f"the secret is the well-known default {lowered!r}"
    if secret.isdigit():
        return "the secret is all digits"
    if len(secret) < MIN_LENGTH:
        return f"the secret has {len(secret)} characters: at least {MIN_LENGTH} are needed"
    # A name or a default with a few characters around it is what a guesser tries next:
    # what is left without it must be strong on its own.
    name = username.lower()
    if len(name) >= 3 and name in lowered and estimated_bits(_without(secret, name)) < MIN_BITS:
        return "the secret is the user name with a few characters around it"
    for known in sorted(KNOWN_DEFAULTS):
        if known in lowered and estimated_bits(_without(secret, known)) < MIN_BITS:
            return f"the secret is the well-known default {known!r} with a few characters around it"
    if len(set(secret)) < MIN_DISTINCT:
        return f"the secret has fewer than {MIN_DISTINCT} different characters"
    bits = estimated_bits(secret)
    if bits < MIN_BITS:
        return (
            f"the secret is worth about {bits:.0f} bits: at least {MIN_BITS} are needed "
            f"(e.g. {math.ceil(MIN_BITS / math.log2(62))} random letters and digits)"
        )
    return None


def require_strong(secret: str, username: str = "") -> str:
    """``secret`` itself, or :class:`WeakSecret` saying what is wrong with it."""
    problem = weakness(secret, username)
    if problem is not None:
        raise WeakSecret(f"SIP secret for {username or 'the account'!r} refused: {problem}")
    return secret


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an agent's SIP account name (None: it can)."""
    if name.lower() in RESERVED_NAMES:
        return f"{name!r} is reserved for Asterisk's own endpoints"
    return None
