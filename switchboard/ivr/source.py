"""Reading a flow file: YAML with the line of every key kept, so errors name their line."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from switchboard.ivr.schema import Flow

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow file."""

    file: str
    line: int | None
    kind: str
    message: str
    severity: str = "error"
    node: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: [{self.kind}] {self.message}"


@dataclass(frozen=True)
class FlowSource:
    """A parsed flow and where each part of it came from."""

    flow: Flow
    file: str
    version: str
    lines: dict[Loc, int] = field(repr=False, compare=False)

    def line(self, *loc: str | int) -> int | None:
        return line_for(self.lines, loc)


class FlowFileError(Exception):
    """The file cannot be a flow; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def line_for(lines: dict[Loc, int], loc: Iterable[str | int]) -> int | None:
    """The line of the deepest part of ``loc`` that the file has (validation locations carry
    extra parts, such as a union's tag, that are not in the file)."""
    path: Loc = ()
    best = lines.get(path)
    for part in loc:
        for candidate in (part, str(part)):
            if (*path, candidate) in lines:
                path = (*path, candidate)
                best = lines[path]
                break
    return best


class FlowLoader(yaml.SafeLoader):
    """YAML as people mean it in a flow: only true/false are booleans (YAML 1.1 would read a
    parameter named ``no`` or a key ``on`` as a boolean)."""


FlowLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _walk(node: yaml.Node, path: Loc, lines: dict[Loc, int], problems: list[str]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(f"{line}:duplicate key {key!r} (first on line {seen[key]})")
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, problems)


def parse_flow(text: str, file: str) -> FlowSource:
    """Parse and validate one flow file; raise FlowFileError listing every problem."""
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    loader = FlowLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise FlowFileError([Problem(file, 1, "schema", "the file is empty")])
        lines: dict[Loc, int] = {}
        duplicates: list[str] = []
        _walk(root, (), lines, duplicates)
        if duplicates:
            raise FlowFileError(
                [
                    Problem(file, int(d.split(":", 1)[0]), "yaml", d.split(":", 1)[1])
                    for d in duplicates
                ]
            )
        data: Any = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise FlowFileError([Problem(file, line, "yaml", message)]) from exc
    except yaml.YAMLError as exc:
        raise FlowFileError([Problem(file, None, "yaml", str(exc))]) from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise FlowFileError([Problem(file, 1, "schema", "a flow file is a mapping (flow:, ...)")])
    data.setdefault("flow", Path(file).stem)
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowFileError(_schema_problems(exc, lines, file)) from exc
    return FlowSource(flow, file, version, lines)


def _schema_problems(exc: ValidationError, lines: dict[Loc, int], file: str) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        shown = ".".join(str(p) for i, p in enumerate(loc) if not _is_tag(loc, i)) or "(top)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "union_tag_invalid":
            message = f"unknown node type {error.get('input', {}).get('type')!r}; " + (
                "one of play, menu, collect, condition, lookup, language, goto, queue, "
                "callback, hangup"
            )
        elif error["type"] == "union_tag_not_found":
            message = "a node needs a type (play, menu, collect, condition, ...)"
        node = str(loc[1]) if len(loc) > 1 and loc[0] == "nodes" else None
        problems.append(
            Problem(file, line_for(lines, loc), "schema", f"{shown}: {message}", node=node)
        )
    return problems


_TAGS = {
    "play",
    "menu",
    "collect",
    "condition",
    "lookup",
    "language",
    "goto",
    "queue",
    "callback",
    "hangup",
}


def _is_tag(loc: Loc, index: int) -> bool:
    """Validation puts the node's type after its name: nodes.<name>.<type>.<field>."""
    return index == 2 and loc[0] == "nodes" and loc[index] in _TAGS


def read_flow(path: Path) -> FlowSource:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowFileError([Problem(str(path), None, "file", f"cannot read: {exc}")]) from exc
    return parse_flow(text, str(path))
