"""Flow files against any input (hypothesis): loading gives a flow or FlowFileError whose
every problem has the file and a line in it, never another exception, and never runs for long
(YAML bombs: aliases of aliases, aliases that contain themselves, deep nesting); a flow that
loads can always be linted, every problem with its file and line."""

from __future__ import annotations

import string
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from callcenter.ivr import source
from callcenter.ivr.lint import Linter, lint_files
from callcenter.ivr.schema import Flow
from callcenter.ivr.source import FlowFileError, FlowSource, Problem, parse_flow

FILE = "flows/fuzz.yaml"
KINDS = {"yaml", "schema", "file"}
FAST = settings(
    deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow], database=None
)


def line_count(text: str) -> int:
    # YAML's line breaks: \r\n, \r, \n, \x85, \u2028, \u2029.
    return len(source._YAML_BREAK.findall(text)) + 1


def check_problem(problem: Problem, lines: int, kinds: set[str], file: str = FILE) -> None:
    assert problem.file == file
    assert problem.kind in kinds, problem
    assert isinstance(problem.line, int) and 1 <= problem.line <= lines, (problem, lines)
    # What `ivr lint` prints: nothing from the file reaches a terminal unescaped.
    assert str(problem).isprintable(), str(problem)


def load(text: str) -> FlowSource | None:
    """parse_flow's contract: a flow, or FlowFileError with file and line for every problem."""
    started = time.monotonic()
    try:
        loaded = parse_flow(text, FILE)
    except FlowFileError as exc:
        assert exc.problems
        for problem in exc.problems:
            check_problem(problem, line_count(text), KINDS)
        loaded = None
    assert time.monotonic() - started < 5, "a flow file took more than 5 s to load"
    return loaded


LINT_KINDS = {
    "duplicate_flow",
    "duplicate_did",
    "duplicate_default",
    "unknown_node",
    "unknown_flow",
    "dead_end",
    "bad_key",
    "unknown_schedule",
    "unknown_list",
    "unknown_variable",
    "bad_prompt",
    "unknown_prompt",
    "bad_sql",
    "unreachable",
    "no_way_out",
}

# --- any text ------------------------------------------------------------------------------

TOKENS = st.sampled_from(
    [
        ": ",
        "- ",
        "\n",
        "\r\n",
        "\r",
        "  ",
        "\t",
        "&a ",
        "&b ",
        "*a",
        "*b",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "'",
        '"',
        "\\",
        "# x",
        "!!str ",
        "!!int ",
        "!!binary ",
        "!!set ",
        "!!python/object:os.system ",
        "!!timestamp ",
        "!foo ",
        "? ",
        "<<: ",
        "---\n",
        "...\n",
        "%YAML 1.1\n",
        "%TAG ! tag:x,2000:\n",
        "flow",
        "nodes",
        "start",
        "type",
        "menu",
        "play",
        "hangup",
        "prompts",
        "options",
        "next",
        "sound:hello",
        "schedules",
        "timezone",
        "America",
        "hours",
        "mon-fri",
        "08:00-18:00",
        "pattern",
        "(((",
        "a{99999}",
        "1",
        "0x1F",
        "0o17",
        "1e400",
        "-.inf",
        ".nan",
        "2001-13-45",
        "2001-12-14t21:59:43.10-05:00",
        "9" * 5000,
        "~",
        "null",
        "true",
        "no",
        "|",
        ">-",
        "\x00",
        "\x1b[2J",
        "\x07",
        "é",
        "☎",
        "\ufeff",
        "\u2028",
        "\x85",
        "\ud7ff",
        "\U0001f600",
    ]
)
YAMLISH = st.lists(TOKENS, max_size=60).map("".join)


@FAST
@given(text=st.one_of(YAMLISH, st.text(max_size=300)))
@example(text="flow: x\x00\n")
@example(text="a: &a [*a]\n")
@example(text="a: 1" + "0" * 5000 + "\n")
@example(text="a: 2001-13-45\n")
@example(text="? [1, 2]\n: x\n")
@example(text="a: " + "[" * 2000 + "]" * 2000 + "\n")
@example(text="schedules: {s: {timezone: America, hours: {}}}\n")
@example(text="nodes: {c: {type: collect, prompts: [x], into: v, pattern: 'a{99999999999}'}}\n")
@example(text="nodes: {c: {type: collect, prompts: [x], into: v, pattern: '" + "(" * 400 + "'}}")
@example(text="nodes: {'\x1b[2J': {type: hangup}}\n")
def test_any_text_loads_or_is_refused_with_file_and_line(text: str) -> None:
    loaded = load(text)
    if loaded is not None:
        assert isinstance(loaded.flow, Flow)
        for problem in Linter([loaded]).run():
            check_problem(problem, line_count(text), LINT_KINDS)


@FAST
@given(raw=st.binary(max_size=300))
def test_any_bytes_in_a_file(raw: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("flows") / "fuzz.yaml"
    path.write_bytes(raw)
    sources, problems = lint_files([path])
    for problem in problems:
        assert problem.file == str(path)
        assert problem.line is None or problem.line >= 1
        if problem.kind == "file":  # not UTF-8: the file as a whole, no line
            assert problem.line is None
        assert str(problem).isprintable()
    assert len(sources) <= 1


# --- any structure --------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["play", "menu", "hangup", "sound:hello", "08:00-18:00", "Europe/Paris"]),
    st.dates(),
)
KEYS = st.one_of(
    st.sampled_from(
        [
            "flow",
            "start",
            "nodes",
            "type",
            "prompts",
            "options",
            "next",
            "on_exhausted",
            "schedules",
            "lists",
            "timezone",
            "hours",
            "holidays",
            "branches",
            "if",
            "goto",
            "else",
            "sql",
            "params",
            "http",
            "url",
            "into",
            "queue",
            "dids",
            "language",
        ]
    ),
    st.text(max_size=10),
    st.integers(),
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=40,
)


@FAST
@given(value=STRUCTURES, style=st.sampled_from([None, "'", '"', "|"]), flow=st.booleans())
def test_any_structure_loads_or_is_refused_with_file_and_line(
    value: Any, style: str | None, flow: bool
) -> None:
    text = yaml.safe_dump(value, default_style=style, default_flow_style=flow, allow_unicode=True)
    loaded = load(text)
    if loaded is not None:
        for problem in Linter([loaded]).run():
            check_problem(problem, line_count(text), LINT_KINDS)


# --- flows that come close to being right -----------------------------------------------

# Mostly right, sometimes wrong: enough of them load for the linter to see them.
NAMES = st.sampled_from([*["a", "b", "c", "menu", "end"] * 4, "missing", "x y"])
PROMPT = st.sampled_from(
    ["sound:hello", "sound:../etc", "digits:${acct}", "date:x", "sound:", "bogus:x", "hello"]
)
PROMPTS = st.lists(PROMPT, min_size=1, max_size=3)
KEY = st.sampled_from(["1", "2", "*", "#", "A", "12", "x", "", 5])
TEST = st.one_of(
    st.fixed_dictionaries({"open": st.sampled_from(["office", "nope"])}),
    st.fixed_dictionaries({"caller_in": st.one_of(st.just("vip"), st.lists(st.text(max_size=5)))}),
    st.fixed_dictionaries(
        {"var": st.sampled_from(["acct", "caller", "x.y"])},
        optional={
            "equals": st.one_of(st.text(max_size=5), st.integers()),
            "matches": st.sampled_from(["^1", "(", "a{99999999999}", "[z-a]"]),
            "present": st.booleans(),
        },
    ),
    st.just({"var": "acct", "equals": 1, "open": "office"}),
)
NODE = st.one_of(
    st.fixed_dictionaries({"type": st.just("play"), "prompts": PROMPTS}, optional={"next": NAMES}),
    st.fixed_dictionaries(
        {
            "type": st.just("menu"),
            "prompts": PROMPTS,
            "options": st.dictionaries(KEY, NAMES, min_size=1, max_size=4),
        },
        optional={"on_exhausted": NAMES, "repeat_key": KEY, "attempts": st.integers(0, 11)},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("collect"),
            "prompts": PROMPTS,
            "into": st.sampled_from(["acct", "acct", "1x"]),
        },
        optional={
            "next": NAMES,
            "on_exhausted": NAMES,
            "terminator": KEY,
            "pattern": st.sampled_from(["^[0-9]+$", "^4", "(", "(" * 300]),
            "min_digits": st.integers(0, 65),
            "max_digits": st.integers(0, 65),
        },
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("condition"),
            "branches": st.lists(
                st.fixed_dictionaries({"if": TEST, "goto": NAMES}), min_size=1, max_size=3
            ),
        },
        optional={"else": NAMES},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("lookup"),
            "into": st.just("acct"),
            "sql": st.sampled_from(
                ["SELECT 1", "select :a", "DELETE FROM calls", "SELECT 1; DROP TABLE calls", ":"]
            ),
        },
        optional={
            "params": st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from(["${acct}"])),
            "http": st.fixed_dictionaries(
                {"url": st.sampled_from(["https://x/${acct}", "ftp:"])}
            ),  # rare
            "next": NAMES,
            "on_error": NAMES,
            "not_found": NAMES,
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("goto"), "flow": st.sampled_from(["other", "fuzz", "none"])},
        optional={"node": NAMES},
    ),
    st.fixed_dictionaries(
        {"type": st.just("queue"), "queue": st.just("support")},
        optional={"on_unavailable": NAMES},
    ),
    st.fixed_dictionaries(
        {"type": st.just("callback"), "prompts": PROMPTS},
        optional={"next": NAMES, "on_declined": NAMES, "min_digits": st.integers(1, 21)},
    ),
    st.fixed_dictionaries({"type": st.just("hangup")}, optional={"prompts": PROMPTS}),
    st.fixed_dictionaries({"type": st.sampled_from(["bogus", 3, None])}) | STRUCTURES,
)
FLOW = st.fixed_dictionaries(
    {"start": NAMES, "nodes": st.dictionaries(NAMES, NODE, min_size=1, max_size=6)},
    optional={
        "flow": st.sampled_from(["fuzz", "other", "other", "bad name"]),
        "dids": st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=3),
        "default": st.booleans(),
        "schedules": st.dictionaries(
            st.just("office"),
            st.fixed_dictionaries(
                {
                    "timezone": st.sampled_from([*["Europe/London"] * 6, "America", "Mars/X", ""]),
                    "hours": st.dictionaries(
                        st.sampled_from(["mon-fri", "sat", "daily", "weekends", "fri-mon", "x"]),
                        st.sampled_from(
                            [*["08:00-18:00", "closed"] * 3, "25:00-26:00", "18:00-08:00"]
                        ),
                    ),
                }
            ),
        ),
        "lists": st.dictionaries(st.just("vip"), st.lists(st.text(max_size=6), max_size=3)),
        "language": st.sampled_from(["en", "fr_FR", "en", "x"]),
    },
)


@FAST
@given(first=FLOW, second=FLOW)
def test_flows_that_load_can_be_linted(first: dict[str, Any], second: dict[str, Any]) -> None:
    loaded: dict[str, tuple[FlowSource, int]] = {}
    for file, value in (("flows/first.yaml", first), ("flows/second.yaml", second)):
        text = yaml.safe_dump(value, allow_unicode=True, sort_keys=False)
        try:
            loaded[file] = (parse_flow(text, file), line_count(text))
            event("loaded")
        except FlowFileError as exc:
            for problem in exc.problems:
                check_problem(problem, line_count(text), KINDS, file)
    for problem in Linter([src for src, _ in loaded.values()]).run():
        check_problem(problem, loaded[problem.file][1], LINT_KINDS, problem.file)


# --- YAML bombs -------------------------------------------------------------------------


def laughs(levels: int, width: int = 9) -> str:
    """The billion laughs: ``width ** levels`` values written in a few lines."""
    rows = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        rows.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(rows) + "\n"


def refused(text: str) -> Problem:
    started = time.monotonic()
    with pytest.raises(FlowFileError) as caught:
        parse_flow(text, FILE)
    took = time.monotonic() - started
    assert took < 2, f"refusing took {took:.1f} s"
    [problem] = caught.value.problems
    check_problem(problem, line_count(text), {"yaml"})
    return problem


@pytest.mark.parametrize(("levels", "width"), [(9, 9), (40, 2), (12, 5)])
def test_aliases_of_aliases_are_refused_quickly(levels: int, width: int) -> None:
    problem = refused(laughs(levels, width))
    assert f"aliases repeat more than {source.MAX_REPEATED} values" in problem.message


def test_a_billion_laughs_through_merge_keys_and_mappings() -> None:
    rows = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    for i in range(1, 9):
        keys = ", ".join(f"k{j}: *m{i - 1}" for j in range(9))
        rows.append(f"m{i}: &m{i} {{<<: *m{i - 1}, {keys}}}")
    assert "aliases repeat more" in refused("\n".join(rows) + "\n").message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("flow: x\nnodes: &a [*a]\n", 2, "an alias refers to a value that contains it"),
        ("flow: x\nnodes:\n  a: &a {next: *a}\n", 3, "an alias refers to a value that contains it"),
        ("&a [*a]: 1\n", 1, "a key must be a plain value"),
        ("a:\n  b: " + "[" * 60 + "]" * 60 + "\n", 2, "nested deeper than 50 levels"),
        ("a: 1\nb: 1" + "0" * 5000 + "\n", 2, "cannot read the value '1000"),
        ("a: 1\n\nb: 2001-13-45\n", 3, "cannot read the value '2001-13-45': month must be"),
        ("flow: x\n\nstart: \x00\n", 3, "a character YAML does not allow (U+0000)"),
        ("flow: x\r\nstart: \x1b[2J\n", 2, "a character YAML does not allow (U+001B)"),
    ],
)
def test_values_that_cannot_be_built_are_refused_with_their_line(
    text: str, line: int, message: str
) -> None:
    problem = refused(text)
    assert problem.line == line, problem
    assert message in problem.message, problem


def test_aliases_nested_through_each_other_are_bounded() -> None:
    rows = ["x0: &x0 " + "[" * 40 + "1" + "]" * 40]
    for i in range(1, 30):
        rows.append(f"x{i}: &x{i} " + "[" * 40 + f"*x{i - 1}" + "]" * 40)
    assert "nested deeper than 50 levels (aliases followed)" in refused("\n".join(rows)).message


def test_ordinary_anchors_aliases_and_merge_keys_still_work() -> None:
    text = """\
flow: shared
start: menu
nodes:
  menu: &menu_defaults
    type: menu
    prompts: [sound:hello]
    invalid_prompts: &sorry [sound:pm-invalid-option, sound:please-try-again]
    options: {1: other}
    on_exhausted: bye
  other:
    <<: *menu_defaults
    prompts: *sorry
  bye: {type: hangup, prompts: *sorry}
"""
    loaded = parse_flow(text, FILE)
    other = loaded.flow.nodes["other"]
    assert other.type == "menu"
    assert other.options == {"1": "other"}
    assert other.prompts == ["sound:pm-invalid-option", "sound:please-try-again"]
    assert loaded.line("nodes", "other") == 10
    assert [p.kind for p in Linter([loaded]).run()] == []


def test_a_large_list_without_aliases_is_not_taken_for_a_bomb() -> None:
    numbers = ", ".join(f'"+4420794{i:05d}"' for i in range(source.MAX_REPEATED // 10))
    text = f"flow: big\nstart: end\nlists:\n  vip: [{numbers}]\nnodes:\n  end: {{type: hangup}}\n"
    loaded = parse_flow(text, FILE)
    assert len(loaded.flow.lists["vip"]) == source.MAX_REPEATED // 10


def test_a_file_name_with_any_characters(tmp_path: Path) -> None:
    path = tmp_path / "weird name é.yaml"
    path.write_text("flow: [\n", encoding="utf-8")
    _, problems = lint_files([path])
    assert [p.file for p in problems] == [str(path)]
    assert all(c in string.printable or not c.isascii() for c in str(problems[0]))
