"""The readable summary of an output kept in a golden file: the ``1491.1711`` style numbers.

One pass over the output in chunks (:data:`CHUNK` values at a time, converted to float64 into a reused
buffer): no float64 copy of the whole array, and the same cost per MB for an output of any size. Each
chunk runs the very numpy expressions the unchunked version ran, so an output of one chunk gets the same
numbers as before to the last bit; larger outputs agree within float rounding (7 digits are kept).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

CORNER = 9  # values kept from each end of the flattened array
CHUNK = 1 << 16  # values per chunk: 512 KiB of float64, near the CPU caches, large enough that per-call cost vanishes


def _num(value: Any) -> float:
    # 7 significant digits: float32 precision, and short enough to read in a diff.
    return float(f"{float(value):.7g}")


def sha256(array: np.ndarray) -> str:
    # The buffer itself, not tobytes(): no copy of a contiguous array (a view of another order is copied once).
    contiguous = np.ascontiguousarray(array)
    return "sha256:" + hashlib.sha256(contiguous.reshape(-1).view(np.uint8).data).hexdigest()


def chunks(size: int) -> range:
    return range(0, size, CHUNK)


_SPARE: list[np.ndarray] = []  # chunk buffers between checks, at most _KEEP of them (2 MiB)
_KEEP = 4  # what a check's pass takes


@contextmanager
def scratch(count: int, size: int) -> Iterator[list[np.ndarray]]:
    """``count`` float64 buffers of ``size`` values, kept for the next check.

    A fresh 512 KiB buffer is memory the allocator maps anew and the kernel faults in page by page:
    ~1 ms of a 3 MB check, measured, more than its arithmetic on them. Threads take different buffers
    (``list.pop`` is atomic); buffers beyond what a check uses are left to the allocator.
    """
    taken = []
    for _ in range(count):
        try:
            spare = _SPARE.pop()
        except IndexError:
            spare = np.empty(0)
        taken.append(spare if spare.size >= size else np.empty(max(size, CHUNK)))
    try:
        yield [buffer[:size] for buffer in taken]
    finally:
        _SPARE.extend(taken[:max(0, _KEEP - len(_SPARE))])


def extremes(array: np.ndarray) -> tuple[float, float] | None:
    """min and max in the array's own dtype (a NaN makes both NaN), as floats; ``None`` for no values.

    Each is a pass over the whole array (~0.1 ms for 3 MB): a check reads them once for its output and once
    for its golden, and hands them to everything that needs them (``summarize``, ``verdict.Side``)."""
    if not array.size:
        return None
    return float(array.min()), float(array.max())


def summarize(array: np.ndarray, dtype: str, hashed: bool = True, stats: bool = True,
              known: tuple[float, float] | None = None) -> dict[str, Any]:
    """Shape, dtype, abs-sum, mean, std, min, max, corner slices and (``hashed``) a hash of the bytes.

    The hash costs as much as the rest together; a check against a golden kept whole leaves it out, since
    comparing the arrays tells bitwise equality too (verdict.py). What is recorded always has it.
    ``stats=False`` leaves out the sums (abs-sum, mean, std) of a finite output: the comparison's pass
    computes them (differences.py), and :func:`with_stats` adds them where no comparison did. ``known``:
    the array's :func:`extremes`, where the caller has them.
    """
    flat = np.ascontiguousarray(array).reshape(-1)  # one copy only for a strided or Fortran-order view
    summary: dict[str, Any] = {
        "shape": list(array.shape),
        "dtype": dtype,
        "size": int(flat.size),
        "finite": True,
    }
    if hashed:
        summary["hash"] = sha256(flat)
    if not flat.size:
        return summary
    if stats:
        found = _stats(flat, known)
    else:
        # min and max in the output's own dtype; NaN propagates into both, Inf into one
        lo, hi = known or extremes(flat) or (0.0, 0.0)
        found = {"min": _num(lo), "max": _num(hi)} if np.isfinite(lo) and np.isfinite(hi) else None
    if found is None:  # NaN or Inf: counted here so a verdict can say what is wrong without the array
        nan, inf = _non_finite(flat)
        summary.update(finite=False, nan=nan, inf=inf)
        return summary
    summary.update(found)
    summary.update(head=[_num(v) for v in flat[:CORNER].astype(np.float64)],
                   tail=[_num(v) for v in flat[-CORNER:].astype(np.float64)])
    return summary


def with_stats(summary: dict[str, Any], array: np.ndarray, stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """``summary`` with its sums: ``stats`` where a comparison computed them, else from a pass over ``array``.
    A summary that has them, or can't (NaN, Inf, empty), comes back as it is. (Files and reports sort keys.)"""
    if "abs_sum" in summary or not summary.get("finite") or not summary.get("size"):
        return summary
    if stats is None:
        stats = _stats(np.ascontiguousarray(array).reshape(-1))
        if stats is None:  # NaN or Inf in an array whose summary says finite: nothing to add
            return summary
    return {**summary, **stats}


def _non_finite(flat: np.ndarray) -> tuple[int, int]:
    if flat.dtype.kind != "f":
        return 0, 0
    nan = inf = 0
    for start in chunks(flat.size):
        part = flat[start:start + CHUNK]
        nan += int(np.count_nonzero(np.isnan(part)))
        inf += int(np.count_nonzero(np.isinf(part)))
    return nan, inf


def centred_squares(values: np.ndarray, mean: float, out: np.ndarray) -> float:
    """The sum of (values - mean)^2, in float64 whatever the values' dtype, through ``out``."""
    np.subtract(values, mean, out=out, dtype=np.float64)
    return dot(out, out)


def dot(x: np.ndarray, y: np.ndarray) -> float:
    """x.y in one loop over both, with no buffer written: einsum's own sum of products. Not BLAS
    (``np.dot``), whose threads fight torch's; and half the memory traffic of the products into a buffer
    and then their sum (48 against 20 us per 65,536 values here, side by side)."""
    return float(np.einsum("i,i->", x, y))


class Moments:
    """An output's sums, chunk by chunk, as ``_stats`` and the comparison's shared pass (differences.py) both
    take them, so both give the same abs-sum and mean to the last bit. Each chunk adds its sum (its abs-sum
    too: where every value has one sign, |sum| is the abs-sum to the last bit) and then, into ``parts``,
    its count, mean and centred sum of squares, which :meth:`result` combines (Chan et al.).

    A chunk's centred sum of squares is a.a - (sum a)^2 / n, or, where that subtraction would lose more than
    6 of float64's 16 digits (values far from their mean, or all equal), the sum of (a - mean)^2 itself.
    """

    def __init__(self, one_sign: bool) -> None:
        self.one_sign = one_sign
        self.total = self.abs_total = 0.0
        self.parts: list[tuple[int, float, float]] = []  # per chunk: count, mean, centred sum of squares

    def add(self, w: np.ndarray, spare: np.ndarray) -> None:
        """The float64 chunk ``w``; ``spare``: a buffer of its size."""
        s = self.sums(w, spare)
        self.centre(w.size, s, dot(w, w), None, lambda mean: centred_squares(w, mean, spare))

    def sums(self, w: np.ndarray, spare: np.ndarray) -> float:
        """The float64 chunk ``w``'s sum (returned) and abs-sum; ``spare``: a buffer of its size."""
        s = float(w.sum())
        self.total += s
        if self.one_sign:
            self.abs_total += abs(s)
        else:
            np.abs(w, out=spare)
            self.abs_total += float(spare.sum())
        return s

    def centre(self, size: int, s: float, aa: float, bound: float | None, exact: Callable[[float], float]) -> None:
        """The chunk's centred sum of squares from its sum ``s`` and its a.a (``bound``: how large the terms
        a.a was summed from are, where larger than a.a), or from ``exact(mean)`` where those would cancel."""
        mean = s / size
        m2 = aa - s * mean
        if not m2 * 1e6 >= (aa if bound is None else bound):  # cancellation (or NaN, or Inf)
            m2 = exact(mean)
        self.parts.append((size, mean, m2))

    def result(self, n: int) -> tuple[float, float, float]:
        """abs-sum, mean and std of all ``n`` values."""
        mean = self.total / n
        parts = self.parts
        m2 = sum(c + k * (m - mean) ** 2 for k, m, c in parts) if len(parts) > 1 else parts[0][2]
        return self.abs_total, mean, float(np.sqrt(m2 / n))


def _stats(flat: np.ndarray, known: tuple[float, float] | None = None) -> dict[str, Any] | None:
    """abs-sum, mean, std, min and max in one chunked pass; ``None`` if a value is NaN or Inf.

    std combines each chunk's own centred sum of squares (Chan et al., ``Moments``): about as exact as
    numpy's two-pass std, even for values far from zero, where ``Moments`` sums the centred squares.
    """
    n = flat.size
    # min/max in the output's own dtype: the float64 conversion is exact and keeps the order
    lo, hi = known or extremes(flat) or (0.0, 0.0)
    # one_sign is False for NaN: the |a| pass then carries it into the abs-sum
    moments = Moments(one_sign=bool(lo >= 0 or hi <= 0))
    with scratch(2, min(n, CHUNK)) as (wide, work), np.errstate(over="ignore", invalid="ignore"):
        for start in chunks(n):
            part = flat[start:start + CHUNK]
            w, t = wide[:part.size], work[:part.size]
            w[...] = part
            moments.add(w, t)
        if not np.isfinite(moments.abs_total):
            # NaN or Inf propagate into the abs-sum; a finite output only gets here near float64's limit
            if flat.dtype.kind == "f" and any(_non_finite(flat)):
                return None
            return _scaled_stats(flat)
        abs_sum, mean, std = moments.result(n)
        stats = {"abs_sum": abs_sum, "mean": mean, "std": std, "min": float(lo), "max": float(hi)}
        if not all(np.isfinite(v) for v in stats.values()):
            return _scaled_stats(flat)
    return {name: _num(value) for name, value in stats.items()}


def _scaled_stats(flat: np.ndarray) -> dict[str, Any]:
    """Values near float64's limit (1e308): sums and squares overflow. Computed on values scaled to at most 1
    only then (a float64 copy, as before: such outputs are rare), so every other output keeps its numbers."""
    wide = flat.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        stats = {"abs_sum": np.abs(wide).sum(), "mean": wide.mean(), "std": wide.std(), "min": wide.min(),
                 "max": wide.max()}
        if not all(np.isfinite(v) for v in stats.values()):
            scale = np.abs(wide).max()
            unit = wide / scale
            stats.update(abs_sum=np.abs(unit).sum() * scale, mean=unit.mean() * scale, std=unit.std() * scale)
    return {name: (_num(value) if np.isfinite(value) else None) for name, value in stats.items()}


def abs_diff(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """|a - e| in float64. Integers are subtracted exactly first: 2**60 + 1 and 2**60 are one float64."""
    a, e = np.asarray(a).reshape(-1), np.asarray(e).reshape(-1)
    if a.dtype.kind in "iu" and e.dtype.kind in "iu" and a.dtype.kind == e.dtype.kind:
        wide = np.int64 if a.dtype.kind == "i" else np.uint64
        hi, lo = np.maximum(a.astype(wide), e.astype(wide)), np.minimum(a.astype(wide), e.astype(wide))
        # hi - lo < 2**64 always: exact in uint64, whatever the wrap-around of the signed difference
        return (hi.astype(np.uint64) - lo.astype(np.uint64)).astype(np.float64)
    return np.abs(a.astype(np.float64) - e.astype(np.float64))


def sample_indices(size: int, count: int) -> np.ndarray:
    """Evenly strided flat indices: the same ones for the golden and every later run."""
    if size <= count:
        return np.arange(size)
    return np.linspace(0, size - 1, count).astype(np.int64)
