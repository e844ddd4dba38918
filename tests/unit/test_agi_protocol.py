from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.protocol import AgiProtocolError, AgiRequest, parse_header_line, parse_response, quote


def test_request_routes_on_the_script_name_and_parses_the_query() -> None:
    request = AgiRequest.from_headers(
        {"network_script": "dnc-check?list=national&x=1", "arg_1": "a", "arg_2": "b c"}
    )
    assert request.script == "dnc-check"
    assert request.params == {"list": "national", "x": "1"}
    assert request.args == ("a", "b c")


def test_request_without_a_script_is_refused() -> None:
    with pytest.raises(AgiProtocolError):
        AgiRequest.from_headers({"network": "yes"})


@pytest.mark.parametrize(
    ("line", "code", "result", "data"),
    [
        ("200 result=1", 200, "1", ""),
        ("200 result=1 (some value)", 200, "1", "some value"),
        ("200 result=0 endpos=1234", 200, "0", ""),
        ("200 result=-1", 200, "-1", ""),
        ("510 Invalid or unknown command", 510, "", ""),
    ],
)
def test_responses(line: str, code: int, result: str, data: str) -> None:
    response = parse_response(line)
    assert (response.code, response.result, response.data) == (code, result, data)


def test_garbage_header_line_is_an_error() -> None:
    with pytest.raises(AgiProtocolError):
        parse_header_line("GET / HTTP/1.1")


@given(st.text())
def test_quoted_values_stay_one_argument_on_one_line(value: str) -> None:
    quoted = quote(value)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert "\n" not in quoted and "\r" not in quoted
    inner = quoted[1:-1]
    # every quote inside is escaped
    i = 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 2
            continue
        assert inner[i] != '"'
        i += 1


@given(st.text())
def test_header_parser_never_crashes_on_any_text(line: str) -> None:
    try:
        key, _value = parse_header_line(line)
    except AgiProtocolError:
        return
    assert key
