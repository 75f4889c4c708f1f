"""The golden store: one readable JSON per test, arrays beside it in ``.npz``.

Layout: ``<golden_dir>/<test module path>/<test name>.json`` holding, per check name and per
backend key, the summary, the seed, the environment fingerprint and the name of the array file.
Writes are atomic and all-or-nothing (``files.py``); entries are validated field by field when read
(``entry.py``), so a damaged golden is a :class:`GoldenError` naming the file, check, backend and field.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, npz
from .entry import FIX, GoldenError, Malformed, check_arrays, read_entry
from .files import WriteError, atomic_write, locked, sweep, sweep_once, write_files
from .identity import BackendKey, array_name
from .summary import sha256

__all__ = ["FORMAT", "GoldenError", "GoldenFile", "WriteError", "atomic_write", "load_arrays", "locked",
           "save_arrays", "sweep", "sweep_once"]

FORMAT = 1


def npz_parts(values: np.ndarray, index: np.ndarray | None,
              compress: bool = False) -> tuple[list[Any], dict[str, str]]:
    """Kept values (and, for a sample, their flat indices) as the parts of an ``.npz``, and the entry
    fields that check them: ``array_crc32``, ``array_sum64`` (and ``index_...`` for a sample).

    Stored, not compressed: model outputs are noise-like floats that zlib shrinks by a few percent, at
    ~10x the time to load and ~100x to write (README, Performance), and written from the arrays' own
    memory (``npz.py``). The CRC-32s are for zip tools and older readers; this version checks the
    cheaper sum64 the entry records.
    """
    members = {"values": values} if index is None else {"values": values, "index": index}
    parts, crcs, sums = npz.by_numpy(members, compress=True) if compress else npz.stored(members)
    fields = {f"{_FIELD[name]}_crc32": f"crc32:{crc:08x}" for name, crc in crcs.items()}
    return parts, {**fields, **{f"{_FIELD[name]}_sum64": value for name, value in sums.items()}}


_FIELD = {"values": "array", "index": "index"}  # a member's name in the entry's fields
_MEMBER_FIELD = {f"{member}.npy": name for member, name in _FIELD.items()}


def save_arrays(path: Path, values: np.ndarray, index: np.ndarray | None, compress: bool = False) -> None:
    """Write what :func:`load_arrays` reads, atomically."""
    write_files([(path, npz_parts(values, index, compress)[0])])


def _crc_table(zf: zipfile.ZipFile) -> dict[str, str]:
    # named as the entry's fields: array_crc32 for values.npy, index_crc32 for index.npy
    return {_MEMBER_FIELD.get(info.filename, info.filename): f"crc32:{info.CRC:08x}" for info in zf.infolist()}


def load_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read what :func:`save_arrays` wrote; never unpickles (``allow_pickle=False``)."""
    values, index, _ = _read(path)
    return values, index


def _read(path: Path, sums: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray | None, dict[str, str]]:
    """The arrays and their members' CRC-32s (from the zip directory), each member's bytes checked.

    ``sums``: the sum64 an entry records for each member (``values``, ``index``), which then checks its
    bytes (``npz.sum64``: a twentieth of a CRC-32's time). A member with none is checked by its CRC-32."""
    try:
        # Our own file handle: np.load leaks its own when the zip is corrupt.
        with open(path, "rb") as f:
            with zipfile.ZipFile(f) as zf:
                infos = {info.filename: info for info in zf.infolist()}
                if set(infos) <= {"values.npy", "index.npy"} and all(
                        i.compress_type == zipfile.ZIP_STORED for i in infos.values()):
                    expected = sums or {}
                    values = _stored_member(f, infos["values.npy"], expected.get("values"))
                    index = (_stored_member(f, infos["index.npy"], expected.get("index"))
                             if "index.npy" in infos else None)
                    return values, index, _crc_table(zf)
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:  # compressed (older goldens, reports) or unexpected
                values, index = npz["values"], (npz["index"] if "index" in npz.files else None)
                return values, index, _crc_table(npz.zip)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, AttributeError) as exc:
        # AttributeError: a bare .npy instead of an .npz (np.load returns an array, not an archive)
        raise GoldenError(f"{path}: unreadable array file ({exc}).") from None


# The header np.save writes for a plain array, exactly (keys sorted, padded with spaces to a newline)
_HEADER = re.compile(rb"\{'descr': '([<>|][biuf][0-9]{1,2})', 'fortran_order': (True|False), "
                     rb"'shape': \(((?:[0-9]{1,19}, )*[0-9]{1,19},?|)\), \} *\n")


def _npy_header(f: Any, start: int, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of the ``.npy`` at ``start``, the file left at its data.

    A header as np.save writes it for a plain array is read by a pattern; anything else by numpy's own
    reader, which parses it as a Python literal (~50 us, a tenth of a small check)."""
    magic = f.read(8)
    if magic == b"\x93NUMPY\x01\x00":
        header = f.read(int.from_bytes(f.read(2), "little"))
        match = _HEADER.fullmatch(header)
        try:
            dtype = np.dtype(match[1].decode("ascii")) if match is not None else None
        except TypeError:  # a descr no dtype has ('<b2'): numpy's reader below says so
            dtype = None
        if match is not None and dtype is not None:
            return tuple(int(n) for n in match[3].split(b",") if n.strip()), match[2] == b"True", dtype
    f.seek(start)
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0)):  # what np.savez writes; 3.0 only for field names outside latin-1
        raise ValueError(f"{name}: .npy version {version}, not 1.0 or 2.0")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read_header(f)


def _stored_member(f: Any, info: zipfile.ZipInfo, sum64: str | None) -> np.ndarray:
    """An uncompressed ``.npy`` member read straight into its array, where zipfile and np.load read it in
    pieces and copy them; its bytes, header included, checked against ``sum64`` or else its CRC-32."""
    f.seek(info.header_offset)
    local = f.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"{info.filename}: bad local header")
    name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    f.seek(start)
    shape, fortran, dtype = _npy_header(f, start, info.filename)
    if dtype.hasobject:
        raise ValueError(f"{info.filename}: holds Python objects, which are never unpickled")
    header_len = f.tell() - start
    needed = header_len + math.prod(shape) * dtype.itemsize
    if needed != info.file_size:  # before allocating: a damaged header may claim terabytes
        raise EOFError(f"{info.filename}: {info.file_size} bytes in the archive, the array needs {needed}")
    array = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    flat: Any = array.reshape(-1, order="A")  # a view: the file's bytes land in the array itself
    data = memoryview(flat).cast("B") if array.size else memoryview(b"")
    if data.nbytes and f.readinto(data) != data.nbytes:
        raise EOFError(f"{info.filename}: the archive ends inside the array")
    f.seek(start)
    header = f.read(header_len)
    if sum64 is not None:
        if npz.sum64(header, data) != sum64:
            raise zipfile.BadZipFile(_unlike(info, zlib.crc32(data, zlib.crc32(header)) == info.CRC))
    elif zlib.crc32(data, zlib.crc32(header)) != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
    return array


def _unlike(info: zipfile.ZipInfo, whole: bool) -> str:
    """What a member whose sum64 differs from its entry's is: a sound file of another write (its bytes
    match its own CRC-32), or a damaged one. Only a failed check pays for the CRC-32 that tells them."""
    field = _MEMBER_FIELD[info.filename]  # only values.npy and index.npy get here
    if not whole:
        return (f"{info.filename}: its bytes match neither the entry's {field}_sum64 "
                "nor the archive's CRC-32 (a damaged file)")
    if field == "index":
        return f"{info.filename}: its sample positions do not match the entry's index_sum64"
    return f"{info.filename} does not match its entry (an interrupted --repro-regen?)"


class GoldenFile:
    def __init__(self, path: Path, test_id: str, data: dict[str, Any] | None = None):
        self.path = path
        self.data = data or {"format": FORMAT, "test": test_id, "checks": {}}
        self._read: list[dict[str, Any]] = []  # entries read_entry found valid (by identity: they are the data's)

    @classmethod
    def load(cls, path: Path, test_id: str) -> GoldenFile:
        if not path.exists():
            return cls(path, test_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            # ValueError: bad JSON, or an integer of more than 4300 digits; RecursionError: deep nesting
            what = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise GoldenError(
                f"{path}: unreadable golden file ({what}). Restore it from version control, or delete "
                "it and run pytest --repro-regen to record it again."
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("checks"), dict):
            raise GoldenError(f"{path}: not a pytest-repro golden file (no 'checks' table); restore or delete it")
        fmt = data.get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool):
            raise GoldenError(
                f"{path}: no valid 'format' field ({fmt!r}); restore it from version control, or delete "
                "it and run pytest --repro-regen"
            )
        if fmt > FORMAT:
            raise GoldenError(
                f"{path}: written by a newer pytest-repro (golden format {fmt!r}; pytest-repro {__version__} "
                f"here reads up to {FORMAT}): install in this environment the pytest-repro version the project "
                "that recorded it uses"
            )
        return cls(path, test_id, data)

    def _error(self, check: str, backend: str, field: str, problem: str, fix: str = FIX) -> GoldenError:
        named = f", field {field!r}" if field else ""
        return GoldenError(f"{self.path}: entry {check!r}/{backend!r}{named}: {problem}; {fix}")

    def _table(self, check: str, backend: str) -> dict[str, Any]:
        table = self.data["checks"].get(check, {})
        if not isinstance(table, dict):
            raise self._error(check, backend, "", f"the check holds a {type(table).__name__}, not a table of backends")
        return table

    def entry(self, check: str, backend: str) -> dict[str, Any] | None:
        """The entry of ``check`` on ``backend``, every field checked; ``None`` if there is none."""
        raw = self._table(check, backend).get(backend)
        if raw is None or any(raw is seen for seen in self._read):  # a check asks twice (lookup, load_array)
            return raw
        try:
            entry = read_entry(raw)
        except Malformed as exc:
            raise self._error(check, backend, exc.field, exc.problem) from None
        self._read.append(entry)
        return entry

    def lookup(self, check: str, key: str) -> tuple[dict[str, Any] | None, str]:
        """The entry to compare ``key``'s output with, and whose it is.

        A device with no entry of its own is compared with its framework's CPU entry (documented
        fallback), under the tolerance configured for the device.
        """
        key = BackendKey(key)
        entry = self.entry(check, key)
        if entry is None and key != key.fallback:
            fallback = self.entry(check, key.fallback)
            if fallback is not None:
                return fallback, key.fallback
        return entry, key

    def backends(self, check: str) -> list[str]:
        table = self.data["checks"].get(check, {})
        return sorted(table) if isinstance(table, dict) else []

    def array_path(self, check: str, backend: str) -> Path:
        return self.path.with_name(array_name(self.path.stem, check, backend))

    def load_array(self, check: str, backend: str) -> tuple[np.ndarray, np.ndarray | None]:
        """The kept values of an existing entry and, for a sample, their flat indices; checked against it."""
        values, index, _ = self.load_kept(check, backend)
        return values, index

    def load_kept(self, check: str, backend: str) -> tuple[np.ndarray, np.ndarray | None, tuple[float, float] | None]:
        """:meth:`load_array`'s values and index, and the values' min and max, read while checking them."""
        entry = self.entry(check, backend)
        if entry is None:
            raise self._error(check, backend, "", "no such entry")
        try:
            sums = {member: entry.get(f"{field}_sum64") for member, field in _FIELD.items()}
            values, index, stored = _read(self.path.with_name(entry["array"]), sums)
        except GoldenError as exc:
            raise self._error(check, backend, "array", str(exc).rstrip(".")) from None
        try:
            found = check_arrays(entry, values, index, stored)
        except Malformed as exc:
            raise self._error(check, backend, exc.field, exc.problem) from None
        return values, index, found

    def set_entry(self, check: str, backend: str, entry: dict[str, Any], values: np.ndarray,
                  index: np.ndarray | None) -> list[Path]:
        """Store one entry and its array, replacing only that entry; returns the files written.

        The array and the JSON are written together (``write_files``): a full disk or a read-only folder
        leaves both old files as they were. Other entries are kept as they are, even malformed ones.
        """
        array_path = self.array_path(check, backend)
        parts, checks = npz_parts(values, index)
        # The members' CRC-32s tie the array file to this entry at no cost when read (from the zip's
        # directory), and the sum64s check its bytes (_read); the sha256s are for older readers, which
        # check only those. A whole array's hash is its summary's, computed once already.
        whole = index is None and isinstance(entry.get("summary"), dict) and entry["summary"].get("hash")
        entry = {**entry, "array": array_path.name, "array_hash": whole or sha256(values), **checks}
        if index is not None:  # the positions too: a tampered index would compare the wrong values
            entry["index_hash"] = sha256(index)
        try:
            read_entry(entry)  # what is written must read back
        except Malformed as exc:
            raise self._error(check, backend, exc.field, exc.problem, "the output can't be recorded (the backend's "
                              "fingerprint or the summary is not what a golden may hold)") from None
        data = {**self.data, "format": FORMAT, "checks": dict(self.data["checks"])}
        table = data["checks"].get(check)
        data["checks"][check] = {**(table if isinstance(table, dict) else {}), backend: entry}
        try:
            text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        except (RecursionError, ValueError, TypeError) as exc:
            raise GoldenError(f"{self.path}: another entry can't be written back ({type(exc).__name__}); "
                              f"{FIX}") from None
        write_files([(array_path, parts), (self.path, text.encode("utf-8"))])
        self.data = data
        return [array_path, self.path]
