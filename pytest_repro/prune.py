"""Unused goldens: files no collected test owns, check entries a test no longer makes, unknown backends.

Only a run over whole folders can tell: with ``-k``, ``-m``, ``--lf``, a test id, a deselection or a failed
collection, every test that didn't run would look unused, so :func:`partial_reason` refuses to judge.
Within a whole run, a golden file is unused when no collected test maps to it; a check entry when its test
passed on a backend without making that check; a backend entry when no registered backend has its key
(entries of registered backends that this run didn't select are kept: another job uses them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Unused:
    files: list[Path] = field(default_factory=list)  # whole golden files, their arrays beside them
    entries: list[tuple[Path, str, str | None]] = field(default_factory=list)  # (file, check, backend or all)

    def __bool__(self) -> bool:
        return bool(self.files or self.entries)

    def lines(self, root: Path) -> list[str]:
        def rel(p: Path) -> str:
            try:
                return str(p.relative_to(root))
            except ValueError:
                return str(p)

        out = [f"{rel(p)} (no collected test)" for p in self.files]
        out += [f"{rel(p)}: check {c!r}" + (f" on {b}" if b else "") for p, c, b in self.entries]
        return out


def partial_reason(config: pytest.Config) -> str | None:
    """Why this run can't tell used from unused goldens, or ``None`` for a run over whole folders."""
    opt = config.option
    if getattr(opt, "keyword", "") or getattr(opt, "markexpr", ""):
        return "-k or -m selected part of the tests"
    if getattr(opt, "lf", False) or getattr(opt, "failedfirst", False) and getattr(opt, "lf", False):
        return "--lf ran only the last failures"
    if getattr(opt, "deselect", None):
        return "--deselect left tests out"
    if _collect_errors(config):
        return "the collection failed"
    if any("::" in str(a) or not Path(str(a).split("::")[0]).is_dir() for a in config.args):
        return f"the run named test files or ids ({' '.join(config.args)}), not whole folders"
    return None


def _collect_errors(config: pytest.Config) -> int:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    errors = getattr(reporter, "stats", {}).get("error", []) if reporter is not None else []
    return sum(isinstance(e, pytest.CollectReport) for e in errors)


def find_unused(golden_dir: Path, scope: list[Path], owners: dict[str, Path], used: dict[str, set[tuple[str, str]]],
                passed: set[str], known_backends: set[str], skipped: frozenset[str] = frozenset()) -> Unused:
    """``owners``: golden id -> golden file of every collected test; ``used``: golden id -> (check, backend)
    of the checks that ran; ``passed``: golden ids whose every run passed; ``scope``: the folders run;
    ``skipped``: modules or classes skipped while collected (their tests are not collected, yet wanted)."""
    unused = Unused()
    collected_files = {p.resolve() for p in owners.values()}
    for path in sorted(golden_dir.rglob("*.json")):
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
            test = str(data["test"])
            checks = data["checks"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a golden file, or a damaged one: the check reports that, prune never deletes it
        module = test.partition("::")[0]
        if any(test == s or test.startswith(f"{s}::") for s in skipped):
            continue  # an importorskip in another environment (the torch suite in the MindSpore one)
        if not any(_under(Path(module), s) for s in scope):
            continue  # a golden of tests this run didn't cover
        if path.resolve() not in collected_files:
            unused.files.append(path)
            continue
        if test not in passed or not isinstance(checks, dict):
            continue
        ran = used.get(test, set())
        ran_backends = {b for _, b in ran}
        for check, table in sorted(checks.items()):
            if not isinstance(table, dict):
                continue
            if not any(c == check for c, _ in ran):
                unused.entries.append((path, check, None))
                continue
            for backend in sorted(table):
                if backend not in known_backends or (backend in ran_backends and (check, backend) not in ran):
                    unused.entries.append((path, check, backend))
    return unused


def _under(module: Path, scope: Path) -> bool:
    return scope in (Path("."), Path("")) or module == scope or scope in module.parents


def delete(unused: Unused) -> None:
    """Remove unused files (and their arrays) and entries; each golden file is rewritten atomically."""
    from .files import atomic_write, locked

    for path in unused.files:
        for array in path.parent.glob(f"{path.stem}.*.npz"):
            array.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
    by_file: dict[Path, list[tuple[str, str | None]]] = {}
    for path, check, backend in unused.entries:
        by_file.setdefault(path, []).append((check, backend))
    for path, entries in by_file.items():
        with locked(path):
            data = json.loads(path.read_text(encoding="utf-8"))
            arrays = []
            for check, backend in entries:
                table = data["checks"].get(check, {})
                removed = [table.pop(backend, None)] if backend else [table.pop(b) for b in list(table)]
                arrays += [str(e["array"]) for e in removed if isinstance(e, dict) and e.get("array")]
                if not table:
                    data["checks"].pop(check, None)
            atomic_write(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
            for name in arrays:  # only after the JSON no longer names them
                (path.parent / Path(name).name).unlink(missing_ok=True)


def session_unused(config: pytest.Config, golden_dir: Path, words: tuple[str, ...], nodeids: set[str],
                   failed: set[str], results: list[Any],
                   skipped: frozenset[str] = frozenset()) -> tuple[Unused, str | None]:
    """The unused goldens of this session, or why it can't tell (a partial run)."""
    from .backends import registry
    from .identity import TestLocation

    reason = partial_reason(config)
    if reason is not None or not golden_dir.is_dir():
        return Unused(), reason

    def golden_id(nodeid: str) -> TestLocation:
        # the backend parameter, when several backends ran, is not part of the golden's id
        word = next((w for w in words if nodeid.endswith((f"[{w}]", f"-{w}]"))), None) if len(words) > 1 else None
        return TestLocation.of(nodeid, word, golden_dir)

    owners = {loc.golden_id: loc.golden_path for loc in map(golden_id, nodeids)}
    passed = {loc.golden_id for loc in map(golden_id, nodeids)} - {golden_id(n).golden_id for n in failed}
    used: dict[str, set[tuple[str, str]]] = {}
    for r in results:
        used.setdefault(r.test, set()).add((r.check, r.backend))
        if r.trajectory:  # its trajectory entry (output@trajectory) is in use with it
            used[r.test].add((str(r.trajectory.get("check")), r.backend))
    root = config.rootpath
    scope = [Path(str(a)).resolve().relative_to(root) if Path(str(a)).resolve().is_relative_to(root) else Path(".")
             for a in config.args] or [Path(".")]
    return find_unused(golden_dir, scope, owners, used, passed, {str(k) for k in registry()}, skipped), None
