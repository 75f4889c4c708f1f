"""The one comparison rule: metrics, limits and a verdict, for a check against its golden and for two runs.

``repro_golden.check()`` and ``python -m pytest_repro compare`` both call :func:`judge`, with the same
:class:`~pytest_repro.tolerance.Tolerance`, so the two can never disagree about one pair of outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .results import LimitRow
from .tolerance import Tolerance

WORST = 3


@dataclass
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    limits: list[LimitRow] = field(default_factory=list)
    limit: float | None = None  # the L_inf this check was held to (Tolerance.linf_limit), set once here
    worst: list[dict[str, Any]] = field(default_factory=list)
    coverage: str = "full"  # "full", "sample" (L_inf over a strided sample) or "summary"
    bitwise: bool = False


@dataclass(frozen=True)
class Side:
    """One side of a comparison: an output's summary and the values kept of it.

    ``values`` is the whole output flattened (``index`` None) or the values at the flat ``index``.
    """

    summary: dict[str, Any]
    values: np.ndarray | None
    index: np.ndarray | None = None


def same_environment(key_a: str, fingerprint_a: Any, key_b: str, fingerprint_b: Any) -> bool:
    """Where a changed hash means "not reproducible": same backend and identical, known fingerprints."""
    return key_a == key_b and bool(fingerprint_a) and fingerprint_a == fingerprint_b


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


def _aligned(actual: Side, expected: Side) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | str | None:
    """The two value arrays at the same positions, and those positions; a reason when they can't be."""
    if expected.values is None or actual.values is None:
        return None
    a, e = actual.values.reshape(-1), expected.values.reshape(-1)
    if expected.index is None:
        if actual.index is not None:
            return "the output was kept as a sample but the reference whole (different --repro-array-limit)"
        return (a, e, None) if a.size == e.size else None  # a kept array of another size: summary only
    if actual.index is None:
        return a[expected.index], e, expected.index
    if not np.array_equal(actual.index, expected.index):
        return "the two runs kept different parts of the output (different --repro-array-limit)"
    return a, e, expected.index


def judge(actual: Side, expected: Side, tol: Tolerance, same_environment: bool) -> Verdict:
    """Hold ``actual`` to ``expected`` (a golden entry, or the reference run) within ``tol``."""
    v = Verdict(passed=False)
    got, ref = actual.summary, expected.summary
    if not got.get("finite", True):
        v.reasons.append(f"output has {got.get('nan', '?')} NaN and {got.get('inf', '?')} Inf values")
        return v
    if list(got["shape"]) != list(ref["shape"]):
        v.reasons.append(f"shape changed: golden {tuple(ref['shape'])}, now {tuple(got['shape'])}")
        return v
    if got["dtype"] != ref["dtype"]:
        v.reasons.append(
            f"dtype changed: golden {ref['dtype']}, now {got['dtype']} (a different precision is a different "
            "result, not a drift: record it with --repro-regen or cast the output)"
        )
        return v
    v.bitwise = got["hash"] == ref["hash"]
    aligned = _aligned(actual, expected)
    if isinstance(aligned, str):
        v.reasons.append(aligned)
        return v
    shape = tuple(got["shape"])
    n = max(int(got["size"]), 1)
    linf: float | None = None
    if aligned is not None:
        a_values, e_values, index = aligned
        a64, e64 = np.asarray(a_values, dtype=np.float64), np.asarray(e_values, dtype=np.float64)
        v.coverage = "full" if index is None else "sample"
        diff = np.abs(a64 - e64)
        v.metrics = _metrics(a64, e64, diff)
        linf = float(diff.max()) if diff.size else 0.0
        bad = int((diff > tol.atol + tol.rtol * np.abs(e64)).sum())
        largest = float(np.abs(e64).max(initial=0))
        v.limit = tol.linf_limit(largest)
        label = "L_inf" if v.coverage == "full" else "L_inf (sampled)"
        v.limits.append(LimitRow(label, linf, tol.atol + tol.rtol * largest, bad == 0))
        if bad:
            v.reasons.append(f"{bad} of {diff.size} compared values outside atol={tol.atol:g} rtol={tol.rtol:g}")
        v.worst = _worst(a64, e64, diff, index, shape)
    else:
        v.coverage = "summary"
        v.limit = tol.linf_limit(0.0)
    abs_sum, ref_sum = float(got.get("abs_sum", 0.0)), float(ref.get("abs_sum", 0.0))
    abs_sum_delta = abs(abs_sum - ref_sum)
    v.metrics.update(abs_sum=abs_sum, abs_sum_delta=abs_sum_delta)
    if v.coverage != "full":
        # |sum|a| - sum|e|| <= n * L_inf, so this is a sound bound where only part of the array is kept.
        per_value = abs_sum_delta / n
        # Both abs-sums are rounded to 7 significant digits in their summaries: allow that rounding too.
        allowed = tol.atol + (tol.rtol + 1e-6) * max(abs(ref_sum), abs(abs_sum)) / n + 1e-7
        ok = per_value <= allowed
        v.limits.append(LimitRow("abs-sum delta / size", per_value, allowed, ok))
        if not ok:
            v.reasons.append("abs-sum moved more than atol per value")
    if tol.max_linf is not None and linf is not None:
        ok = linf <= tol.max_linf
        v.limits.append(LimitRow("L_inf ceiling (max_linf)", linf, tol.max_linf, ok))
        if not ok:
            v.reasons.append(f"L_inf {linf:.3g} exceeds the ceiling max_linf={tol.max_linf:g}")
    cosine = v.metrics.get("cosine")
    if tol.cosine is not None and cosine is not None:
        ok = cosine <= tol.cosine
        v.limits.append(LimitRow("cosine distance", cosine, tol.cosine, ok))
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
