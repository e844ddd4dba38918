"""The integration tests share one database per session and find their calls by the
caller's number: two test files calling from the same number read each other's calls
(a CI run failed that way). Each caller number belongs to one file."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
NUMBER = re.compile(r"[\"']\+1555\d{7}[\"']")


def test_no_two_integration_files_call_from_the_same_number() -> None:
    files_by_number: dict[str, set[str]] = defaultdict(set)
    for path in sorted(INTEGRATION.glob("test_*.py")):
        for number in NUMBER.findall(path.read_text()):
            files_by_number[number.strip("\"'")].add(path.name)
    shared = {number: sorted(files) for number, files in files_by_number.items() if len(files) > 1}
    assert files_by_number, "no caller numbers found: the pattern no longer matches the tests"
    assert shared == {}
