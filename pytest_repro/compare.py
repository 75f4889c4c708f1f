"""Compare an output with its golden: metrics, limits, and a verdict a person can act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .settings import Tolerance

WORST = 3


@dataclass
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    # (metric, value, limit, ok) rows, in the order a failure message lists them
    limits: list[tuple[str, float, float | None, bool]] = field(default_factory=list)
    worst: list[dict[str, Any]] = field(default_factory=list)
    coverage: str = "full"  # "full", "sample" (L_inf over a strided sample) or "summary"
    bitwise: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": self.reasons,
            "metrics": self.metrics,
            "limits": [{"metric": m, "value": v, "limit": lim, "ok": ok} for m, v, lim, ok in self.limits],
            "worst": self.worst,
            "coverage": self.coverage,
            "bitwise": self.bitwise,
        }


def _flat64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1)


def metrics(actual: np.ndarray, expected: np.ndarray) -> dict[str, float | None]:
    """L_inf, mean absolute error, relative L2 and cosine distance, in float64.

    Relative L2 and cosine distance are ``None`` where they mean nothing: against an all-zero
    expected array (a black image), and for cosine also an all-zero output. L_inf decides there.
    """
    a, e = _flat64(actual), _flat64(expected)
    return _metrics(a, e, np.abs(a - e))


def _metrics(a: np.ndarray, e: np.ndarray, diff: np.ndarray) -> dict[str, float | None]:
    scale_a = float(np.abs(a).max(initial=0.0))
    scale_e = float(np.abs(e).max(initial=0.0))
    cosine: float | None
    if scale_a == 0 and scale_e == 0:
        cosine = 0.0
    elif scale_a == 0 or scale_e == 0:
        cosine = None
    else:
        # 1 - cos as half the squared distance of the unit vectors: exactly 0 for equal arrays (the
        # textbook 1 - a.e/|a||e| leaves ~2e-16) and accurate for the tiny distances that matter here.
        # Dividing by the largest value first keeps the norms clear of underflow and overflow.
        unit_a = a / scale_a
        unit_e = e / scale_e
        unit_a /= np.linalg.norm(unit_a)
        unit_e /= np.linalg.norm(unit_e)
        cosine = 0.5 * float(np.sum((unit_a - unit_e) ** 2))
    linf = float(diff.max()) if diff.size else 0.0
    rel_l2: float | None = 0.0 if linf == 0 else None  # against an all-zero golden: undefined
    if scale_e and linf:
        # Both norms on arrays divided by the larger of max|e| and L_inf: no overflow or underflow
        # for values like 1e-200; a ratio too large for a float stays None.
        scale = max(scale_e, linf)
        with np.errstate(under="ignore"):
            den = float(np.linalg.norm(e / scale))
            ratio = float(np.linalg.norm(diff / scale)) / den if den else float("inf")
        rel_l2 = ratio if np.isfinite(ratio) else None
    return {
        "linf": linf,
        "mean_abs": float(diff.mean()) if diff.size else 0.0,
        "rel_l2": rel_l2,
        "cosine": cosine,
    }


def _worst(a: np.ndarray, e: np.ndarray, diff: np.ndarray, flat_index: np.ndarray | None,
           shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """The largest differences, biggest first, with their indices in the output's own shape."""
    k = min(WORST, diff.size)
    if k == 0:
        return []
    top = np.argpartition(-diff, k - 1)[:k]  # linear time: no full sort of a large image
    top = top[np.argsort(-diff[top], kind="stable")]
    rows = []
    for pos in top:
        if diff[pos] == 0:
            break
        flat = int(pos if flat_index is None else flat_index[pos])
        rows.append({"index": [int(i) for i in np.unravel_index(flat, shape)], "actual": float(a[pos]),
                     "expected": float(e[pos]), "diff": float(diff[pos])})
    return rows


def compare(
    actual: np.ndarray,
    dtype: str,
    golden: dict[str, Any],
    stored: np.ndarray | None,
    stored_index: np.ndarray | None,
    tol: Tolerance,
    same_environment: bool,
    actual_hash: str,
) -> Verdict:
    """``golden`` is the entry's summary; ``stored`` the kept array, or a sample at ``stored_index``."""
    v = Verdict(passed=True)
    if actual.dtype.kind in "fc" and not np.isfinite(actual).all():
        nan = int(np.isnan(actual).sum())
        inf = int(np.isinf(actual).sum())
        v.passed = False
        v.reasons.append(f"output has {nan} NaN and {inf} Inf values")
        return v
    if list(actual.shape) != golden["shape"]:
        v.passed = False
        v.reasons.append(f"shape changed: golden {tuple(golden['shape'])}, now {actual.shape}")
        return v
    if dtype != golden["dtype"]:
        v.passed = False
        v.reasons.append(
            f"dtype changed: golden {golden['dtype']}, now {dtype} (a different precision is a different "
            "result, not a drift: record it with --repro-regen or cast the output)"
        )
        return v
    v.bitwise = actual_hash == golden["hash"]
    whole = _flat64(actual)
    abs_sum = float(np.abs(whole).sum())
    n = max(actual.size, 1)
    linf: float | None = None
    if stored is not None:
        v.coverage = "full" if stored_index is None else "sample"
        a = whole if stored_index is None else whole[stored_index]
        e = _flat64(stored)
        diff = np.abs(a - e)
        v.metrics = _metrics(a, e, diff)
        linf = float(diff.max()) if diff.size else 0.0
        bad = int((diff > tol.atol + tol.rtol * np.abs(e)).sum())
        label = "L_inf" if v.coverage == "full" else "L_inf (sampled)"
        limit = tol.atol + tol.rtol * float(np.abs(e).max(initial=0))
        v.limits.append((label, linf, limit, bad == 0))
        if bad:
            v.reasons.append(f"{bad} of {diff.size} compared values outside atol={tol.atol:g} rtol={tol.rtol:g}")
        v.worst = _worst(a, e, diff, stored_index, actual.shape)
    else:
        v.coverage = "summary"
    abs_sum_delta = abs(abs_sum - golden.get("abs_sum", 0.0))
    v.metrics.update(abs_sum=abs_sum, abs_sum_delta=abs_sum_delta)
    if v.coverage != "full":
        # |sum|a| - sum|e|| <= n * L_inf, so this is a sound bound where only part of the array is kept.
        per_value = abs_sum_delta / n
        # The golden's abs-sum is rounded to 7 significant digits: allow that rounding too.
        allowed = tol.atol + (tol.rtol + 5e-7) * abs(golden.get("abs_sum", 0.0)) / n + 1e-7
        ok = per_value <= allowed
        v.limits.append(("abs-sum delta / size", per_value, allowed, ok))
        if not ok:
            v.reasons.append("abs-sum moved more than atol per value")
    if tol.max_linf is not None and linf is not None:
        ok = linf <= tol.max_linf
        v.limits.append(("L_inf ceiling (max_linf)", linf, tol.max_linf, ok))
        if not ok:
            v.reasons.append(f"L_inf {linf:.3g} exceeds the ceiling max_linf={tol.max_linf:g}")
    cosine = v.metrics.get("cosine")
    if tol.cosine is not None and cosine is not None:
        ok = cosine <= tol.cosine
        v.limits.append(("cosine distance", cosine, tol.cosine, ok))
        if not ok:
            v.reasons.append(f"cosine distance {cosine:.3g} exceeds {tol.cosine:g}")
    if same_environment and tol.bitwise and not v.bitwise:
        v.reasons.append(
            "bitwise change under an identical environment fingerprint (same backend, versions, threads "
            "and determinism flags): the run is not reproducible even if it is within tolerance "
            "(mark the test repro(bitwise=False) to let tolerances decide)"
        )
    v.passed = not v.reasons
    return v
