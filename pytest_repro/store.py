"""The golden store: one readable JSON per test, arrays beside it in ``.npz``.

Layout: ``<golden_dir>/<test module path>/<test name>.json`` holding, per check name and per
backend key, the summary, the seed, the environment fingerprint and the name of the array file.
Every write goes to a temporary file in the same folder and is then renamed over the old one, so
a crash never leaves half a golden behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .identity import BackendKey, safe_name
from .summary import sha256

FORMAT = 1
SUMMARY_KEYS = ("shape", "dtype", "size", "hash")  # what a comparison can't do without


class GoldenError(Exception):
    """A golden file that can't be used; the message names the file and what to do."""


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; a golden or report must be readable like any file the user writes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_arrays(path: Path, values: np.ndarray, index: np.ndarray | None, compress: bool = True) -> None:
    """Write kept values (and, for a sample, their flat indices) as ``.npz``, atomically.

    Goldens are compressed (they live in the repository); report arrays are not (8x faster to write).
    """
    buffer = io.BytesIO()
    save = np.savez_compressed if compress else np.savez
    if index is None:
        save(buffer, values=values)
    else:
        save(buffer, values=values, index=index)
    atomic_write(path, buffer.getvalue())


def load_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read what :func:`save_arrays` wrote; never unpickles (``allow_pickle=False``)."""
    try:
        # Our own file handle: np.load leaks its own when the zip is corrupt.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            return npz["values"], (npz["index"] if "index" in npz.files else None)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise GoldenError(f"{path}: unreadable array file ({exc}).") from None


@contextlib.contextmanager
def locked(path: Path, timeout: float = 60.0) -> Iterator[None]:
    """Serialise read-modify-write of one golden file (xdist workers on two backends of one test)."""
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise GoldenError(f"{lock}: still locked after {timeout:g}s; delete it if no run is active") from None
            time.sleep(0.05)
    try:
        yield
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(lock)


class GoldenFile:
    def __init__(self, path: Path, test_id: str, data: dict[str, Any] | None = None):
        self.path = path
        self.data = data or {"format": FORMAT, "test": test_id, "checks": {}}

    @classmethod
    def load(cls, path: Path, test_id: str) -> GoldenFile:
        if not path.exists():
            return cls(path, test_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GoldenError(
                f"{path}: unreadable golden file ({exc}). Restore it from version control, or delete "
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
                f"{path}: written by a newer pytest-repro (golden format {fmt!r}, this one reads up to "
                f"{FORMAT}); upgrade pytest-repro: pip install -U pytest-repro"
            )
        return cls(path, test_id, data)

    def entry(self, check: str, backend: str) -> dict[str, Any] | None:
        table = self.data["checks"].get(check, {})
        entry = table.get(backend) if isinstance(table, dict) else table
        if entry is None:
            return None
        summary = entry.get("summary") if isinstance(entry, dict) else None
        missing = [k for k in SUMMARY_KEYS if not isinstance(summary, dict) or k not in summary]
        if missing:
            raise GoldenError(
                f"{self.path}: entry {check!r}/{backend!r} lacks {', '.join(missing)} in its summary; restore it "
                "from version control, or run pytest --repro-regen"
            )
        return entry

    def lookup(self, check: str, key: BackendKey) -> tuple[dict[str, Any] | None, BackendKey]:
        """The entry to compare ``key``'s output with, and whose it is.

        A device with no entry of its own is compared with its framework's CPU entry (documented
        fallback), under the tolerance configured for the device.
        """
        entry = self.entry(check, key)
        if entry is None and key != key.fallback:
            fallback = self.entry(check, key.fallback)
            if fallback is not None:
                return fallback, key.fallback
        return entry, key

    def backends(self, check: str) -> list[str]:
        return sorted(self.data["checks"].get(check, {}))

    def array_path(self, check: str, backend: str) -> Path:
        return self.path.with_name(f"{self.path.stem}.{safe_name(check)}.{backend}.npz")

    def load_array(self, entry: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The kept values and, for a sample, their flat indices; ``None`` if only the summary is kept."""
        name = entry.get("array")
        if not name:
            return None
        path = self.path.with_name(name)
        try:
            values, index = load_arrays(path)
        except GoldenError as exc:
            raise GoldenError(f"{exc} Restore it from version control, or run pytest --repro-regen.") from None
        # The JSON is written after its array: a run killed in between leaves a new array under the old
        # entry. The entry's hash of the values catches that instead of comparing with an unreviewed array.
        if "array_hash" in entry and sha256(values) != entry["array_hash"]:
            raise GoldenError(
                f"{path}: does not match its entry in {self.path.name} (an interrupted --repro-regen?); restore "
                "both from version control, or run pytest --repro-regen"
            )
        return values, index

    def set_entry(self, check: str, backend: str, entry: dict[str, Any], values: np.ndarray | None,
                  index: np.ndarray | None) -> list[Path]:
        """Store one entry (and its array) and write everything to disk; returns the files written."""
        written = []
        if values is not None:
            array_path = self.array_path(check, backend)
            save_arrays(array_path, values, index)
            entry["array"] = array_path.name
            entry["array_hash"] = sha256(values)
            written.append(array_path)
        self.data["format"] = FORMAT
        self.data["checks"].setdefault(check, {})[backend] = entry
        text = json.dumps(self.data, indent=2, sort_keys=True) + "\n"
        atomic_write(self.path, text.encode("utf-8"))
        written.append(self.path)
        return written
