"""``python -m pytest_repro accept DIR``: apply the golden entries a runner obtained (``--repro-obtained``).

A CUDA or Ascend runner can't write into the repository's ``golden/``; it writes the entries it would have
recorded into DIR, in the same layout, and uploads it. A maintainer without the device downloads DIR and
accepts it here: each entry is validated field by field (its array against its hash), refused if it holds
NaN or Inf or comes from a newer pytest-repro, and written beside the others of its golden file, printing
how far it moved (abs-sum old -> new, L_inf against the entry it replaces).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .report import fmt_metric
from .store import GoldenError, GoldenFile, locked


@dataclass
class Outcome:
    label: str
    accepted: bool
    text: str


def _entries(source: GoldenFile) -> list[tuple[str, str]]:
    checks = source.data.get("checks")
    if not isinstance(checks, dict):
        return []
    return [(check, backend) for check, table in sorted(checks.items()) if isinstance(table, dict)
            for backend in sorted(table)]


def _moved(target: GoldenFile, check: str, backend: str, values: Any, summary: dict[str, Any]) -> str:
    """How the new entry differs from the one it replaces (or that it is new)."""
    from .verdict import metrics

    try:
        old = target.entry(check, backend)
        old_values = target.load_array(check, backend)[0] if old is not None else None
    except GoldenError:
        return "replaces a damaged entry"
    if old is None:
        return f"new (abs-sum {summary.get('abs_sum')})"
    linf = "-"
    if old_values is not None and old_values.shape == values.shape:
        try:
            linf = fmt_metric(metrics(values, old_values)["linf"])
        except Exception:  # a dtype the comparison refuses: the abs-sums still say how far it moved
            linf = "-"
    return f"abs-sum {old['summary'].get('abs_sum')} -> {summary.get('abs_sum')}, L_inf {linf}"


def accept_file(path: Path, source_root: Path, golden_dir: Path, tests: list[str], backends: list[str],
                dry_run: bool) -> list[Outcome]:
    try:
        probe = GoldenFile.load(path, "")
    except GoldenError as exc:
        return [Outcome(str(path), False, f"refused: {exc}")]
    test_id = str(probe.data.get("test") or "")
    target_path = golden_dir / path.relative_to(source_root)
    outcomes = []
    for check, backend in _entries(probe):
        label = f"{test_id or path.name} [{check}] on {backend}"
        if (tests and not any(t in test_id for t in tests)) or (backends and backend not in backends):
            continue
        try:
            entry = probe.entry(check, backend)
            if entry is None:
                continue
            values, index = probe.load_array(check, backend)
        except GoldenError as exc:
            outcomes.append(Outcome(label, False, f"refused: {exc}"))
            continue
        if not entry["summary"].get("finite", True):
            outcomes.append(Outcome(label, False, "refused: the output has NaN or Inf values"))
            continue
        try:
            target = GoldenFile.load(target_path, test_id)
            moved = _moved(target, check, backend, values, entry["summary"])
            if not dry_run:
                with locked(target_path):
                    target = GoldenFile.load(target_path, test_id)
                    clean = {k: v for k, v in entry.items() if k not in ("array", "array_hash", "index_hash")}
                    target.set_entry(check, backend, clean, values, index)
        except GoldenError as exc:
            outcomes.append(Outcome(label, False, f"refused: {exc}"))
            continue
        outcomes.append(Outcome(label, True, f"{'would accept' if dry_run else 'accepted'}: {moved} -> {target_path}"))
    return outcomes


def accept(source: Path, golden_dir: Path, tests: list[str], backends: list[str], dry_run: bool,
           out: Any = sys.stdout) -> int:
    """Exit 0 when every selected entry was accepted, 1 when one was refused, 2 when there is nothing to accept."""
    if not source.is_dir():
        print(f"pytest-repro accept: {source} is not a folder of obtained goldens (--repro-obtained=DIR)",
              file=sys.stderr)
        return 2
    outcomes = []
    for path in sorted(source.rglob("*.json")):
        outcomes += accept_file(path, source, golden_dir, tests, backends, dry_run)
    if not outcomes:
        print(f"pytest-repro accept: no entry in {source} matches", file=sys.stderr)
        return 2
    for o in outcomes:
        print(f"{o.label}: {o.text}", file=out)
    refused = sum(not o.accepted for o in outcomes)
    print(f"{len(outcomes) - refused} accepted, {refused} refused", file=out)
    return 1 if refused else 0
