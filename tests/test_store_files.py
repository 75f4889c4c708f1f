"""files.py: atomic writes, locks that die with their holder, what killed writers leave, disks that refuse writes."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pytest_repro import files
from pytest_repro.store import GoldenError, GoldenFile, WriteError, atomic_write, locked, sweep
from pytest_repro.summary import summarize

# ---- atomic writes ----


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "deep/dir/file.json"
    atomic_write(path, b"one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(path.parent) == ["file.json"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "file.json"
    atomic_write(path, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match=f"^{path}: cannot write it .disk full.; every old file is unchanged"):
        atomic_write(path, b"new")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.json"]


def test_written_files_are_readable_by_others(tmp_path):
    path = tmp_path / "t.json"
    old = os.umask(0o022)
    try:
        atomic_write(path, b"x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # as open() would make it, not mkstemp's 0600


# ---- locks ----


def test_locked_serialises(tmp_path):
    path = tmp_path / "t.json"
    with locked(path, timeout=5):
        assert (tmp_path / "t.json.lock").read_text().startswith(f"{os.getpid()} on ")
        with pytest.raises(GoldenError, match=rf"t\.json\.lock: still locked after 0.2s by process {os.getpid()}"):
            with locked(path, timeout=0.2):
                pass
    assert not (tmp_path / "t.json.lock").exists()
    with locked(path, timeout=0.2):  # free again
        pass


def test_locked_waits_for_the_holder(tmp_path):
    path = tmp_path / "t.json"
    order = []
    entered = threading.Event()

    def holder():
        with locked(path):
            entered.set()
            threading.Event().wait(0.3)
            order.append("first done")

    thread = threading.Thread(target=holder)
    thread.start()
    entered.wait(5)
    with locked(path, timeout=5):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]


def test_locked_releases_on_error(tmp_path):
    with pytest.raises(RuntimeError), locked(tmp_path / "t.json"):
        raise RuntimeError
    assert not (tmp_path / "t.json.lock").exists()


HOLD = """
import sys, time
from pathlib import Path
from pytest_repro.files import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_lock_dies_with_its_killed_holder(tmp_path):
    path = tmp_path / "t.json"
    with subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(GoldenError, match="still locked"), locked(path, timeout=0.1):
                pass
        finally:
            os.kill(holder.pid, signal.SIGKILL)
    assert (tmp_path / "t.json.lock").exists()  # left behind, but held by nobody
    start = time.monotonic()
    with locked(path, timeout=5):
        pass
    assert time.monotonic() - start < 1
    assert not (tmp_path / "t.json.lock").exists()


# ---- what killed writers leave ----


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def temporary(folder: Path, target: str, pid: int | None, age: float = 0.0) -> Path:
    tag = f"{pid}-{files._HOST}." if pid is not None else ""
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{target}.{tag}", suffix=".tmp")
    os.close(fd)
    if age:
        os.utime(name, (time.time() - age, time.time() - age))
    return Path(name)


def test_sweep_removes_what_dead_writers_left_and_nothing_else(tmp_path):
    stale = [temporary(tmp_path, "t.json", dead_pid()), temporary(tmp_path, "t.output.torch-cpu.npz", dead_pid()),
             temporary(tmp_path, "t.json", None, age=2 * files.STALE_AGE)]  # an old release's, an hour old
    (tmp_path / "u.json.lock").write_text("")  # an old release's O_EXCL lock, or one of a killed run
    live = [temporary(tmp_path, "t.json", os.getpid()), temporary(tmp_path, "t.json", None)]
    other = [tmp_path / "t.json", tmp_path / ".notes.tmp", tmp_path / "keep.lock"]
    for path in other:
        path.write_text("mine")
    with locked(tmp_path / "v.json"):
        removed = sweep(tmp_path)
        assert (tmp_path / "v.json.lock").exists()  # held: kept
    assert sorted(removed) == sorted([*stale, tmp_path / "u.json.lock"])
    assert all(p.exists() for p in live + other)


def test_sweep_of_a_read_only_or_missing_folder_does_nothing(tmp_path):
    assert sweep(tmp_path / "none") == []


# ---- disks that refuse writes: a message naming the file and the cause, every old file intact ----


def golden_with_entry(tmp_path) -> tuple[GoldenFile, dict[str, bytes]]:
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    values = np.arange(10.0)
    golden.set_entry("output", "torch-cpu", {"summary": summarize(values, "float64"), "kept": "full"}, values, None)
    return golden, {p.name: p.read_bytes() for p in tmp_path.iterdir()}


def rewrite(golden: GoldenFile) -> None:
    values = np.arange(10.0) + 1
    golden.set_entry("output", "torch-cpu", {"summary": summarize(values, "float64"), "kept": "full"}, values, None)


@pytest.mark.parametrize(("code", "cause"), [
    (errno.ENOSPC, "No space left on device: the disk is full"),
    (errno.EROFS, "Read-only file system: the file system is read-only"),
    (errno.EACCES, "Permission denied: is the golden directory writable?"),
    (errno.EFBIG, "File too large: over the file-size limit (ulimit -f)"),
])
@pytest.mark.parametrize("where", ["array", "json"])
def test_a_refused_write_names_the_file_and_cause_and_keeps_every_old_file(tmp_path, monkeypatch, code, cause,
                                                                          where):
    golden, before = golden_with_entry(tmp_path)
    real = files._prepare

    def refuse(path, data):  # the disk refuses the array, or the JSON after the array was prepared
        if path.suffix == (".npz" if where == "array" else ".json"):
            raise OSError(code, os.strerror(code))
        return real(path, data)

    monkeypatch.setattr(files, "_prepare", refuse)
    with pytest.raises(WriteError) as info:
        rewrite(golden)
    failed = "t.output.torch-cpu.npz" if where == "array" else "t.json"
    assert str(info.value) == f"{tmp_path / failed}: cannot write it ({cause}); every old file is unchanged"
    assert isinstance(info.value, OSError) and isinstance(info.value, GoldenError)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary left either


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_real_file_size_limit_names_the_file_and_keeps_the_old_golden(tmp_path):
    golden, before = golden_with_entry(tmp_path)
    script = """
import resource, sys
import numpy as np
from pathlib import Path
from pytest_repro.store import GoldenFile, GoldenError
from pytest_repro.summary import summarize
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
values = np.random.default_rng(0).random(100_000)
golden = GoldenFile.load(Path(sys.argv[1]), "t.py::test")
try:
    golden.set_entry("output", "torch-cpu", {"summary": summarize(values, "float64"), "kept": "full"}, values, None)
except GoldenError as exc:
    print(exc)
"""
    out = subprocess.run([sys.executable, "-c", script, str(golden.path)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == (f"{tmp_path / 't.output.torch-cpu.npz'}: cannot write it (File too large: over "
                                  "the file-size limit (ulimit -f)); every old file is unchanged"), out.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_real_read_only_folder_names_the_file_and_keeps_the_old_golden(tmp_path):
    golden, before = golden_with_entry(tmp_path)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(WriteError, match=r"t\.output\.torch-cpu\.npz: cannot write it \(Permission denied"):
            rewrite(golden)
        with pytest.raises(WriteError, match=r"t\.json: cannot write it \(Permission denied.*lock file"), \
                locked(golden.path):
            pass
    finally:
        tmp_path.chmod(0o755)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_lock_that_cant_be_created_is_a_write_error(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, flags, mode=0o777):
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(WriteError, match=r"t\.json: cannot write it \(Read-only file system.*t\.json\.lock can't"):
        with locked(tmp_path / "t.json"):
            pass


def test_a_rename_failing_after_the_first_says_what_was_replaced(tmp_path, monkeypatch):
    golden, _ = golden_with_entry(tmp_path)
    real = os.replace

    def fail_for_the_json(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "replace", fail_for_the_json)
    with pytest.raises(WriteError, match=r"t\.json: cannot write it \(Input/output error\); "
                                         r"t\.output\.torch-cpu\.npz already replaced: run again"):
        rewrite(golden)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["t.json", "t.output.torch-cpu.npz"]
    assert json.loads((tmp_path / "t.json").read_text())["checks"]["output"]["torch-cpu"]["summary"]["max"] == 9
