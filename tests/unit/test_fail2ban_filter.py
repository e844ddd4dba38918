"""The fail2ban filter (docker/fail2ban/filter.d/switchboard-asterisk.conf) against real lines
of Asterisk 22's security log, written during tests/integration/test_sip_auth_flood.py
(tests/data/asterisk_security_sample.log): wrong passwords and unknown accounts from the
attacker at 127.0.0.2, a legitimate agent registering from 127.0.0.1, and a scanner whose
From user plants a forged RemoteAddress in the line. The filter's own failregex and
datepattern are read from the file and translated to Python (fail2ban's <HOST> becomes a
named group); where fail2ban is installed, fail2ban-regex must agree."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FILTER = REPO / "docker" / "fail2ban" / "filter.d" / "switchboard-asterisk.conf"
JAIL = REPO / "docker" / "fail2ban" / "jail.d" / "switchboard.conf"
SAMPLE = REPO / "tests" / "data" / "asterisk_security_sample.log"
ATTACKER = "127.0.0.2"
AGENT_PHONE = "127.0.0.1"
FORGED = "10.9.8.7"

HOST = r"(?P<host>(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)"
DATE_TOKENS = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}"}
DATE_TOKENS |= {"%S": r"\d{2}", "%f": r"\d{1,6}"}


def _definition() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=configparser.BasicInterpolation())
    parser.read(FILTER, encoding="utf-8")
    return parser["Definition"]


def _failregexes() -> list[re.Pattern[str]]:
    lines = [line.strip() for line in _definition()["failregex"].splitlines() if line.strip()]
    assert lines, "the filter has no failregex"
    return [re.compile(line.replace("<HOST>", HOST)) for line in lines]


def _date() -> re.Pattern[str]:
    pattern = _definition()["datepattern"]
    for token, regex in DATE_TOKENS.items():
        pattern = pattern.replace(token, regex)
    assert "%" not in pattern, pattern
    return re.compile(pattern)


def banned(line: str) -> str | None:
    """The address fail2ban would count for ``line`` (None: the line is not a failure).
    Like fail2ban, the date is found first and cut out of the line."""
    date = _date().search(line)
    if date is None:
        return None
    rest = line[: date.start()] + line[date.end() :]
    for regex in _failregexes():
        hit = regex.search(rest)
        if hit:
            return hit.group("host")
    return None


def sample() -> list[str]:
    return [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_failed_authentication_counts_against_the_attacker() -> None:
    failures = [line for line in sample() if 'Severity="Error"' in line]
    kinds = {re.search(r'SecurityEvent="(\w+)"', line).group(1) for line in failures}  # type: ignore[union-attr]
    assert kinds == {"ChallengeResponseFailed", "InvalidAccountID"}
    assert len(failures) == 6
    assert [banned(line) for line in failures] == [ATTACKER] * len(failures)


def test_a_legitimate_registration_and_the_challenges_are_not_counted() -> None:
    lines = sample()
    legitimate = [line for line in lines if f'RemoteAddress="IPV4/UDP/{AGENT_PHONE}/' in line]
    assert any('SecurityEvent="SuccessfulAuth"' in line for line in legitimate)
    assert [banned(line) for line in legitimate] == [None] * len(legitimate)
    challenges = [line for line in lines if 'SecurityEvent="ChallengeSent"' in line]
    assert challenges and all(banned(line) is None for line in challenges)


def test_a_forged_address_in_the_account_name_is_not_the_one_banned() -> None:
    (forged,) = [line for line in sample() if FORGED in line]
    assert f'AccountID="",RemoteAddress="IPV4/UDP/{FORGED}/5"' in forged  # as Asterisk wrote it
    assert banned(forged) == ATTACKER
    # The naive pattern (the first RemoteAddress after a run of fields) would have banned
    # the forged address: the filter must not be that pattern.
    naive = re.compile(r'SecurityEvent="\w+",(?:\w+="[^"]*",)*?RemoteAddress="IPV4/UDP/' + HOST)
    assert naive.search(forged).group("host") == FORGED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("address", "host"),
    [("IPV4/UDP/203.0.113.9/5060", "203.0.113.9"), ("IPV6/TCP/2001:db8::7/5061", "2001:db8::7")],
)
def test_other_addresses_and_transports_are_read_too(address: str, host: str) -> None:
    line = next(line for line in sample() if 'SecurityEvent="ChallengeResponseFailed"' in line)
    moved = re.sub(r'RemoteAddress="[^"]*"', f'RemoteAddress="{address}"', line)
    assert banned(moved) == host


def test_the_jail_uses_this_filter_on_every_port_for_udp_and_tcp() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(JAIL, encoding="utf-8")
    jail = parser["switchboard-asterisk"]
    assert jail["filter"] == FILTER.stem
    assert jail["enabled"] == "true"
    assert jail["logpath"].endswith("/log/security.log")
    assert "allports" in jail["banaction"]
    assert {p.strip() for p in jail["protocol"].split(",")} == {"tcp", "udp"}
    assert int(jail["maxretry"]) <= 10


@pytest.mark.skipif(shutil.which("fail2ban-regex") is None, reason="fail2ban is not installed")
def test_fail2ban_regex_itself_agrees() -> None:
    done = subprocess.run(
        ["fail2ban-regex", "-o", "ip", str(SAMPLE), str(FILTER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    expected = [banned(line) for line in sample()]
    assert done.stdout.split() == [host for host in expected if host is not None]
