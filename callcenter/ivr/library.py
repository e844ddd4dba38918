"""The flows a running node serves, reloaded from their directory without dropping calls.

A call takes the snapshot current when it arrives (an immutable mapping) and keeps it to the
end, so a reload never changes a flow under a caller. A file that fails to parse or lint is
refused with its problems and its previous good version stays live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import structlog

from callcenter.ivr.lint import Linter, errors
from callcenter.ivr.prompts import SoundCatalog
from callcenter.ivr.source import FlowFileError, FlowSource, Problem, read_flow

log = structlog.get_logger(__name__)

SUFFIXES = (".yaml", ".yml")


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


@dataclass(frozen=True)
class FlowSet:
    """One consistent generation of flows."""

    flows: Mapping[str, FlowSource] = field(default_factory=lambda: MappingProxyType({}))
    generation: int = 0

    def for_number(self, dialed: str | None) -> FlowSource | None:
        """The flow answering ``dialed``: an exact DID, the same digits, else the default."""
        if dialed:
            for src in self.flows.values():
                if dialed in src.flow.dids:
                    return src
            digits = _digits(dialed)
            for src in self.flows.values():
                if digits and any(_digits(did) == digits for did in src.flow.dids):
                    return src
        for src in self.flows.values():
            if src.flow.default:
                return src
        return None


@dataclass(frozen=True)
class ReloadReport:
    loaded: list[str]
    kept: list[str]
    removed: list[str]
    problems: list[Problem]

    @property
    def changed(self) -> bool:
        return bool(self.loaded or self.removed)


class FlowLibrary:
    def __init__(self, directory: Path, catalog: SoundCatalog | None = None) -> None:
        self.directory = directory
        self.catalog = catalog
        self._current = FlowSet()
        self._good: dict[Path, FlowSource] = {}
        self._signature: tuple[tuple[str, int, int], ...] | None = None

    @property
    def current(self) -> FlowSet:
        return self._current

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.suffix in SUFFIXES and p.is_file())

    def signature(self) -> tuple[tuple[str, int, int], ...]:
        entries = []
        for path in self.files():
            try:
                st = path.stat()
            except OSError:
                continue
            entries.append((path.name, st.st_mtime_ns, st.st_size))
        return tuple(entries)

    def reload_if_changed(self) -> ReloadReport | None:
        signature = self.signature()
        if signature == self._signature:
            return None
        return self.reload(signature)

    def reload(self, signature: tuple[tuple[str, int, int], ...] | None = None) -> ReloadReport:
        """Read every file; keep the previous good version of any file that is now bad."""
        self._signature = signature if signature is not None else self.signature()
        problems: list[Problem] = []
        candidate: dict[Path, FlowSource] = {}
        loaded: list[str] = []
        kept: list[str] = []
        for path in self.files():
            try:
                src = read_flow(path)
            except FlowFileError as exc:
                problems.extend(exc.problems)
                if path in self._good:
                    candidate[path] = self._good[path]
                    kept.append(path.name)
                continue
            file_problems = errors(Linter([src], None).run())
            file_problems = [p for p in file_problems if p.kind != "unknown_flow"]
            if file_problems:
                problems.extend(file_problems)
                if path in self._good:
                    candidate[path] = self._good[path]
                    kept.append(path.name)
                continue
            candidate[path] = src
            previous = self._good.get(path)
            if previous is None or previous.version != src.version:
                loaded.append(path.name)
        # Checks across files (gotos, duplicate numbers) and prompts, on the whole set.
        whole = errors(Linter(candidate.values(), self.catalog).run())
        if whole:
            bad_files = {p.file for p in whole}
            for path in list(candidate):
                if str(path) not in bad_files:
                    continue
                previous = self._good.get(path)
                if previous is None:
                    del candidate[path]
                elif previous is not candidate[path]:
                    candidate[path] = previous
                    kept.append(path.name)
                if path.name in loaded:
                    loaded.remove(path.name)
            problems.extend(whole)
        removed = [p.name for p in self._good if p not in candidate]
        for problem in problems:
            log.error("ivr.flow_refused", problem=str(problem))
        if loaded or removed or not self._current.flows:
            self._good = candidate
            self._current = FlowSet(
                MappingProxyType({src.flow.flow: src for src in candidate.values()}),
                self._current.generation + 1,
            )
            log.info(
                "ivr.flows_loaded",
                generation=self._current.generation,
                loaded=loaded,
                kept_previous=kept,
                removed=removed,
                flows=sorted(self._current.flows),
            )
        return ReloadReport(loaded, kept, removed, problems)
