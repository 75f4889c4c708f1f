"""The one comparison rule: metrics, limits and a verdict, for a check against its golden and for two runs.

``repro_golden.check()`` and ``python -m pytest_repro compare`` both call :func:`judge`, with the same
:class:`~pytest_repro.tolerance.Tolerance`, so the two can never disagree about one pair of outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .convert import UnsupportedOutput
from .differences import Differences
from .results import LimitRow
from .summary import abs_diff, extremes, sha256, with_stats
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
    summary: dict[str, Any] | None = None  # the output's summary with the sums this verdict computed


@dataclass(frozen=True)
class Side:
    """One side of a comparison: an output's summary and the values kept of it.

    ``values`` is the whole output flattened (``index`` None) or the values at the flat ``index``. The
    output's summary may lack its sums (``summarize(stats=False)``): judging computes them, in the pass
    over the values where it can, and the verdict carries the summary with them.
    """

    summary: dict[str, Any]
    values: np.ndarray | None
    index: np.ndarray | None = None
    extremes: tuple[float, float] | None = None  # min and max of ``values`` where the caller read them already


def same_environment(key_a: str, fingerprint_a: Any, key_b: str, fingerprint_b: Any) -> bool:
    """Where a changed hash means "not reproducible": same backend and identical, known fingerprints."""
    return key_a == key_b and bool(fingerprint_a) and fingerprint_a == fingerprint_b


class IncomparableArrays(ValueError):
    """Two arrays with no value-by-value comparison: different numbers of values."""


def _checked(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biuf" or x.dtype.itemsize > 8:
        raise UnsupportedOutput(f"cannot compare {x.dtype} values (booleans, integers and floats only)")
    return x.reshape(-1)


def _flat64(x: np.ndarray) -> np.ndarray:
    return _checked(x).astype(np.float64)


def _abs_max(x: np.ndarray, known: tuple[float, float] | None = None) -> float:
    """max |x| from min and max in x's own dtype (``known``: x's extremes, read already): no temporary;
    NaN or Inf where x holds one."""
    if not x.size:
        return 0.0
    lo, hi = known or extremes(x) or (0.0, 0.0)
    return max(abs(lo), abs(hi)) if lo == lo and hi == hi else float("nan")


def metrics(actual: np.ndarray, expected: np.ndarray) -> dict[str, float | None]:
    """L_inf, mean absolute error, relative L2 and cosine distance, in float64.

    Relative L2 and cosine distance are ``None`` where they mean nothing: against an all-zero
    expected array (a black image), and for cosine also an all-zero output. L_inf decides there.
    """
    a, e = _checked(actual), _checked(expected)
    if a.size != e.size:
        raise IncomparableArrays(f"cannot compare {a.size} values with {e.size}: metrics need arrays of one size")
    with np.errstate(all="ignore"):  # inf - inf and overflowing sums are results here, not warnings
        scale_a, scale_e = _abs_max(a), _abs_max(e)
        if not (np.isfinite(scale_a) and np.isfinite(scale_e)):  # NaN and Inf: the whole-array formulas
            return _metrics(a.astype(np.float64), e.astype(np.float64), abs_diff(a, e))
        return Differences(a, e, 0.0, 0.0, scale_a, scale_e, worst=0).metrics()


def _metrics(a: np.ndarray, e: np.ndarray, diff: np.ndarray) -> dict[str, float | None]:
    """The metrics of outputs holding NaN or Inf (never judged, only reported by ``metrics``)."""
    scale_a = float(np.abs(a).max(initial=0.0))
    scale_e = float(np.abs(e).max(initial=0.0))
    cosine: float | None = None
    if scale_a == 0 and scale_e == 0:
        cosine = 0.0
    elif scale_a and scale_e:
        unit_a, unit_e = a / scale_a, e / scale_e
        unit_a /= np.sqrt(np.sum(unit_a * unit_a))
        unit_e /= np.sqrt(np.sum(unit_e * unit_e))
        cosine = 0.5 * float(np.sum((unit_a - unit_e) ** 2))
    linf = float(diff.max()) if diff.size else 0.0
    rel_l2: float | None = 0.0 if linf == 0 else None
    if scale_e and linf:
        scale = max(scale_e, linf)
        den = float(np.sqrt(np.sum((e / scale) ** 2)))
        ratio = float(np.sqrt(np.sum((diff / scale) ** 2))) / den if den else float("inf")
        rel_l2 = ratio if np.isfinite(ratio) else None
    return {"linf": linf, "mean_abs": float(diff.mean()) if diff.size else 0.0, "rel_l2": rel_l2, "cosine": cosine}


def _worst(fused: Differences, flat_index: np.ndarray | None, shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """The largest differences, biggest first, with their indices in the output's own shape."""
    rows = []
    for diff, pos, a, e in fused.top:  # biggest first; among equal differences, the first position
        flat = int(pos if flat_index is None else flat_index[pos])
        rows.append({"index": [int(i) for i in np.unravel_index(flat, shape)], "actual": a, "expected": e,
                     "diff": diff})
    return rows


def _aligned(actual: Side, expected: Side) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | str | None:
    """The two value arrays at the same positions, and those positions; a reason when they can't be.

    ``None`` only where a side keeps no values at all. Kept values that don't fit their summary are a
    reason, never a fall-back to the abs-sum: a reversed image has the same abs-sum.
    """
    if expected.values is None or actual.values is None:
        return None
    a, e = actual.values.reshape(-1), expected.values.reshape(-1)
    size = int(actual.summary["size"])
    for side, values, index in (("output", a, actual.index), ("reference", e, expected.index)):
        kept = size if index is None else index.size
        if values.size != kept:
            return f"the {side} keeps {values.size} values where it should keep {kept}: it can't be compared"
        if index is not None and index.size and (index.min() < 0 or index.max() >= size):
            return f"the {side}'s sample positions lie outside an output of {size} values"
    if expected.index is None:
        if actual.index is not None:
            return "the output was kept as a sample but the reference whole (different --repro-array-limit)"
        return a, e, None
    if actual.index is None:
        return a[expected.index], e, expected.index
    if not np.array_equal(actual.index, expected.index):
        return "the two runs kept different parts of the output (different --repro-array-limit)"
    return a, e, expected.index


def judge(actual: Side, expected: Side, tol: Tolerance, same_environment: bool) -> Verdict:
    """Hold ``actual`` to ``expected`` (a golden entry, or the reference run) within ``tol``.

    Every outcome is a verdict, passed or failed with its reasons; an array of a dtype nothing can
    compare (complex, text, objects) is an :class:`~pytest_repro.convert.UnsupportedOutput`.
    """
    with np.errstate(all="ignore"):  # overflowing differences and sums are failures here, not warnings
        return _judge(actual, expected, tol, same_environment)


def _judge(actual: Side, expected: Side, tol: Tolerance, same_environment: bool) -> Verdict:
    v = Verdict(passed=False)
    got, ref = actual.summary, expected.summary
    if not got.get("finite", True):
        v.reasons.append(f"output has {got.get('nan', '?')} NaN and {got.get('inf', '?')} Inf values")
        return v
    if not ref.get("finite", True):
        v.reasons.append(f"the reference has {ref.get('nan', '?')} NaN and {ref.get('inf', '?')} Inf values")
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
    # Without a hash on both sides (a check leaves it out when the golden keeps the whole array), the
    # arrays themselves tell bitwise equality below.
    v.bitwise = "hash" in got and got.get("hash") == ref.get("hash")
    aligned = _aligned(actual, expected)
    if isinstance(aligned, str):
        v.reasons.append(aligned)
        return v
    shape = tuple(got["shape"])
    n = max(int(got["size"]), 1)
    linf: float | None = None
    whole = actual.values if actual.index is None else None  # the output itself, not a sample of it
    if whole is not None and (aligned is None or aligned[2] is not None):  # no pass over the whole output below
        got = with_stats(got, whole)
    if aligned is not None:
        a_values, e_values, index = aligned
        a_values, e_values = _checked(a_values), _checked(e_values)
        # the output's own extremes hold for a_values unless those are the output at a golden's sample positions
        known_a = actual.extremes if index is None or actual.index is not None else None
        scale_a, scale_e = _abs_max(a_values, known_a), _abs_max(e_values, expected.extremes)
        if not (np.isfinite(scale_a) and np.isfinite(scale_e)):  # summaries that lie: NaN compares as "within"
            v.reasons.append("the kept values hold NaN or Inf where the summaries say none")
            return v
        v.coverage = "full" if index is None else "sample"
        fuse = whole is not None and index is None and "abs_sum" not in got  # the output's sums ride this pass
        fused = Differences(a_values, e_values, tol.atol, tol.rtol, scale_a, scale_e, WORST,
                            output=got if fuse else None)
        if fuse:
            got = with_stats(got, a_values, fused.output_stats)
        v.metrics = fused.metrics()
        linf = fused.linf
        bad = fused.bad
        v.limit = tol.linf_limit(scale_e)
        label = "L_inf" if v.coverage == "full" else "L_inf (sampled)"
        v.limits.append(LimitRow(label, linf, tol.atol + tol.rtol * scale_e, bad == 0))
        if bad:
            v.reasons.append(f"{bad} of {a_values.size} compared values outside atol={tol.atol:g} rtol={tol.rtol:g}")
        v.worst = _worst(fused, index, shape)
        if index is None and not ("hash" in got and "hash" in ref):
            v.bitwise = linf == 0 and _same_bytes(a_values, e_values)
    else:
        v.coverage = "summary"
        v.limit = tol.linf_limit(0.0)
    _abs_sum_bound(v, got.get("abs_sum", 0.0), ref.get("abs_sum", 0.0), n, tol)
    if v.coverage == "sample" and linf is not None:
        if linf == 0 and "hash" not in got and "hash" in ref and whole is not None:
            # Only an unchanged sample leaves bitwise equality open; then the hash of the whole output tells it.
            got = {**got, "hash": sha256(whole)}
            v.bitwise = got["hash"] == ref["hash"]
        linf = _sample_bounds(v, got, ref, linf, tol)
    if got is not actual.summary:
        v.summary = got
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


def _sample_bounds(v: Verdict, got: dict[str, Any], ref: dict[str, Any], linf: float, tol: Tolerance) -> float:
    """A sampled L_inf is a lower bound; the summaries' min and max give another, over every value.

    |max a - max e| and |min a - min e| never exceed the true L_inf, so a value that moved to an extreme
    between the kept positions still fails. Where the hash changed yet neither bound sees it, the true
    L_inf is unknown: the result says so (``None``) instead of showing an exact 0.
    """
    moved = [abs(float(got[k]) - float(ref[k])) for k in ("min", "max") if _finite_number(got.get(k))
             and _finite_number(ref.get(k))]
    # Both are rounded to 7 significant digits in the summaries.
    slack = 1e-6 * max([abs(float(ref.get(k) or 0.0)) for k in ("min", "max")] + [0.0])
    bound = max([m - slack for m in moved] + [0.0])
    if bound > linf:
        ok = bound <= tol.atol + tol.rtol * max(abs(float(ref.get("min") or 0)), abs(float(ref.get("max") or 0)))
        v.limits.append(LimitRow("L_inf lower bound (min/max)", bound, v.limit, ok))
        if not ok:
            v.reasons.append(f"the output's min or max moved by {bound:.3g}, beyond atol={tol.atol:g}, at a "
                             "position the kept sample does not hold")
        linf = bound
    v.metrics["linf"] = None if (linf == 0 and not v.bitwise) else linf
    return linf


def _same_bytes(a: np.ndarray, e: np.ndarray) -> bool:
    """Equal values can still differ in bits (-0.0 and 0.0): what the hashes would have told."""
    return a.dtype == e.dtype and a.shape == e.shape and np.array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(e).view(np.uint8))


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _abs_sum_bound(v: Verdict, abs_sum: float | None, ref_sum: float | None, n: int, tol: Tolerance) -> None:
    """Where only part of the output is kept, the abs-sums bound what the rest may have moved."""
    if abs_sum is None or ref_sum is None:  # the sum of a finite output beyond float64 (summary.py)
        if v.coverage != "full":
            v.reasons.append("abs-sum too large for float64: the values not kept can't be checked")
        return
    abs_sum_delta = abs(float(abs_sum) - float(ref_sum))
    v.metrics.update(abs_sum=float(abs_sum), abs_sum_delta=abs_sum_delta)
    if v.coverage != "full":
        # |sum|a| - sum|e|| <= n * L_inf, so this is a sound bound where only part of the array is kept.
        per_value = abs_sum_delta / n
        # Both abs-sums are rounded to 7 significant digits in their summaries: allow that rounding too.
        allowed = tol.atol + (tol.rtol + 1e-6) * max(abs(ref_sum), abs(abs_sum)) / n + 1e-7
        ok = per_value <= allowed
        v.limits.append(LimitRow("abs-sum delta / size", per_value, allowed, ok))
        if not ok:
            v.reasons.append("abs-sum moved more than atol per value")
