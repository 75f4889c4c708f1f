"""The two arrays a picture of one check is drawn from: the run's output and the golden it was compared with.

The output lies beside the JSON report (``CheckResult.array_file``, relative to the report's folder); the
golden beside its golden file (``CheckResult.golden_file``, or the same test's file under another
``--golden-dir`` when the report was written on another machine). Either may be absent, damaged, of
another run, or too big to draw: each case becomes a note that the page shows, never an exception.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..identity import BackendKey, golden_path
from ..results import CheckResult, Status
from ..store import GoldenError, GoldenFile, load_arrays
from ..summary import sha256

MAX_BYTES = 64 * 1024 * 1024  # per side: bigger arrays are not loaded (the report's own limit is 4 MiB)
_NOT_THERE = (Status.MISSING,)  # no golden entry was found by the run: nothing to look for


@dataclass
class Kept:
    """One side's values: whole (``index`` None, ``values`` in ``shape``) or a strided sample (flat)."""

    values: np.ndarray
    index: np.ndarray | None
    shape: tuple[int, ...]

    @property
    def whole(self) -> bool:
        return self.index is None


@dataclass
class Sides:
    output: Kept | None = None
    golden: Kept | None = None
    golden_key: str = ""
    notes: list[str] = field(default_factory=list)


def mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def npz_nbytes(path: Path) -> int:
    """The bytes ``load_arrays`` would allocate, read from the ``.npy`` headers without loading the data."""
    total = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            total += math.prod(shape) * dtype.itemsize
    return total


def _refused(path: Path, what: str) -> str | None:
    """Why the array file at ``path`` won't be loaded (absent, unreadable, too big), or None."""
    if not path.is_file():
        return f"{what} not available: {path} does not exist"
    try:
        nbytes = npz_nbytes(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        return f"{what} not available: {path} is not a readable array file ({exc})"
    if nbytes > MAX_BYTES:
        return (f"{what} not drawn: {path.name} holds {mb(nbytes)}, over the {mb(MAX_BYTES)} the HTML report "
                "loads per array (the metrics above are the run's own)")
    return None


def _read(path: Path, what: str) -> tuple[np.ndarray, np.ndarray | None] | str:
    """The values (and sample index) in ``path``, or why they can't be drawn."""
    refused = _refused(path, what)
    if refused:
        return refused
    try:
        return load_arrays(path)
    except GoldenError as exc:
        return f"{what} not available: {exc}"


def _kept(values: np.ndarray, index: np.ndarray | None, shape: list[int], what: str) -> Kept | str:
    shape_t = tuple(int(n) for n in shape)
    if index is None:
        if values.size != math.prod(shape_t):
            return f"{what} holds {values.size} values, not the {math.prod(shape_t)} of shape {shape_t}: not drawn"
        return Kept(values.reshape(shape_t), None, shape_t)
    if index.shape != values.reshape(-1).shape:
        return f"{what}: its sample has {values.size} values for {index.size} positions: not drawn"
    return Kept(values.reshape(-1), index.astype(np.int64), shape_t)


def load_output(report: Path, result: CheckResult) -> Kept | str:
    """The run's output kept beside ``report``; a note when it can't be drawn."""
    if not result.array_file:
        return "output not kept by the run (it kept no array for this check)"
    shape = result.summary.get("shape")
    if not isinstance(shape, list):
        return "output not drawn: the result has no shape in its summary"
    loaded = _read(report.parent / result.array_file, "output")
    if isinstance(loaded, str):
        return loaded + f" (copy the {Path(result.array_file).parent}/ folder along with {report.name})"
    values, index = loaded
    if index is None and result.summary.get("hash") not in (None, sha256(values)):
        return f"output not drawn: {result.array_file} is not the array this result summarises (its hash differs)"
    return _kept(values, index, shape, "output")


def _golden_file(result: CheckResult, golden_dir: Path | None) -> Path | None:
    candidates = [Path(result.golden_file)] if result.golden_file else []
    if golden_dir is not None:
        candidates.insert(0, golden_path(golden_dir, result.test))
    return next((p for p in candidates if p.is_file()), None)


def load_golden(result: CheckResult, golden_dir: Path | None) -> tuple[Kept | str, str]:
    """The golden entry's values the check was compared with, and its backend key; a note when absent."""
    key = result.golden_backend or result.backend
    if result.status in _NOT_THERE:
        return "no golden entry for this check and backend (the run found none)", key
    path = _golden_file(result, golden_dir)
    if path is None:
        hint = "" if golden_dir is not None else "; render with --golden-dir DIR to look in a checkout's golden/"
        if not result.golden_file:
            return f"golden not available: the result names no golden file{hint}", key
        return f"golden not available here: {result.golden_file} does not exist{hint}", key
    try:
        golden = GoldenFile.load(path, result.test)
        if golden.data.get("test") not in (None, result.test):
            return f"golden not used: {path} belongs to {golden.data.get('test')}, not {result.test}", key
        entry = golden.entry(result.check, BackendKey(key))
        if entry is None:
            return f"golden not available: {path} has no entry {result.check!r} for {key}", key
        if not entry.get("array"):
            return f"golden not drawn: {path.name} keeps only a summary for {key} (no array)", key
        array = path.with_name(str(entry["array"]))
        refused = _refused(array, "golden")
        if refused:
            return refused, key
        values, index = golden.load_array(result.check, key)  # checked against its entry (hash, shape)
    except (GoldenError, ValueError) as exc:
        return f"golden not available: {exc}", key
    return _kept(values, index, list(entry["summary"]["shape"]), "golden"), key


def load_sides(report: Path, result: CheckResult, golden_dir: Path | None = None) -> Sides:
    sides = Sides()
    output = load_output(report, result)
    golden, sides.golden_key = load_golden(result, golden_dir)
    for side, loaded in (("output", output), ("golden", golden)):
        if isinstance(loaded, str):
            sides.notes.append(loaded)
        else:
            setattr(sides, side, loaded)
    return sides


def aligned(output: Kept, golden: Kept) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Output and golden values at the same flat positions (and those positions when sampled)."""
    if output.shape != golden.shape:
        return None
    if output.whole and golden.whole:
        return output.values.reshape(-1), golden.values.reshape(-1), None
    if golden.index is not None and output.whole:
        return output.values.reshape(-1)[golden.index], golden.values, golden.index
    if output.index is not None and golden.whole:
        return output.values, golden.values.reshape(-1)[output.index], output.index
    if output.index is not None and golden.index is not None:
        common, oi, gi = np.intersect1d(output.index, golden.index, assume_unique=True, return_indices=True)
        return (output.values[oi], golden.values[gi], common) if common.size else None
    return None


def largest_diff(a: np.ndarray, e: np.ndarray, chunk: int = 1 << 20) -> float:
    """max |a - e| over finite pairs, in float64, a chunk at a time (no full-size float64 copy)."""
    a, e = a.reshape(-1), e.reshape(-1)
    worst = 0.0
    for start in range(0, a.size, chunk):
        d = np.abs(a[start:start + chunk].astype(np.float64) - e[start:start + chunk].astype(np.float64))
        d = d[np.isfinite(d)]
        if d.size:
            worst = max(worst, float(d.max()))
    return worst
