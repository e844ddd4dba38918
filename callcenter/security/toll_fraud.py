"""Which numbers a caller may have us call back: the guard against callback fraud.

A callback number comes from whoever called in: their caller ID (which a caller can forge)
or the digits they key. Without a guard, anyone who can reach the IVR could have the
outbound trunk ring an international or premium-rate number they are paid for (international
revenue share fraud), once per call they make. So a number is called back only when, read in
the home region's numbering plan (``SWITCHBOARD_DEFAULT_REGION``), it is a possible number of
the home country itself (not a neighbour sharing its country code, such as Jamaica's +1 876
for the US), not an emergency or short code, and not premium rate, shared cost, personal,
pager, voicemail or UAN. Pure functions, no I/O.

Numbers that agents or operators choose (a transfer through the HTTP API, a campaign's
leads) are theirs to choose: they are authenticated and go through their own checks.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumberType, shortnumberinfo

MIN_DIGITS = 3
MAX_DIGITS = 15  # E.164

REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
    PhoneNumberType.PAGER: "a pager number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
    PhoneNumberType.UAN: "a universal access number",
}
_DIALABLE = re.compile(r"^\+?[0-9]+$")


def callback_refusal(number: str, region: str) -> str | None:
    """Why ``number`` must not be called back for a caller (None: it may)."""
    text = number.strip()
    if not _DIALABLE.fullmatch(text):
        return "not a phone number (digits, with an optional leading +)"
    digits = text.lstrip("+")
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return f"{len(digits)} digits: a phone number has {MIN_DIGITS} to {MAX_DIGITS}"
    home = region.upper()
    if shortnumberinfo.connects_to_emergency_number(text, home):
        return "an emergency number"
    try:
        parsed = phonenumbers.parse(text, home)
    except phonenumbers.NumberParseException:
        return f"not a number in the {home} numbering plan"
    if parsed.country_code != phonenumbers.country_code_for_region(home):
        return f"an international number (+{parsed.country_code}), not in {home}"
    if not phonenumbers.is_possible_number(parsed):
        return f"not a possible number in {home} (a short code or a mistyped number)"
    where = phonenumbers.region_code_for_number(parsed)
    if where is not None and where != home:
        return f"a number in {where}, outside {home} although it shares its country code"
    kind = REFUSED_TYPES.get(phonenumbers.number_type(parsed))
    if kind is not None:
        return kind
    return None
