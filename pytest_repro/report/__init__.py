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
    """``3x same`` or ``3x L_inf 5.00e-01 (2,3)``: the determinism audit of one check (``-``: none)."""
    if not runs:
        return "-"
    differing = runs.get("differing_runs") or []
    if not differing:
        return f"{runs.get('n')}x same"
    return f"{runs.get('n')}x L_inf {fmt_metric(runs.get('max_linf_between_runs'))} ({','.join(map(str, differing))})"


def ratio_text(value: object) -> str:
    return f"x{value:.2f}" if isinstance(value, (int, float)) else "-"


def timing_text(timing: dict | None) -> str:
    """--repro-timing in a line: ``deterministic x1.30; device generator x0.90`` (or why it was skipped)."""
    if not timing:
        return "-"
    if timing.get("skipped"):
        return f"skipped: {timing['skipped']}"
    gens = timing.get("generators") or {}
    device = f"; device generator {ratio_text(gens.get('device_ratio'))}" if "device_ratio" in gens else ""
    return f"deterministic {ratio_text(timing.get('deterministic_ratio'))}{device}"


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
