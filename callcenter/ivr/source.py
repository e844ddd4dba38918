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

from callcenter.ivr.schema import Flow

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


# Bounds on what a flow file may make the loader do. A flow nests a handful of levels; anchors
# and aliases (``&prompts`` ... ``*prompts``) may share parts, but a file whose aliases repeat
# aliases (a "billion laughs" file: a few lines that stand for 9**9 values) is refused, as is
# one whose alias refers to a value that contains it, before anything is built from it.
MAX_DEPTH = 50  # levels of nested mappings and lists, aliases followed
MAX_REPEATED = 100_000  # values that aliases repeat, in all


class FlowLoader(yaml.SafeLoader):
    """YAML as people mean it in a flow: only true/false are booleans (YAML 1.1 would read a
    parameter named ``no`` or a key ``on`` as a boolean). Nesting deeper than ``MAX_DEPTH``
    is refused while reading (PyYAML's composer would exhaust Python's stack), and a value
    that cannot be built (an integer of more digits than Python converts, a date that does
    not exist, ``!!int ""``) is an error at its line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark()
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        # PyYAML's scalar constructors fail in these ways on a value an explicit tag does not
        # fit (``!!int ""``: IndexError, ``!!bool x``: KeyError, ``!!timestamp x``:
        # AttributeError) or a value beyond Python's limits (ValueError, OverflowError).
        except (ValueError, ArithmeticError, LookupError, AttributeError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value {_shown(node)}: {exc}", node.start_mark
            ) from exc


FlowLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _shown(node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        return "(a list)" if isinstance(node, yaml.SequenceNode) else "(a mapping)"
    value = str(node.value)
    return repr(value if len(value) <= 40 else value[:40] + "...")


class _TooMuch(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Walk:
    """Records the line of every key and list item; finds duplicate keys; refuses keys that
    are not plain values, aliases that contain themselves, nesting deeper than MAX_DEPTH and
    aliases that repeat more than MAX_REPEATED values."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}
        self.problems: dict[tuple[int, str], None] = {}  # in order, each once
        self._seen: set[int] = set()
        self._open: set[int] = set()
        self._repeated = 0

    def walk(self, node: yaml.Node, path: Loc, here: int | None = None) -> None:
        """``here``: the line in the text where ``node`` is used (for an alias, not the line
        of its anchor, which is the node's own)."""
        line = node.start_mark.line + 1
        here = here or line
        self.lines.setdefault(path, line)
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return
        if id(node) in self._open:
            raise _TooMuch(
                here, "an alias refers to a value that contains it (a value cannot hold itself)"
            )
        if len(path) >= MAX_DEPTH:
            raise _TooMuch(here, f"nested deeper than {MAX_DEPTH} levels (aliases followed)")
        if id(node) in self._seen:
            self._repeated += len(node.value)
            if self._repeated > MAX_REPEATED:
                raise _TooMuch(
                    here, f"aliases repeat more than {MAX_REPEATED} values (aliases of aliases?)"
                )
        self._seen.add(id(node))
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                self._mapping(node, path)
            else:
                for index, item in enumerate(node.value):
                    self.lines[(*path, index)] = item.start_mark.line + 1
                    # An item seen before is an alias: it is used here, on this list's line.
                    used = here if id(item) in self._seen or id(item) in self._open else None
                    self.walk(item, (*path, index), used)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Loc) -> None:
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems[(line, "a key must be a plain value, not a list or mapping")] = None
                continue
            key = str(key_node.value)
            if key in seen:
                self.problems[(line, f"duplicate key {key!r} (first on line {seen[key]})")] = None
            seen[key] = line
            self.lines[(*path, key)] = line
            self.walk(value_node, (*path, key), line)


_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _reader_problem(text: str, exc: yaml.reader.ReaderError, file: str) -> Problem:
    """A character YAML does not allow (NUL, other control characters), with its line."""
    line = len(_YAML_BREAK.findall(text, 0, exc.position)) + 1
    character = exc.character
    shown = f"U+{character:04X}" if isinstance(character, int) else repr(character)
    return Problem(file, line, "yaml", f"a character YAML does not allow ({shown}): {exc.reason}")


def parse_flow(text: str, file: str) -> FlowSource:
    """Parse and validate one flow file; raise FlowFileError listing every problem."""
    version = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    try:
        loader = FlowLoader(text)
    except yaml.reader.ReaderError as exc:
        raise FlowFileError([_reader_problem(text, exc, file)]) from exc
    try:
        root = loader.get_single_node()
        if root is None:
            raise FlowFileError([Problem(file, 1, "schema", "the file is empty")])
        walk = _Walk()
        walk.walk(root, ())
        lines = walk.lines
        if walk.problems:
            raise FlowFileError([Problem(file, line, "yaml", what) for line, what in walk.problems])
        data: Any = loader.construct_document(root)
    except _TooMuch as exc:
        raise FlowFileError([Problem(file, exc.line, "yaml", exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise FlowFileError([Problem(file, line, "yaml", message)]) from exc
    except yaml.YAMLError as exc:
        raise FlowFileError([Problem(file, 1, "yaml", str(exc))]) from exc
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
        shown = ".".join(_printable(p) for i, p in enumerate(loc) if not _is_tag(loc, i))
        shown = shown or "(top)"
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


def _printable(part: str | int) -> str:
    """A key from the file, for a message: control and other invisible characters escaped,
    as ``\\x1b``, so that ``ivr lint`` never sends them to a terminal."""
    text = str(part)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
