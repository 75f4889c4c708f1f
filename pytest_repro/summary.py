"""The readable summary of an output kept in a golden file: the ``1491.1711`` style numbers."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

CORNER = 9  # values kept from each end of the flattened array


def _num(value: Any) -> float:
    # 7 significant digits: float32 precision, and short enough to read in a diff.
    return float(f"{float(value):.7g}")


def sha256(array: np.ndarray) -> str:
    contiguous = np.ascontiguousarray(array)
    return "sha256:" + hashlib.sha256(contiguous.tobytes()).hexdigest()


def summarize(array: np.ndarray, dtype: str) -> dict[str, Any]:
    """Shape, dtype, abs-sum, mean, std, min, max, corner slices and a hash of the bytes."""
    flat = array.reshape(-1)
    wide = flat.astype(np.float64) if flat.size else flat
    finite = bool(np.isfinite(wide).all()) if flat.size else True
    summary: dict[str, Any] = {
        "shape": list(array.shape),
        "dtype": dtype,
        "size": int(flat.size),
        "hash": sha256(array),
        "finite": finite,
    }
    if not finite:  # counted here so a verdict can say what is wrong without the array
        summary.update(nan=int(np.isnan(wide).sum()), inf=int(np.isinf(wide).sum()))
    if flat.size and finite:
        summary.update(_stats(wide))
        summary.update(head=[_num(v) for v in wide[:CORNER]], tail=[_num(v) for v in wide[-CORNER:]])
    return summary


def _stats(wide: np.ndarray) -> dict[str, Any]:
    """abs-sum, mean, std, min and max of finite values; abs-sum ``None`` where it exceeds float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        stats = {"abs_sum": np.abs(wide).sum(), "mean": wide.mean(), "std": wide.std(), "min": wide.min(),
                 "max": wide.max()}
        if not all(np.isfinite(v) for v in stats.values()):
            # Values near float64's limit (1e308): sums and squares overflow. Computed on values scaled to
            # at most 1 only then, so every other output keeps the exact numbers earlier goldens hold.
            scale = np.abs(wide).max()
            unit = wide / scale
            stats.update(abs_sum=np.abs(unit).sum() * scale, mean=unit.mean() * scale, std=unit.std() * scale)
    return {name: (_num(value) if np.isfinite(value) else None) for name, value in stats.items()}


def sample_indices(size: int, count: int) -> np.ndarray:
    """Evenly strided flat indices: the same ones for the golden and every later run."""
    if size <= count:
        return np.arange(size)
    return np.linspace(0, size - 1, count).astype(np.int64)
