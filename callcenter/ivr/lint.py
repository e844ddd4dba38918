"""Checks a flow must pass before it reaches a caller.

Beyond the schema: references to nodes, flows, schedules, lists and variables that do not
exist; nodes no caller can reach; dead ends (a node with nowhere to go); loops with no way
out; keys that cannot be pressed; prompts Asterisk does not have; SQL that is not a query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import ArgumentError

from callcenter.ivr import prompts as prompt_mod
from callcenter.ivr.schema import (
    DTMF_KEYS,
    EXTENDED_KEYS,
    TERMINAL_TYPES,
    CallbackNode,
    CollectNode,
    ConditionNode,
    GotoNode,
    HangupNode,
    LanguageNode,
    LookupNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
)
from callcenter.ivr.source import FlowFileError, FlowSource, Problem, read_flow

BUILTIN_VARIABLES = ("caller", "dialed")

# The edges a node must have, by field: a missing one is a dead end.
REQUIRED_EDGES: dict[type[object], tuple[str, ...]] = {
    PlayNode: ("next",),
    MenuNode: ("on_exhausted",),
    CollectNode: ("next", "on_exhausted"),
    ConditionNode: ("otherwise",),
    LookupNode: ("next", "on_error"),
    LanguageNode: ("next",),
    QueueNode: ("on_unavailable",),
    CallbackNode: ("next", "on_declined"),
}
_FIELD_NAMES = {"otherwise": "else"}
_WHY = {
    "next": "nowhere to go after it",
    "on_exhausted": "nowhere to go when the caller's attempts run out",
    "otherwise": "nowhere to go when no branch holds",
    "on_error": "no fallback when the lookup fails or times out",
    "on_unavailable": "nowhere to go when the queue cannot take the caller",
    "on_declined": "nowhere to go when the caller declines the callback",
}


def edges(node: Node) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(where in the node, target node) for every way out of ``node`` within its flow."""
    match node:
        case MenuNode():
            for key, target in node.options.items():
                yield ("options", key), target
        case ConditionNode():
            for index, branch in enumerate(node.branches):
                yield ("branches", index, "goto"), branch.goto
    for field in (
        "next",
        "on_exhausted",
        "otherwise",
        "not_found",
        "on_error",
        "on_unavailable",
        "on_declined",
    ):
        value = getattr(node, field, None)
        if isinstance(value, str):
            yield (_FIELD_NAMES.get(field, field),), value


def _node_prompts(node: Node) -> Iterator[tuple[str, int, str]]:
    for field in (
        "prompts",
        "invalid_prompts",
        "no_input_prompts",
        "number_prompts",
        "done_prompts",
    ):
        for index, text_ in enumerate(getattr(node, field, None) or []):
            yield field, index, text_


class Linter:
    def __init__(
        self,
        sources: Iterable[FlowSource],
        catalog: prompt_mod.SoundCatalog | None = None,
    ) -> None:
        self.sources = list(sources)
        self.by_name: dict[str, FlowSource] = {}
        self.catalog = catalog
        self.problems: list[Problem] = []

    def _add(
        self,
        src: FlowSource,
        loc: tuple[str | int, ...],
        kind: str,
        message: str,
        *,
        severity: str = "error",
        node: str | None = None,
    ) -> None:
        self.problems.append(Problem(src.file, src.line(*loc), kind, message, severity, node))

    def run(self) -> list[Problem]:
        dids: dict[str, FlowSource] = {}
        default: FlowSource | None = None
        for src in self.sources:
            other = self.by_name.get(src.flow.flow)
            if other is not None:
                self._add(
                    src,
                    ("flow",),
                    "duplicate_flow",
                    f"flow {src.flow.flow!r} is also defined in {other.file}",
                )
            self.by_name[src.flow.flow] = src
            for index, did in enumerate(src.flow.dids):
                if did in dids and dids[did] is not src:
                    self._add(
                        src,
                        ("dids", index),
                        "duplicate_did",
                        f"number {did} is also answered by {dids[did].file}",
                    )
                dids[did] = src
            if src.flow.default:
                if default is not None:
                    self._add(
                        src,
                        ("default",),
                        "duplicate_default",
                        f"{default.file} is already the default flow",
                    )
                default = src
        for src in self.sources:
            self._flow(src)
        self._graph()
        return self.problems

    # --- one flow ---------------------------------------------------------------------

    def _flow(self, src: FlowSource) -> None:
        flow = src.flow
        if flow.start not in flow.nodes:
            self._add(src, ("start",), "unknown_node", f"start node {flow.start!r} does not exist")
        defined = set(BUILTIN_VARIABLES)
        prefixes: set[str] = set()
        languages = {flow.language}
        for node in flow.nodes.values():
            if isinstance(node, CollectNode):
                defined.add(node.into)
            elif isinstance(node, LookupNode):
                defined.add(node.into)
                prefixes.add(node.into)
            elif isinstance(node, LanguageNode):
                languages.add(node.language)
        for name, node in flow.nodes.items():
            here = ("nodes", name)
            for where, target in edges(node):
                if target not in flow.nodes:
                    self._add(
                        src,
                        (*here, *where),
                        "unknown_node",
                        f"node {name!r} goes to {target!r}, which does not exist",
                        node=name,
                    )
            for field in REQUIRED_EDGES.get(type(node), ()):
                if getattr(node, field) is None:
                    self._add(
                        src,
                        here,
                        "dead_end",
                        f"{node.type} node {name!r} has {_WHY[field]} "
                        f"(set {_FIELD_NAMES.get(field, field)})",
                        node=name,
                    )
            self._keys(src, name, node)
            self._references(src, name, node)
            self._variables(src, name, node, defined, prefixes)
            self._prompts(src, name, node, languages)
            if isinstance(node, LookupNode) and node.sql is not None:
                self._sql(src, name, node)
        for index, text_ in enumerate(flow.error_prompts):
            self._prompt(src, ("error_prompts", index), None, text_, languages)

    def _keys(self, src: FlowSource, name: str, node: Node) -> None:
        here = ("nodes", name)
        if isinstance(node, MenuNode):
            for key in node.options:
                loc = (*here, "options", key)
                if len(key) != 1 or key not in DTMF_KEYS + EXTENDED_KEYS:
                    self._add(
                        src,
                        loc,
                        "bad_key",
                        f"menu {name!r}: {key!r} is not a key on a phone (one of 0-9 * #)",
                        node=name,
                    )
                elif key in EXTENDED_KEYS:
                    self._add(
                        src,
                        loc,
                        "bad_key",
                        f"menu {name!r}: key {key} is missing from most phones",
                        severity="warning",
                        node=name,
                    )
                if node.repeat_key is not None and key == node.repeat_key:
                    self._add(
                        src,
                        loc,
                        "bad_key",
                        f"menu {name!r}: key {key} is also the repeat key, so this "
                        "option can never be chosen",
                        node=name,
                    )
            if node.repeat_key is not None and (
                len(node.repeat_key) != 1 or node.repeat_key not in DTMF_KEYS
            ):
                self._add(
                    src,
                    (*here, "repeat_key"),
                    "bad_key",
                    f"menu {name!r}: repeat key {node.repeat_key!r} cannot be pressed",
                    node=name,
                )
        elif isinstance(node, CollectNode) and node.terminator is not None:
            if len(node.terminator) != 1 or node.terminator not in DTMF_KEYS:
                self._add(
                    src,
                    (*here, "terminator"),
                    "bad_key",
                    f"collect {name!r}: terminator {node.terminator!r} cannot be pressed",
                    node=name,
                )
            elif node.terminator.isdigit():
                self._add(
                    src,
                    (*here, "terminator"),
                    "bad_key",
                    f"collect {name!r}: terminator {node.terminator} makes the digit "
                    f"{node.terminator} impossible to enter",
                    node=name,
                )

    def _references(self, src: FlowSource, name: str, node: Node) -> None:
        flow = src.flow
        here = ("nodes", name)
        if isinstance(node, ConditionNode):
            for index, branch in enumerate(node.branches):
                loc = (*here, "branches", index, "if")
                for schedule in (branch.when.open, branch.when.closed):
                    if schedule is not None and schedule not in flow.schedules:
                        self._add(
                            src,
                            loc,
                            "unknown_schedule",
                            f"condition {name!r}: no schedule {schedule!r} in this flow",
                            node=name,
                        )
                if isinstance(branch.when.caller_in, str) and (
                    branch.when.caller_in not in flow.lists
                ):
                    self._add(
                        src,
                        loc,
                        "unknown_list",
                        f"condition {name!r}: no list {branch.when.caller_in!r} in this flow",
                        node=name,
                    )

    def _variables(
        self, src: FlowSource, name: str, node: Node, defined: set[str], prefixes: set[str]
    ) -> None:
        used: list[tuple[tuple[str | int, ...], str]] = []
        for field, index, text_ in _node_prompts(node):
            used += [((field, index), v) for v in prompt_mod.VARIABLE.findall(text_)]
        if isinstance(node, LookupNode):
            for key, value in node.params.items():
                used += [(("params", key), v) for v in prompt_mod.VARIABLE.findall(value)]
            if node.http is not None:
                used += [(("http", "url"), v) for v in prompt_mod.VARIABLE.findall(node.http.url)]
        if isinstance(node, ConditionNode):
            used += [
                (("branches", i, "if"), b.when.var)
                for i, b in enumerate(node.branches)
                if b.when.var is not None
            ]
        for loc, var in used:
            if var in defined or var.split(".", 1)[0] in prefixes:
                continue
            self._add(
                src,
                ("nodes", name, *loc),
                "unknown_variable",
                f"node {name!r} uses ${{{var}}}, which no node sets (variables: "
                f"{', '.join(sorted(defined))})",
                node=name,
            )

    def _prompts(self, src: FlowSource, name: str, node: Node, languages: set[str]) -> None:
        for field, index, text_ in _node_prompts(node):
            self._prompt(src, ("nodes", name, field, index), name, text_, languages)

    def _prompt(
        self,
        src: FlowSource,
        loc: tuple[str | int, ...],
        node: str | None,
        text_: str,
        languages: set[str],
    ) -> None:
        try:
            prompt_mod.parse_prompt(text_)
        except prompt_mod.PromptError as exc:
            self._add(src, loc, "bad_prompt", str(exc), node=node)
            return
        if self.catalog is None:
            return
        for sound in prompt_mod.sounds_needed([text_]):
            missing = [lang for lang in sorted(languages) if not self.catalog.has(sound, lang)]
            if missing:
                self._add(
                    src,
                    loc,
                    "unknown_prompt",
                    f"Asterisk has no sound {sound!r} in {', '.join(missing)}",
                    node=node,
                )

    def _sql(self, src: FlowSource, name: str, node: LookupNode) -> None:
        assert node.sql is not None
        loc = ("nodes", name, "sql")
        body = node.sql.strip().rstrip(";").strip()
        if ";" in body:
            self._add(src, loc, "bad_sql", f"lookup {name!r}: one statement only", node=name)
        if not re.match(r"(?is)^(select|with)\b", body):
            self._add(
                src,
                loc,
                "bad_sql",
                f"lookup {name!r}: only a query (SELECT or WITH) may run from a flow",
                node=name,
            )
        try:
            binds = set(text(body)._bindparams)
        except ArgumentError as exc:  # pragma: no cover - text() rarely refuses
            self._add(src, loc, "bad_sql", f"lookup {name!r}: {exc}", node=name)
            return
        for bind in sorted(binds - set(node.params)):
            self._add(
                src, loc, "bad_sql", f"lookup {name!r}: :{bind} has no value in params", node=name
            )

    # --- the graph across flows -------------------------------------------------------

    def _graph(self) -> None:
        # Nodes are "flow/node"; a goto is an edge to the other flow's node.
        succ: dict[str, set[str]] = {}
        terminal: set[str] = set()
        for src in self.sources:
            flow = src.flow
            for name, node in flow.nodes.items():
                key = f"{flow.flow}/{name}"
                succ[key] = {f"{flow.flow}/{t}" for _, t in edges(node) if t in flow.nodes}
                if isinstance(node, GotoNode):
                    target = self.by_name.get(node.flow)
                    loc = ("nodes", name, "flow")
                    if target is None:
                        self._add(
                            src,
                            loc,
                            "unknown_flow",
                            f"goto {name!r}: no flow {node.flow!r} among the files checked",
                            node=name,
                        )
                        terminal.add(key)
                    else:
                        entry = node.node or target.flow.start
                        if entry not in target.flow.nodes:
                            self._add(
                                src,
                                ("nodes", name, "node"),
                                "unknown_node",
                                f"goto {name!r}: flow {node.flow!r} has no node {entry!r}",
                                node=name,
                            )
                            terminal.add(key)
                        else:
                            succ[key].add(f"{node.flow}/{entry}")
                elif node.type in TERMINAL_TYPES:
                    terminal.add(key)
                elif any(getattr(node, f) is None for f in REQUIRED_EDGES.get(type(node), ())):
                    terminal.add(key)  # a dead end, reported already; not a loop too
        # Nodes reached from each flow's start (through gotos too).
        reached: set[str] = set()
        for src in self.sources:
            start = f"{src.flow.flow}/{src.flow.start}"
            if start in succ:
                _reach(start, succ, reached)
        for src in self.sources:
            for name in src.flow.nodes:
                if f"{src.flow.flow}/{name}" not in reached:
                    self._add(
                        src,
                        ("nodes", name),
                        "unreachable",
                        f"node {name!r} cannot be reached from start {src.flow.start!r}",
                        node=name,
                    )
        # Nodes from which the caller can get out (a terminal node is reachable).
        pred: dict[str, set[str]] = {k: set() for k in succ}
        for k, targets in succ.items():
            for t in targets:
                pred.setdefault(t, set()).add(k)
        can_exit: set[str] = set()
        for t in terminal:
            _reach(t, pred, can_exit)
        stuck = {k for k in reached if k not in can_exit}
        for component in _cycles({k: succ[k] & stuck for k in stuck}):
            flow_name, first = sorted(component)[0].split("/", 1)
            src = self.by_name[flow_name]
            loop = " -> ".join(sorted(component)) + " -> ..."
            self._add(
                src,
                ("nodes", first),
                "no_way_out",
                f"loop with no way out: {loop} (no path from it ends the call or leaves the IVR)",
                node=first,
            )


def _reach(start: str, graph: Mapping[str, set[str]], seen: set[str]) -> None:
    stack = [start]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        stack.extend(graph.get(key, ()))


def _cycles(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """Strongly connected components that hold a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(component)
    return found


def lint_files(
    paths: Iterable[Path], catalog: prompt_mod.SoundCatalog | None = None
) -> tuple[list[FlowSource], list[Problem]]:
    """Read and check flow files; returns the flows that parsed and every problem found."""
    sources: list[FlowSource] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            sources.append(read_flow(path))
        except FlowFileError as exc:
            problems.extend(exc.problems)
    problems.extend(Linter(sources, catalog).run())
    return sources, problems


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


__all__ = ["HangupNode", "Linter", "edges", "errors", "lint_files"]
