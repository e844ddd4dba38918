"""Flows served by number, and reloads that never put a broken flow in front of a caller."""

from __future__ import annotations

import os
from pathlib import Path

from callcenter.ivr.library import FlowLibrary

FLOW = """\
flow: {name}
dids: [{did}]
default: {default}
start: bye
nodes:
  bye: {{type: hangup, prompts: [{prompt}]}}
"""


def write(
    path: Path, name: str, did: str, *, default: bool = False, prompt: str = "goodbye"
) -> None:
    path.write_text(FLOW.format(name=name, did=did, default=str(default).lower(), prompt=prompt))
    # Make sure the poller sees a change even within the file system's time resolution.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_flows_are_chosen_by_number_with_a_default(tmp_path: Path) -> None:
    write(tmp_path / "sales.yaml", "sales", "'+442079460100'")
    write(tmp_path / "main.yaml", "main", "'100'", default=True)
    library = FlowLibrary(tmp_path)
    report = library.reload()
    assert sorted(report.loaded) == ["main.yaml", "sales.yaml"] and not report.problems
    flows = library.current
    assert flows.for_number("+442079460100") is flows.flows["sales"]
    assert flows.for_number("442079460100") is flows.flows["sales"]  # same digits
    assert flows.for_number("100") is flows.flows["main"]
    assert flows.for_number("999") is flows.flows["main"]
    assert flows.for_number(None) is flows.flows["main"]


def test_a_broken_file_keeps_its_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "main.yaml"
    write(path, "main", "'100'", default=True)
    library = FlowLibrary(tmp_path)
    library.reload()
    before = library.current
    good_version = before.flows["main"].version

    path.write_text("flow: main\nstart: bye\nnodes:\n  bye: {type: hangup\n")
    report = library.reload_if_changed()
    assert report is not None
    assert report.kept == ["main.yaml"] and not report.loaded
    assert report.problems[0].line == 5 and report.problems[0].kind == "yaml"
    assert library.current.flows["main"].version == good_version

    # Lint errors are refused the same way (a dead end here).
    path.write_text(
        "flow: main\ndefault: true\nstart: a\nnodes:\n  a: {type: play, prompts: [x]}\n"
    )
    report = library.reload_if_changed()
    assert report is not None and report.kept == ["main.yaml"]
    assert [p.kind for p in report.problems] == ["dead_end"]
    assert library.current.flows["main"].version == good_version

    # A good edit goes live as a new generation; the old snapshot is unchanged.
    write(path, "main", "'100'", default=True, prompt="vm-goodbye")
    report = library.reload_if_changed()
    assert report is not None and report.loaded == ["main.yaml"]
    after = library.current
    assert after.generation == before.generation + 1
    assert after.flows["main"].version != good_version
    assert before.flows["main"].version == good_version

    assert library.reload_if_changed() is None  # nothing changed


def test_removed_files_leave_and_goto_targets_are_checked_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "flow: a\ndefault: true\nstart: g\nnodes:\n  g: {type: goto, flow: b}\n"
    )
    (tmp_path / "b.yaml").write_text("flow: b\nstart: h\nnodes:\n  h: {type: hangup}\n")
    library = FlowLibrary(tmp_path)
    assert not library.reload().problems
    assert sorted(library.current.flows) == ["a", "b"]
    (tmp_path / "b.yaml").unlink()
    report = library.reload()
    # Without b, a's goto leads nowhere: a is refused but its good version stays.
    assert [p.kind for p in report.problems] == ["unknown_flow"]
    assert report.removed == ["b.yaml"]
    assert sorted(library.current.flows) == ["a"]
