"""The readable summary of an output kept in a golden file: the ``1491.1711`` style numbers.

One pass over the output in chunks (:data:`CHUNK` values at a time, converted to float64 into a reused
buffer): no float64 copy of the whole array, and the same cost per MB for an output of any size. Each
chunk runs the very numpy expressions the unchunked version ran, so an output of one chunk gets the same
numbers as before to the last bit; larger outputs agree within float rounding (7 digits are kept).
"""

from __future__ import annotations

import hashlib
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


def summarize(array: np.ndarray, dtype: str, hashed: bool = True) -> dict[str, Any]:
    """Shape, dtype, abs-sum, mean, std, min, max, corner slices and (``hashed``) a hash of the bytes.

    The hash costs as much as the rest together; a check against a golden kept whole leaves it out, since
    comparing the arrays tells bitwise equality too (verdict.py). What is recorded always has it.
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
    stats = _stats(flat)
    if stats is None:  # NaN or Inf: counted here so a verdict can say what is wrong without the array
        nan, inf = _non_finite(flat)
        summary.update(finite=False, nan=nan, inf=inf)
        return summary
    summary.update(stats)
    summary.update(head=[_num(v) for v in flat[:CORNER].astype(np.float64)],
                   tail=[_num(v) for v in flat[-CORNER:].astype(np.float64)])
    return summary


def _non_finite(flat: np.ndarray) -> tuple[int, int]:
    if flat.dtype.kind != "f":
        return 0, 0
    nan = inf = 0
    for start in chunks(flat.size):
        part = flat[start:start + CHUNK]
        nan += int(np.count_nonzero(np.isnan(part)))
        inf += int(np.count_nonzero(np.isinf(part)))
    return nan, inf


def _stats(flat: np.ndarray) -> dict[str, Any] | None:
    """abs-sum, mean, std, min and max in one chunked pass; ``None`` if a value is NaN or Inf.

    std combines each chunk's own centred sum of squares (Chan et al.): as exact as numpy's two-pass std,
    which a single pass of sum and sum of squares would not be for values far from zero.
    """
    n = flat.size
    wide = np.empty(min(n, CHUNK))
    work = np.empty_like(wide)
    total = abs_total = 0.0
    parts: list[tuple[int, float, float]] = []  # per chunk: count, mean, centred sum of squares
    lows, highs = [], []
    with np.errstate(over="ignore", invalid="ignore"):
        for start in chunks(n):
            part = flat[start:start + CHUNK]
            w, t = wide[:part.size], work[:part.size]
            w[...] = part
            s = float(w.sum())
            total += s
            np.abs(w, out=t)
            abs_total += float(t.sum())
            mean = s / part.size
            np.subtract(w, mean, out=t)
            np.multiply(t, t, out=t)
            parts.append((part.size, mean, float(t.sum())))
            # min/max in the output's own dtype: the float64 conversion is exact and keeps the order
            lows.append(part.min())
            highs.append(part.max())
        if not np.isfinite(abs_total):
            # NaN or Inf propagate into the abs-sum; a finite output only gets here near float64's limit
            if flat.dtype.kind == "f" and any(_non_finite(flat)):
                return None
            return _scaled_stats(flat)
        mean = total / n
        m2 = sum(c + k * (m - mean) ** 2 for k, m, c in parts) if len(parts) > 1 else parts[0][2]
        stats = {"abs_sum": abs_total, "mean": mean, "std": np.sqrt(m2 / n),
                 "min": float(min(lows)), "max": float(max(highs))}
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


def _dot(x: np.ndarray, y: np.ndarray) -> float:
    # einsum's own loop: one read of each operand, no temporary, and no BLAS (whose threads fight torch's)
    return float(np.einsum("i,i->", x, y))


class Differences:
    """Every number a comparison needs, from one chunked pass over two finite, aligned value arrays.

    Per chunk the values are converted to float64 into reused buffers (no full float64 copy, no temporary
    the size of the array). Norms are sums of squares of values divided by a scale fixed before the pass
    (max |x|, from min and max): clear of overflow, and of underflow too, except the L2 of a difference far
    below that scale, which a second pass then sums again relative to L_inf.
    """

    def __init__(self, a: np.ndarray, e: np.ndarray, atol: float, rtol: float, scale_a: float, scale_e: float,
                 worst: int = 3):
        self.n, self.scale_a, self.scale_e = a.size, scale_a, scale_e
        self.scale_d = max(scale_a, scale_e)
        # Between 1e-100 and 1e100 squares neither overflow nor underflow: sum them as they are, no divisions.
        # The cosine sums too, while the two scales are alike: where they are far apart, the close-distance
        # formula would subtract terms (|e|/|a|)^2 larger than its result; scaled sums keep it exact.
        self.plain = all(s == 0 or 1e-100 < s < 1e100 for s in (scale_a, scale_e)) and (
            not (scale_a and scale_e) or 0.5 <= scale_a / scale_e <= 2.0)
        self.linf = self.abs_total = self.dd = self.aa = self.ee = self.rr = self.re = self.pq = 0.0
        self.bad = 0
        self.top: list[tuple[float, int, float, float]] = []  # worst candidates: diff, flat position, a, e
        self.a, self.e = a, e
        self._bufs = [np.empty(min(a.size, CHUNK)) for _ in range(4)]
        for start in chunks(a.size):
            self._chunk(start, atol, rtol, worst)
        # |a - e| / |e| = sqrt(dd / ee) * d_unit / e_unit: the sums are of values divided by these units
        self.d_unit, self.e_unit = (1.0, 1.0) if self.plain else (self.scale_d, self.scale_e)
        if self.linf and self.linf / max(self.d_unit, self.scale_d) < 1e-140:  # squares of the diffs underflow
            self.d_unit, self.dd = self.linf, 0.0
            for start in chunks(a.size):
                _, _, d, t = self._diff(start)
                np.divide(d, self.linf, out=t)
                self.dd += _dot(t, t)
        self.a = self.e = None  # type: ignore[assignment]  # keep no reference to the arrays

    def _diff(self, start: int) -> list[np.ndarray]:
        """The chunk's values in float64 (views where they are float64 already), |a - e|, and a spare buffer."""
        ac, ec = self.a[start:start + CHUNK], self.e[start:start + CHUNK]
        w, v, d, t = (b[:ac.size] for b in self._bufs)
        if ac.dtype == np.float64:
            w = ac
        else:
            w[...] = ac
        if ec.dtype == np.float64:
            v = ec
        else:
            v[...] = ec
        np.subtract(w, v, out=t)  # signed, for the cosine
        if ac.dtype.kind in "iu" and ac.dtype.kind == ec.dtype.kind:
            d[...] = abs_diff(ac, ec)
        else:
            np.abs(t, out=d)
        return [w, v, d, t]

    def _chunk(self, start: int, atol: float, rtol: float, worst: int) -> None:
        w, v, d, t = self._diff(start)
        peak = float(d.max())
        self.linf = max(self.linf, peak)
        self.abs_total += float(d.sum())
        self.bad += int(np.count_nonzero(d > atol + rtol * np.abs(v) if rtol else d > atol))
        if worst and peak > 0 and (len(self.top) < worst or peak > self.top[-1][0]):
            self._keep_worst(start, w, v, d, worst)
        if not self.plain:  # values near float64's limits: divide by the scales first
            self._scaled(w, v, d, t)
            return
        self.dd += _dot(t, t)
        if self.scale_e:
            self.ee += _dot(v, v)
        if self.scale_a and self.scale_e:  # cosine of a and e: scale doesn't matter, r = a - e
            self.aa += _dot(w, w)
            self.rr = self.dd
            self.re += _dot(t, v)
            self.pq += _dot(w, v)

    def _keep_worst(self, start: int, w: np.ndarray, v: np.ndarray, d: np.ndarray, worst: int) -> None:
        """The chunk's largest differences (first position among ties) merged into the running top list."""
        saved = []
        for _ in range(min(worst, d.size)):
            pos = int(d.argmax())
            if not d[pos]:
                break
            saved.append((pos, float(d[pos])))
            self.top.append((float(d[pos]), start + pos, float(w[pos]), float(v[pos])))
            d[pos] = -1.0
        for pos, value in saved:  # d is read again after this
            d[pos] = value
        self.top = sorted(self.top, key=lambda row: (-row[0], row[1]))[:worst]

    def _scaled(self, w: np.ndarray, v: np.ndarray, d: np.ndarray, t: np.ndarray) -> None:
        # Into the buffers, never into w or v: those may be views of the caller's arrays.
        p, q = self._bufs[0][:w.size], self._bufs[1][:v.size]
        if self.scale_d:
            np.divide(d, self.scale_d, out=t)
            self.dd += _dot(t, t)
        if self.scale_e:
            np.divide(v, self.scale_e, out=q)
            self.ee += _dot(q, q)
        if self.scale_a and self.scale_e:  # cosine: p = a / max|a|, q = e / max|e|, r = p - q
            np.divide(w, self.scale_a, out=p)
            self.aa += _dot(p, p)
            self.pq += _dot(p, q)
            np.subtract(p, q, out=t)
            self.rr += _dot(t, t)
            self.re += _dot(t, q)

    def cosine(self) -> float | None:
        if self.scale_a == 0 and self.scale_e == 0:
            return 0.0
        if self.scale_a == 0 or self.scale_e == 0:
            return None
        na, ne = np.sqrt(self.aa), np.sqrt(self.ee)
        far = 2.0 - 2.0 * self.pq / (na * ne)
        if far > 1e-2:  # far apart: 1 - cos as it is, accurate to float rounding where it is this large
            return 0.5 * min(4.0, float(far))
        # Close: 1 - cos as half the squared distance of the unit vectors p/|p| and q/|q|, from sums of
        # r = p - q: |p|^2 - |q|^2 = 2 r.q + r.r, so p/|p| - q/|q| = r/|p| + q (1/|p| - 1/|q|) loses nothing
        # to cancellation: exactly 0 for equal arrays (the textbook 1 - p.q/|p||q| leaves ~2e-16) and
        # accurate for the tiny distances that matter here.
        k = -(2 * self.re + self.rr) / (na + ne) / (na * ne)
        return 0.5 * max(0.0, float(self.rr / self.aa + 2 * self.re * k / na + self.ee * k * k))

    def rel_l2(self) -> float | None:
        if not self.linf:
            return 0.0
        if not self.scale_e:  # against an all-zero golden: undefined
            return None
        ratio = float(np.sqrt(self.dd / self.ee) * (self.d_unit / self.e_unit))
        return ratio if np.isfinite(ratio) else None

    def metrics(self) -> dict[str, float | None]:
        return {"linf": self.linf, "mean_abs": self.abs_total / self.n if self.n else 0.0,
                "rel_l2": self.rel_l2(), "cosine": self.cosine()}


def sample_indices(size: int, count: int) -> np.ndarray:
    """Evenly strided flat indices: the same ones for the golden and every later run."""
    if size <= count:
        return np.arange(size)
    return np.linspace(0, size - 1, count).astype(np.int64)
