"""Telephone numbers in one form (E.164) for lists and matching, with phonenumbers."""

from __future__ import annotations

import functools
import re

import phonenumbers


def normalize(number: str | None, region: str = "US") -> str | None:
    """E.164 when the number parses in ``region``'s plan (or has a +); otherwise its digits
    (an internal extension, a short code), so the same input always gives the same key."""
    if number is None:
        return None
    return _normalized(number, region)


def spellings(number: str, region: str = "US") -> set[str]:
    """The ways a number may be stored: as given (trimmed) and in E.164, for finding every
    row of one person (an erasure request); empty for a blank number."""
    given = number.strip()
    if not given:
        return set()
    e164 = normalize(given, region)
    return {given} | ({e164} if e164 else set())


# A call's row is built at each of its moments with the caller's E.164 in it: parsing the
# same number each time was a visible share of the app's CPU per call.
@functools.lru_cache(maxsize=4096)
def _normalized(number: str, region: str) -> str | None:
    text = number.strip()
    if not text:
        return None
    try:
        parsed = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    digits = re.sub(r"[^0-9+]", "", text)
    return digits or None
