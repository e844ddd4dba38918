"""A flow as a tree, for `switchboard ivr show`."""

from __future__ import annotations

from rich.markup import escape
from rich.tree import Tree

from callcenter.ivr.lint import edges
from callcenter.ivr.schema import (
    CallbackNode,
    CollectNode,
    ConditionNode,
    GotoNode,
    LanguageNode,
    LookupNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    VoicemailNode,
)
from callcenter.ivr.source import FlowSource


def describe(node: Node) -> str:
    match node:
        case PlayNode() | MenuNode():
            return ", ".join(node.prompts)
        case CollectNode():
            return f"{node.min_digits}-{node.max_digits} digits into ${{{node.into}}}"
        case LookupNode():
            return f"{'sql' if node.sql else 'http'} into ${{{node.into}}}, {node.timeout:g} s"
        case LanguageNode():
            return node.language
        case GotoNode():
            return f"flow {node.flow}" + (f" at {node.node}" if node.node else "")
        case QueueNode():
            skills = ", ".join(f"{k}>={v}" for k, v in node.skills.items())
            return f"{node.queue} priority {node.priority}" + (f" [{skills}]" if skills else "")
        case CallbackNode():
            return f"queue {node.queue}" if node.queue else ""
        case VoicemailNode():
            return f"message for queue {node.queue}, up to {node.max_seconds:g} s"
        case ConditionNode():
            return f"{len(node.branches)} branch(es)"
    return ", ".join(getattr(node, "prompts", []))


def _label(name: str, node: Node) -> str:
    detail = describe(node)
    return f"[bold]{escape(name)}[/] [cyan]{node.type}[/]" + (
        f" [dim]{escape(detail)}[/]" if detail else ""
    )


def _edge_label(where: tuple[str | int, ...], node: Node) -> str:
    if where[0] == "options":
        return f"key {where[1]}"
    if where[0] == "branches" and isinstance(node, ConditionNode):
        test = node.branches[int(where[1])].when
        shown = test.model_dump(exclude_none=True, by_alias=True)
        return "if " + ", ".join(f"{k}={v}" for k, v in shown.items())
    return str(where[0])


def flow_tree(source: FlowSource) -> Tree:
    flow = source.flow
    title = f"[bold]{escape(flow.flow)}[/] [dim]{escape(source.file)} version {source.version}"
    if flow.dids:
        title += f", numbers {escape(', '.join(flow.dids))}"
    if flow.default:
        title += ", default"
    tree = Tree(title + "[/]")
    # Each node is drawn in full where a caller first reaches it (breadth first), so the
    # tree reads level by level; elsewhere it is a reference.
    home: dict[str, tuple[str, int]] = {}
    queue = [flow.start] if flow.start in flow.nodes else []
    seen = set(queue)
    while queue:
        current = queue.pop(0)
        for index, (_, target) in enumerate(edges(flow.nodes[current])):
            if target in flow.nodes and target not in seen:
                seen.add(target)
                home[target] = (current, index)
                queue.append(target)
    shown: set[str] = set()

    def add(parent: Tree, name: str, via: str | None, owner: tuple[str, int] | None) -> None:
        node = flow.nodes.get(name)
        prefix = f"[yellow]{escape(via)}[/] -> " if via else ""
        if node is None:
            parent.add(f"{prefix}[red]{escape(name)} (missing)[/]")
            return
        if name in shown or (owner is not None and home.get(name, owner) != owner):
            parent.add(f"{prefix}[dim]↪ {escape(name)}[/]")
            return
        shown.add(name)
        branch = parent.add(prefix + _label(name, node))
        for index, (where, target) in enumerate(edges(node)):
            add(branch, target, _edge_label(where, node), (name, index))

    add(tree, flow.start, None, None)
    for name in flow.nodes:
        if name not in shown:
            add(tree, name, "unreachable", None)
    return tree
