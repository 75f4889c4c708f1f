"""Writing files so that a kill, a full disk or a read-only folder never leaves a damaged one behind.

Every write goes to a temporary file in the target's folder, then is renamed over the target: a reader,
and a run after a kill, sees the old file or the new one, never half of one. A full disk or a read-only
folder fails while the temporary is written, before any rename. Nothing is fsynced, as ``np.save``
doesn't: an fsync cost a 3 MB regen ~2-4 ms here, more than everything else in its write, and guards only
against a power cut during a regen, after which the store rejects what it left (an empty file, or bytes
that don't match their entry) and says to restore it from version control. A temporary's name carries its
writer's process id and host, so a later run tells one left by a killed writer (removed by :func:`sweep`)
from one still being written. Locks are ``flock`` (``msvcrt.locking`` on Windows): the kernel drops them
with their holder, so a killed run never leaves a lock that blocks the next one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .entry import GoldenError

_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "surrogatepass")).hexdigest()[:8]
# .<target>.<pid>-<host>.<mkstemp's random part>.tmp; releases before 0.1.1 wrote no pid and host.
_TMP = re.compile(r"\..+\.(?:json|npz)\.(?:(?P<pid>[0-9]{1,10})-(?P<host>[0-9a-f]{8})\.)?[a-z0-9_]{6,}\.tmp")
STALE_AGE = 3600.0  # a temporary this old is stale whoever wrote it (another host, a reused pid)
_HINTS = {
    errno.EACCES: "is the golden directory writable?", errno.EPERM: "is the golden directory writable?",
    errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up", errno.EFBIG: "over the file-size limit (ulimit -f)",
}


class WriteError(GoldenError, OSError):
    """A file that could not be written: the message names it, the cause, and what was left as it was."""


def cause(exc: OSError) -> str:
    text = exc.strerror or str(exc) or type(exc).__name__
    hint = _HINTS.get(exc.errno or 0)
    return f"{text}: {hint}" if hint else text


Data = bytes | Sequence[bytes | memoryview]  # a file's bytes, or its parts in order (npz.py: no joined copy)


def _prepare(path: Path, data: Data) -> str:
    """``data`` in a temporary beside ``path``, closed (a write error shows by then); returns its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-{_HOST}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; a golden or report must be readable like any file the user writes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            for part in [data] if isinstance(data, bytes) else data:
                f.write(part)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def write_files(files: Sequence[tuple[Path, Data]]) -> None:
    """Write every file, or none where one can't be written: every temporary first, then the renames.

    A full disk, a file-size limit or a read-only folder fails while the temporaries are written, so the
    old files are all left as they were. A kill between two renames leaves the first file new and the
    second old; the golden store detects that (an array that doesn't match its entry).
    """
    ready: list[tuple[str, Path]] = []
    current: Path | None = None
    replaced = 0
    try:
        for path, data in files:
            current = path
            path.parent.mkdir(parents=True, exist_ok=True)
            ready.append((_prepare(path, data), path))
        for tmp, path in ready:
            current = path
            os.replace(tmp, path)
            replaced += 1
    except OSError as exc:
        done = [p.name for _, p in ready[:replaced]]
        left = ("every old file is unchanged" if not done else
                f"{', '.join(done)} already replaced: run again to write the rest")
        raise WriteError(f"{current}: cannot write it ({cause(exc)}); {left}") from None
    finally:
        for tmp, _ in ready[replaced:]:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def atomic_write(path: Path, data: bytes) -> None:
    write_files([(path, data)])


# ---- locks ----

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks bytes from the current position: always the first one
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _release(fd: int, lock: Path) -> None:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        os.close(fd)
        with contextlib.suppress(OSError):  # fails while another process has it open: then it's theirs
            os.unlink(lock)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        return True

    def _release(fd: int, lock: Path) -> None:
        # Unlinked while still held: whoever opened the old file sees it is gone and opens the new one.
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (a holder unlinks the lock file as it lets go)."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _take(lock: Path, create: bool = True) -> int | None:
    """The lock file open and locked by this process; ``None`` while another process holds it."""
    fd = os.open(lock, os.O_RDWR | (os.O_CREAT if create else 0), 0o666)
    try:
        if _try_lock(fd) and _same_file(fd, lock):
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def _holder(lock: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = lock.read_text(encoding="utf-8").strip()[:100]
        if text:
            return f"process {text}"
    return "another process"


@contextlib.contextmanager
def locked(path: Path, timeout: float = 60.0) -> Iterator[None]:
    """Serialise read-modify-write of one golden file (xdist workers on two backends of one test).

    The lock dies with its holder: a lock file left by a killed run is taken at once and removed.
    """
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + timeout
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        while (fd := _take(lock)) is None:
            if time.monotonic() > deadline:
                raise GoldenError(f"{lock}: still locked after {timeout:g}s by {_holder(lock)}, which is still "
                                  "running; wait for it to finish, or stop it")
            time.sleep(0.02)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write it ({cause(exc)}): its lock file {lock.name} can't be created; "
                         "every old file is unchanged") from None
    try:
        with contextlib.suppress(OSError):  # who holds it, for the message of a run that waits too long
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} on {socket.gethostname()}".encode())
        yield
    finally:
        _release(fd, lock)


# ---- what killed writers leave behind ----


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    with contextlib.suppress(OSError, IndexError):  # an unreaped child is no writer either
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _stale_tmp(name: str, path: Path) -> bool:
    match = _TMP.fullmatch(name)
    if match is None:
        return False
    mine = match["pid"] is not None and match["host"] == _HOST and sys.platform != "win32"
    if mine and not _alive(int(match["pid"])):
        return True
    return time.time() - path.stat().st_mtime > STALE_AGE


def _stale_lock(path: Path) -> bool:
    """Remove ``path`` if no process holds it; whether it was removed."""
    if sys.platform == "win32":
        os.unlink(path)  # fails while its holder has it open
        return True
    fd = _take(path, create=False)
    if fd is None:
        return False
    _release(fd, path)
    return True


_SWEPT: set[Path] = set()  # folders this process has swept: a regen of many checks lists each once


def sweep_once(folder: Path) -> list[Path]:
    if folder in _SWEPT:
        return []
    _SWEPT.add(folder)
    return sweep(folder)


def sweep(folder: Path) -> list[Path]:
    """Remove the temporaries and lock files that killed runs left in ``folder``; returns them."""
    removed: list[Path] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return removed
    for name in names:
        path = folder / name
        with contextlib.suppress(OSError):  # gone meanwhile, or a read-only folder: nothing to do
            if name.endswith(".tmp") and _stale_tmp(name, path):
                path.unlink()
                removed.append(path)
            elif name.endswith(".json.lock") and _stale_lock(path):
                removed.append(path)
    return removed
