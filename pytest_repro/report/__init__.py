"""Views of the result model (``results.py``): terminal table, failure text, Markdown, HTML; each reads the model only.

What more than one view needs lives here: how a metric prints, how a status reads, the order of checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..results import CheckResult


def fmt_metric(value: object) -> str:
    """How every view prints a metric: ``-`` where it is undefined (cosine against a black image)."""
    return "-" if value is None else f"{value:.2e}"


def runs_text(runs: dict | None) -> str:
    """The determinism audit of one check: ``3x same``, ``3x L_inf 5.00e-01 (2,3)`` (the runs that differ),
    ``1 of 3 ran`` where a run raised, ``, 2 nondeterministic ops`` where warn-only mode saw some; ``-``: none."""
    if not runs:
        return "-"
    n, done = runs.get("n"), runs.get("completed")
    head = f"{n}x" if done is None else f"{done} of {n} ran:"
    differing = runs.get("differing_runs") or []
    if differing:
        linf = runs.get("max_linf_between_runs")
        text = f"{head} L_inf {'n/a' if linf is None else fmt_metric(linf)} ({','.join(map(str, differing))})"
    else:
        text = f"{head} same"
    ops = runs.get("nondeterministic_ops") or []
    return text + (f", {len(ops)} nondeterministic op{'' if len(ops) == 1 else 's'}" if ops else "")


def ratio_text(value: object) -> str:
    return f"x{value:.2f}" if isinstance(value, (int, float)) else "-"


def timing_text(timing: dict | None) -> str:
    """--repro-timing in a line: ``deterministic vs default x1.30; device vs CPU generator x0.90`` (or why it
    was skipped), and how far the output moved with determinism off, where it moved."""
    if not timing:
        return "-"
    if timing.get("skipped"):
        return f"skipped: {timing['skipped']}"
    gens = timing.get("generators") or {}
    device = f"; device vs CPU generator {ratio_text(gens.get('device_ratio'))}" if "device_ratio" in gens else ""
    moved = (timing.get("linf_vs_first_run") or {}).get("default")  # whether switching determinism off shows
    off = f"; off, the output moved by L_inf {fmt_metric(moved)}" if moved else ""
    return f"deterministic vs default {ratio_text(timing.get('deterministic_ratio'))}{device}{off}"


def count(n: int, noun: str) -> str:
    """``1 check``, ``2 checks``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def status_text(result: CheckResult) -> str:
    """``FAIL``, ``PASS (sampled)``...: sampled checks are labelled wherever a status is shown."""
    return result.status.value.upper() + (" (sampled)" if result.coverage == "sample" else "")


def drift_share(result: CheckResult) -> float:
    """L_inf as a share of its limit (0 when equal or unknown)."""
    linf, limit = result.metrics.get("linf"), result.limit
    if not linf:
        return 0.0
    return float(linf) / limit if limit else float("inf")


def severity(result: CheckResult) -> tuple[int, float]:
    """Sort key: failing checks (fail, error, missing) first, then passes that drifted (most first), then the rest."""
    rank = {"fail": 0, "error": 1, "missing": 2}.get(result.status.value)
    if rank is None:
        rank = 3 if drift_share(result) > 0 else 4
    return rank, -drift_share(result)


def runner_labels(paths: list[Path]) -> list[str]:
    """Each report's name, with its folder where two share a name (cpu/report.json, cuda/report.json)."""
    names = [p.name for p in paths]
    return [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]
