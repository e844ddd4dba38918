"""The house rules of docs/architecture.md, checked on every run: the layers only point down
(the import-linter contract in pyproject.toml) and no module imports itself back through
others. Both checks are shown to fail on a deliberate violation."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
PACKAGES: list[str] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"
]


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan's
    strongly connected components with more than one module), TYPE_CHECKING imports too."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def imported_by(module: str) -> Iterator[str]:
        return iter(sorted(graph.find_modules_directly_imported_by(module)))

    def visit(start: str) -> None:  # iterative: the graph is deep enough for recursion limits
        work = [(start, imported_by(start))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(found)


def build() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_layers_point_down() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Layers point down KEPT" in result.stdout


def test_no_module_imports_itself_back() -> None:
    assert circles(build()) == []


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(
            REPO / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "*.xml"),
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    routing = tmp_path / "callcenter" / "acd" / "routing.py"
    routing.write_text(routing.read_text() + "\nimport ari_app.app  # the core reaching up\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "callcenter.acd.routing -> ari_app.app" in result.stdout


def test_a_circle_is_found() -> None:
    graph = build()
    graph.add_import(importer="callcenter.acd.agents", imported="callcenter.acd.routing")
    graph.add_import(importer="callcenter.acd.routing", imported="callcenter.acd.agents")
    assert ["callcenter.acd.agents", "callcenter.acd.routing"] in circles(graph)
