"""Callback fraud: which numbers a caller may have us call back (callcenter/security/
toll_fraud.py). Home-country numbers yes, in the forms callers key them; international,
neighbours sharing the country code, premium rate, shared cost, personal, emergency and short
codes no. End to end: tests/integration/test_toll_fraud.py."""

from __future__ import annotations

import pytest

from callcenter.security.toll_fraud import callback_refusal


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("+12125550123", "US"),
        ("2125550123", "US"),
        ("12125550123", "US"),
        ("8005550123", "US"),  # toll free: we pay, but it is no fraud
        ("+15558000007", "US"),  # a fictional 555 number, as the test suite uses
        ("+442079460100", "GB"),
        ("02079460100", "GB"),
        ("0612345678", "FR"),
    ],
)
def test_home_numbers_are_called_back(number: str, region: str) -> None:
    assert callback_refusal(number, region) is None


@pytest.mark.parametrize(
    ("number", "region", "why"),
    [
        ("011447700900123", "US", "international number (+44)"),
        ("+447700900123", "US", "international number (+44)"),
        ("00447700900123", "US", "not a possible number"),
        ("0044447700900123", "US", "16 digits"),
        ("+12125550123", "GB", "international number (+1)"),
        ("+18765550123", "US", "JM"),  # Jamaica: one-ring scams, shares +1 with the US
        ("+14735550123", "US", "GD"),  # Grenada
        ("9005550123", "US", "premium-rate"),
        ("19005550123", "US", "premium-rate"),
        ("09065551234", "GB", "premium-rate"),
        ("0899123456", "FR", "premium-rate"),
        ("07011234567", "GB", "personal"),
        ("911", "US", "emergency"),
        ("112", "FR", "emergency"),
        ("999", "GB", "emergency"),
        ("411", "US", "not a possible number"),
        ("12", "US", "2 digits"),
        ("", "US", "not a phone number"),
        ("12x45", "US", "not a phone number"),
        ("+1 212 555 0123", "US", "not a phone number"),
        ("*67012345", "US", "not a phone number"),
    ],
)
def test_numbers_a_fraudster_wants_are_refused(number: str, region: str, why: str) -> None:
    refusal = callback_refusal(number, region)
    assert refusal is not None and why in refusal, refusal


def test_the_region_is_read_case_blind() -> None:
    assert callback_refusal("2125550123", "us") is None
    assert callback_refusal("+447700900123", "us") is not None
