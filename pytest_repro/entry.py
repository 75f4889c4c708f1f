"""One golden entry, read field by field: what a comparison may rely on, or the field that is wrong.

A golden file is edited by hand, merged by git and written by older versions, so nothing read from it is
trusted: every field a comparison or a failure message uses is checked for its type and range here, and
the arrays beside it against the entry (size, shape, dtype, hashes, sample positions) once loaded. The
store turns a :class:`Malformed` into a :class:`GoldenError` naming the file, the check and the backend.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .summary import CORNER, extremes, sha256


class GoldenError(Exception):
    """A golden file that can't be used; the message names the file and what to do."""


class Malformed(Exception):
    """One field of an entry is wrong: ``field`` (dotted, ``summary.shape``) and what is wrong with it."""

    def __init__(self, field: str, problem: str):
        super().__init__(field, problem)
        self.field = field
        self.problem = problem


HASH = re.compile(r"sha256:[0-9a-f]{64}")
CRC = re.compile(r"crc32:[0-9a-f]{8}")
SUM = re.compile(r"sum64:[0-9a-f]{16}")
KEPT = re.compile(r"full|sample of ([1-9][0-9]{0,9})")
# What convert.py lets a check record: numpy's names, and bfloat16 (kept as float32 values).
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "bfloat16")
STATS = ("abs_sum", "mean", "std", "min", "max")
MAX_DIMS = 64  # numpy's own limit
FIX = "restore it from version control, or run pytest --repro-regen to record it again"


def _show(value: Any) -> str:
    """A short description of a bad value (never the repr of a deep structure: that recurses)."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"a {'table' if isinstance(value, dict) else type(value).__name__}"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    # JSON reads NaN, Infinity and 400-digit integers; none of them is a statistic of a finite output.
    if _whole(value):
        return abs(value) < 2**1024
    return isinstance(value, float) and math.isfinite(value)


def _require(ok: bool, field: str, expected: str, value: Any) -> None:
    if not ok:
        raise Malformed(field, f"expected {expected}, got {_show(value)}")


def _plain_file_name(name: Any) -> bool:
    """A file beside the golden: no folder, no drive, no stream, nothing hidden (``../../etc/passwd``)."""
    return (isinstance(name, str) and 4 < len(name) <= 255 and name.endswith(".npz") and not name.startswith(".")
            and not any(c in name for c in '/\\:\0'))


def kept_count(entry: dict[str, Any]) -> int | None:
    """``None`` for an entry kept whole, else the number of sampled values (``kept: sample of N``)."""
    match = KEPT.fullmatch(entry["kept"])
    assert match is not None  # read_entry checked it
    return int(match.group(1)) if match.group(1) else None


def read_entry(raw: Any) -> dict[str, Any]:
    """``raw`` itself once every field a comparison reads is valid; else :class:`Malformed`."""
    _require(isinstance(raw, dict), "", "a table with summary, kept and array", raw)
    summary = raw.get("summary")
    _require(isinstance(summary, dict), "summary", "a table", summary)
    shape = summary.get("shape")
    _require(isinstance(shape, list) and len(shape) <= MAX_DIMS and all(_whole(n) and 0 <= n < 2**63 for n in shape),
             "summary.shape", "a list of whole numbers >= 0", shape)
    size = summary.get("size")
    _require(_whole(size) and size == math.prod(shape), "summary.size", f"{math.prod(shape)} (its shape's size)", size)
    _require(summary.get("dtype") in DTYPES, "summary.dtype", f"one of {', '.join(DTYPES)}", summary.get("dtype"))
    _require(isinstance(summary.get("hash"), str) and HASH.fullmatch(summary["hash"]) is not None, "summary.hash",
             "sha256:<64 hex digits>", summary.get("hash"))
    # --repro-regen never records NaN or Inf: a golden saying so was edited, and would compare as anything.
    _require(summary.get("finite", True) is True, "summary.finite", "true (a golden holds no NaN or Inf)",
             summary.get("finite"))
    if size:
        for stat in STATS:
            value = summary.get(stat)
            # abs_sum is null where the sum of a finite output overflows float64 (summary.py)
            _require(_number(value) or (stat == "abs_sum" and value is None), f"summary.{stat}", "a finite number",
                     value)
    for corner in ("head", "tail"):
        if corner in summary:
            values = summary[corner]
            _require(isinstance(values, list) and len(values) <= CORNER and all(map(_number, values)),
                     f"summary.{corner}", f"a list of at most {CORNER} finite numbers", values)
    kept = raw.get("kept")
    _require(isinstance(kept, str) and KEPT.fullmatch(kept) is not None, "kept", "'full' or 'sample of N'", kept)
    count = kept_count(raw)
    if count is not None and count > size:
        raise Malformed("kept", f"a sample of {count} values from an output of {size}")
    _require(_plain_file_name(raw.get("array")), "array", "the name of an .npz file beside the golden",
             raw.get("array"))
    for name in ("array_hash", "index_hash"):
        if name in raw:
            _require(isinstance(raw[name], str) and HASH.fullmatch(raw[name]) is not None, name,
                     "sha256:<64 hex digits>", raw[name])
    for name in ("array_crc32", "index_crc32"):
        if name in raw:
            _require(isinstance(raw[name], str) and CRC.fullmatch(raw[name]) is not None, name,
                     "crc32:<8 hex digits>", raw[name])
    for name in ("array_sum64", "index_sum64"):
        if name in raw:
            _require(isinstance(raw[name], str) and SUM.fullmatch(raw[name]) is not None, name,
                     "sum64:<16 hex digits>", raw[name])
    if "seed" in raw:
        seed = raw["seed"]
        _require(isinstance(seed, list) and all(_whole(s) and 0 <= s < 2**64 for s in seed), "seed",
                 "a list of whole numbers >= 0", seed)
    if "fingerprint" in raw:
        fingerprint = raw["fingerprint"]
        _require(isinstance(fingerprint, dict), "fingerprint", "a table", fingerprint)
        for name, value in fingerprint.items():
            _require(_json_value(value, 3), f"fingerprint.{name}", "text, a finite number, true, false, null, "
                     "or a shallow list or table of those", value)
    return raw


def _json_value(value: Any, depth: int) -> bool:
    """A fingerprint field: failure messages print it and compare it, so nothing deep or non-finite."""
    if value is None or isinstance(value, str | bool) or _number(value):
        return True
    if depth and isinstance(value, list):
        return all(_json_value(v, depth - 1) for v in value)
    if depth and isinstance(value, dict):
        return all(_json_value(v, depth - 1) for v in value.values())
    return False


def check_arrays(entry: dict[str, Any], values: np.ndarray, index: np.ndarray | None,
                 crcs: dict[str, str] | None = None) -> tuple[float, float] | None:
    """The arrays loaded for a valid ``entry`` hold what it says; else :class:`Malformed` (field ``array``).
    Returns the values' min and max (``summary.extremes``), read for the NaN check and kept for the comparison.

    ``crcs``: the CRC-32s of the file's members, from its zip directory (``store._read``, which checked
    the bytes by the entry's sum64s or by these). An entry that records them is matched by them: no
    sha256 of the values on every load. Entries older than them are checked by their sha256s.
    """
    summary = entry["summary"]
    name = entry["array"]
    by_crc = crcs is not None and "array_crc32" in entry
    if by_crc:
        assert crcs is not None
        if entry["array_crc32"] != crcs.get("array") or set(crcs) - {"array", "index"}:
            raise Malformed("array", f"{name} does not match its entry (an interrupted --repro-regen?)")
        if entry.get("index_crc32") != crcs.get("index") and (index is not None or "index_crc32" in entry):
            raise Malformed("array", f"{name}: its sample positions do not match the entry's index_crc32")
    elif entry.get("array_hash") not in (None, sha256(values)):
        raise Malformed("array", f"{name} does not match its entry (an interrupted --repro-regen?)")
    expected = "float32" if summary["dtype"] == "bfloat16" else summary["dtype"]
    if values.dtype.name != expected or not values.dtype.isnative:
        raise Malformed("array", f"{name} holds {values.dtype} values, the entry says {summary['dtype']}")
    count = kept_count(entry)
    if count is None:
        if index is not None:
            raise Malformed("array", f"{name} holds sample positions, but the entry is kept whole")
        if list(values.shape) != summary["shape"]:
            raise Malformed("array", f"{name} holds shape {list(values.shape)}, the entry says {summary['shape']}")
        if not by_crc and sha256(values) != summary["hash"]:
            raise Malformed("array", f"{name} is not the output its summary describes (its hash differs)")
    else:
        if index is None:
            raise Malformed("array", f"{name} lacks the positions of its sample")
        if values.shape != (count,) or index.shape != (count,) or index.dtype.kind not in "iu":
            raise Malformed("array", f"{name} holds {values.size} values at {index.size} positions, the entry "
                                     f"says a sample of {count}")
        if not by_crc and entry.get("index_hash") not in (None, sha256(index)):
            raise Malformed("array", f"{name}: its sample positions do not match the entry's index_hash")
        positions = index.astype(np.int64)  # a uint64 beyond int64 turns negative: out of range below
        if count and (positions[0] < 0 or positions[-1] >= summary["size"] or np.any(np.diff(positions) <= 0)):
            raise Malformed("array", f"{name}: its sample positions are not increasing positions in "
                                     f"[0, {summary['size']})")
    # min and max: NaN reaches both and an Inf one of them, with no temporary the size of the array
    found = extremes(values)
    if found is not None and not (math.isfinite(found[0]) and math.isfinite(found[1])):
        raise Malformed("array", f"{name} holds NaN or Inf values")
    return found
