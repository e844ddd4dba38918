"""Broken flows, one kind of error each, found with their line numbers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callcenter.ivr.lint import lint_files
from callcenter.ivr.prompts import SoundCatalog
from callcenter.ivr.source import FlowFileError, Problem, parse_flow
from switchboard.cli.main import app

CATALOG = SoundCatalog(
    {
        "en": {
            "hello",
            "goodbye",
            "menu",
            "pm-invalid-option",
            "please-try-again",
            "sorry-youre-having-problems",
            "vm-enter-num-to-call",
            "vm-then-pound",
            "auth-thankyou",
            "digits/day-0",
            "digits/mon-0",
            "digits/h-1",
        }
    }
)

GOOD = """\
flow: good
start: menu
nodes:
  menu:
    type: menu
    prompts: [menu]
    options: {1: bye}
    on_exhausted: bye
  bye: {type: hangup, prompts: [goodbye]}
"""


def lint(tmp_path: Path, text: str, *others: str) -> list[Problem]:
    paths = []
    for index, body in enumerate((text, *others)):
        path = tmp_path / f"flow{index}.yaml"
        path.write_text(textwrap.dedent(body))
        paths.append(path)
    _, problems = lint_files(paths, CATALOG)
    return problems


def only(problems: list[Problem], kind: str) -> Problem:
    found = [p for p in problems if p.kind == kind]
    assert len(found) == 1, problems
    return found[0]


def test_a_good_flow_has_no_problems(tmp_path: Path) -> None:
    assert lint(tmp_path, GOOD) == []


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    problem = only(
        lint(tmp_path, "flow: x\nstart: a\nnodes:\n  a: {type: hangup\n  b: 1\n"), "yaml"
    )
    assert problem.line == 5
    assert "flow0.yaml:5" in str(problem)


def test_schema_errors_have_their_lines(tmp_path: Path) -> None:
    text = GOOD.replace("options: {1: bye}", "options: {1: bye}\n    timeout: -3").replace(
        "  bye: {type: hangup, prompts: [goodbye]}", "  bye: {type: hang_up}"
    )
    problems = lint(tmp_path, text)
    assert {(p.line, p.kind) for p in problems} == {(8, "schema"), (10, "schema")}
    messages = " ".join(p.message for p in problems)
    assert "nodes.menu.timeout" in messages
    assert "unknown node type 'hang_up'" in messages


def test_unknown_field_and_duplicate_key(tmp_path: Path) -> None:
    problem = only(
        lint(tmp_path, GOOD.replace("    on_exhausted: bye", "    on_exhaust: bye")), "schema"
    )
    assert problem.line == 8 and "on_exhaust" in problem.message
    problem = only(
        lint(tmp_path, GOOD.replace("options: {1: bye}", "options: {1: bye, 1: menu}")), "yaml"
    )
    assert problem.line == 7 and "duplicate key '1'" in problem.message


def test_yaml_11_booleans_are_not_surprises(tmp_path: Path) -> None:
    text = GOOD.replace("options: {1: bye}", "options: {1: bye}\n    repeat_key: '*'")
    assert parse_flow(textwrap.dedent(text), "x").flow.nodes["menu"].type == "menu"
    # "no" and "on" stay words: a list named no, a var equal to "on".
    flow = parse_flow(
        "flow: f\nstart: c\nlists: {no: ['1']}\nnodes:\n"
        "  c: {type: condition, branches: [{if: {caller_in: no}, goto: h}], else: h}\n"
        "  h: {type: hangup}\n",
        "f.yaml",
    )
    assert "no" in flow.flow.lists


def test_unknown_node_reference(tmp_path: Path) -> None:
    problem = only(
        lint(tmp_path, GOOD.replace("options: {1: bye}", "options: {1: byee}")), "unknown_node"
    )
    assert problem.line == 7 and "'byee'" in problem.message


def test_unreachable_node(tmp_path: Path) -> None:
    text = GOOD + "  orphan: {type: play, prompts: [hello], next: bye}\n"
    problem = only(lint(tmp_path, text), "unreachable")
    assert problem.line == 10 and problem.node == "orphan"


def test_dead_end(tmp_path: Path) -> None:
    text = GOOD.replace("options: {1: bye}", "options: {1: greet}") + (
        "  greet: {type: play, prompts: [hello]}\n"
    )
    problem = only(lint(tmp_path, text), "dead_end")
    assert problem.line == 10 and "nowhere to go after it" in problem.message
    missing_fallback = GOOD.replace("options: {1: bye}", "options: {1: look}") + (
        "  look: {type: lookup, sql: 'select 1', into: r, next: bye}\n"
    )
    assert "no fallback" in only(lint(tmp_path, missing_fallback), "dead_end").message


def test_loop_with_no_way_out(tmp_path: Path) -> None:
    text = GOOD.replace("options: {1: bye}", "options: {1: a}") + (
        "  a: {type: play, prompts: [hello], next: b}\n"
        "  b: {type: play, prompts: [hello], next: a}\n"
    )
    problem = only(lint(tmp_path, text), "no_way_out")
    assert "good/a -> good/b" in problem.message and problem.line == 10
    # A loop the caller can leave is fine: the menu's key 1 goes back, on_exhausted ends.
    fine = GOOD.replace("options: {1: bye}", "options: {1: menu, 2: bye}")
    assert lint(tmp_path, fine) == []


def test_menu_that_only_loops_on_itself(tmp_path: Path) -> None:
    text = GOOD.replace("options: {1: bye}", "options: {1: menu}").replace(
        "on_exhausted: bye", "on_exhausted: menu"
    )
    problems = lint(tmp_path, text)
    assert only(problems, "no_way_out").node == "menu"


def test_keys_that_cannot_be_pressed(tmp_path: Path) -> None:
    text = GOOD.replace(
        "options: {1: bye}", "options: {1: bye, 10: bye, x: bye, '*': bye}\n    repeat_key: '*'"
    )
    problems = [p for p in lint(tmp_path, text) if p.kind == "bad_key"]
    assert sorted(p.message.split(":")[1].strip().split(" ")[0] for p in problems) == [
        "'10'",
        "'x'",
        "key",
    ]
    assert all(p.line == 7 for p in problems)
    warning = lint(tmp_path, GOOD.replace("options: {1: bye}", "options: {1: bye, A: bye}"))
    assert only(warning, "bad_key").severity == "warning"
    terminator = GOOD.replace("options: {1: bye}", "options: {1: acct}") + (
        "  acct: {type: collect, prompts: [hello], into: a, terminator: 5, next: bye,"
        " on_exhausted: bye}\n"
    )
    assert "impossible to enter" in only(lint(tmp_path, terminator), "bad_key").message


def test_prompts_asterisk_does_not_have(tmp_path: Path) -> None:
    problem = only(
        lint(tmp_path, GOOD.replace("prompts: [menu]", "prompts: [menu, helo]")), "unknown_prompt"
    )
    assert problem.line == 6 and "'helo'" in problem.message
    in_french = GOOD.replace("start: menu", "start: fr").replace(
        "nodes:\n", "nodes:\n  fr: {type: language, language: fr, next: menu}\n"
    )
    assert (
        "in fr" in next(p for p in lint(tmp_path, in_french) if p.kind == "unknown_prompt").message
    )
    bad_kind = only(
        lint(tmp_path, GOOD.replace("prompts: [menu]", "prompts: ['say:1']")), "bad_prompt"
    )
    assert "unknown prompt kind 'say'" in bad_kind.message


def test_unknown_variables_schedules_and_lists(tmp_path: Path) -> None:
    text = GOOD.replace("prompts: [menu]", "prompts: [menu, 'digits:${acount}']")
    assert "${acount}" in only(lint(tmp_path, text), "unknown_variable").message
    text = GOOD.replace("start: menu", "start: c").replace(
        "nodes:\n",
        "nodes:\n  c: {type: condition, branches: [{if: {open: office}, goto: menu},"
        " {if: {caller_in: vips}, goto: menu}], else: menu}\n",
    )
    problems = lint(tmp_path, text)
    assert only(problems, "unknown_schedule").line == 4
    assert only(problems, "unknown_list").line == 4


def test_sql_must_be_a_query_with_its_params(tmp_path: Path) -> None:
    base = GOOD.replace("options: {1: bye}", "options: {1: look}")
    text = (
        base
        + "  look: {type: lookup, sql: 'delete from x where a = :a', into: r, next: bye,"
        + " on_error: bye}\n"
    )
    messages = [p.message for p in lint(tmp_path, text) if p.kind == "bad_sql"]
    assert any("only a query" in m for m in messages)
    assert any(":a has no value" in m for m in messages)


def test_gotos_across_files(tmp_path: Path) -> None:
    text = GOOD.replace("options: {1: bye}", "options: {1: other}") + (
        "  other: {type: goto, flow: second}\n"
    )
    assert "no flow 'second'" in only(lint(tmp_path, text), "unknown_flow").message
    second = "flow: second\nstart: h\nnodes:\n  h: {type: hangup}\n"
    assert lint(tmp_path, text, second) == []
    # Two flows that only send callers to each other: a loop with no way out.
    ping = "flow: ping\nstart: g\nnodes:\n  g: {type: goto, flow: pong}\n"
    pong = "flow: pong\nstart: g\nnodes:\n  g: {type: goto, flow: ping}\n"
    assert only(lint(tmp_path, ping, pong), "no_way_out")


def test_duplicate_numbers_and_defaults(tmp_path: Path) -> None:
    one = GOOD.replace("flow: good", "flow: one\ndids: ['100']\ndefault: true")
    two = GOOD.replace("flow: good", "flow: two\ndids: ['100']\ndefault: true")
    kinds = {p.kind for p in lint(tmp_path, one, two)}
    assert kinds == {"duplicate_did", "duplicate_default"}


def test_parse_error_lists_every_problem() -> None:
    with pytest.raises(FlowFileError) as caught:
        parse_flow("flow: x\nnodes: {}\n", "x.yaml")
    assert {p.kind for p in caught.value.problems} == {"schema"}
    assert len(caught.value.problems) == 2  # start missing, nodes empty


def test_cli_lint_exit_codes_and_show(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("flow: good", "flow: bad").replace(
            "options: {1: bye}", "options: {1: nowhere}"
        )
    )
    runner = CliRunner()
    ok = runner.invoke(app, ["ivr", "lint", "--no-sounds", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "0 error(s)" in ok.output
    failed = runner.invoke(app, ["ivr", "lint", "--no-sounds", str(tmp_path)])
    assert failed.exit_code == 1
    assert "bad.yaml:7" in failed.output and "unknown_node" in failed.output
    shown = runner.invoke(app, ["ivr", "show", str(good)])
    assert shown.exit_code == 0
    assert "key 1" in shown.output and "bye" in shown.output


def test_the_example_flows_pass(tmp_path: Path) -> None:
    examples = Path(__file__).parents[2] / "flows"
    _, problems = lint_files(sorted(examples.glob("*.yaml")), None)
    assert problems == []


def test_doctor_reports_the_first_flow_error(tmp_path: Path) -> None:
    from callcenter.config import Settings
    from switchboard.doctor import check_flows

    unset = check_flows(Settings(_env_file=None))
    assert unset.ok and unset.warning and "no flows folder set" in unset.detail
    folder = tmp_path / "flows"
    missing = check_flows(Settings(_env_file=None, flows_dir=folder))
    assert missing is not None and not missing.ok and "no such directory" in missing.detail
    folder.mkdir()
    (folder / "good.yaml").write_text(GOOD)
    fine = check_flows(Settings(_env_file=None, flows_dir=folder))
    assert fine is not None and fine.ok and "good" in fine.detail
    (folder / "bad.yaml").write_text(
        GOOD.replace("flow: good", "flow: bad").replace("{1: bye}", "{1: nowhere}")
    )
    broken = check_flows(Settings(_env_file=None, flows_dir=folder))
    assert broken is not None and not broken.ok
    assert "bad.yaml:7" in broken.detail and "unknown_node" in broken.detail
