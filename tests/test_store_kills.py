"""SIGKILL a regenerating pytest at random points, serially and under xdist; the next regen repairs it all.

The inner project runs on a NumPy backend registered through the entry-point group, so that a run
starts in about a second (no torch import) and most of its time is spent writing goldens: 4 tests of
6 checks each, half kept whole and half as samples, every round drawing new outputs so that every
entry is rewritten. After each kill every file must still be whole; after all of them one uninterrupted
``--repro-regen`` must finish in normal time (a stale lock used to cost 60 s and fail) and leave no
temporary or lock file, and a plain run must then pass every check.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_repro.store import GoldenError, GoldenFile, load_arrays

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and process groups are POSIX")

SEED = 20240611  # fixed: the same kill points every run
BACKEND = """
import numpy as np
from pytest_repro.backends.base import Backend

class NumpyCPU(Backend):
    framework = "numpy"
    device_kind = "cpu"

    def unavailable_reason(self):
        return None

    def seed_all(self, seed):
        np.random.seed(seed)

    def generator(self, seed):
        return np.random.default_rng(seed)
"""
TESTS = """
import os
import numpy as np
import pytest

ROUND = int(os.environ["REPRO_ROUND"])

@pytest.mark.repro(framework="numpy")
@pytest.mark.parametrize("n", range(4))
def test_x(n, repro_golden):
    rng = np.random.default_rng(ROUND * 100 + n)
    for c in range(6):
        side = 64 if c < 3 else 16  # 48 KiB kept as a 4096-value sample, 3 KiB kept whole
        repro_golden.check(rng.random((side, side, 3), dtype=np.float32), name=f"c{c}")
"""
ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q", "--repro-array-limit=16384")


def project(root: Path) -> Path:
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "numpy_backend.py").write_text(BACKEND)
    info = root / "numpy_backend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: numpy-backend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pytest_repro.backends]\nnumpy-cpu = numpy_backend:NumpyCPU\n")
    (root / "test_inner.py").write_text(TESTS)
    return root


def start(root: Path, round_: int, *args: str) -> subprocess.Popen:
    env = {**os.environ, "REPRO_ROUND": str(round_), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen([sys.executable, "-m", "pytest", *ARGS, *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # a run stuck on a lock: stop it and its workers, then fail
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode, out.decode(errors="replace")


def leftovers(golden: Path) -> list[str]:
    return sorted(p.name for p in golden.rglob("*") if p.name.endswith((".tmp", ".lock")))


def writing(golden: Path) -> bool:
    try:
        with os.scandir(golden) as entries:
            return any(e.name.endswith((".tmp", ".lock")) for e in entries)
    except FileNotFoundError:
        return False


def whole(golden: Path) -> int:
    """Every golden and array file reads; returns how many entries don't match their array (a kill
    between the two renames), which the next regen must repair."""
    mismatched = 0
    for path in golden.glob("*.json"):
        data = GoldenFile.load(path, "")  # a half-written JSON raises here
        for check in data.data["checks"]:
            try:
                data.load_array(check, "numpy-cpu")
            except GoldenError:
                mismatched += 1
    for path in golden.glob("*.npz"):
        load_arrays(path)  # a half-written array raises here
    return mismatched


def others(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "golden" not in p.parts}


def watch(proc: subprocess.Popen, golden: Path, timeout: float = 60) -> float:
    """Seconds until ``proc`` starts writing goldens (a temporary or a lock appears), or ends."""
    began = time.monotonic()
    while proc.poll() is None and not writing(golden) and time.monotonic() - began < timeout:
        time.sleep(0.002)
    return time.monotonic() - began


@pytest.mark.parametrize(("workers", "kills"), [((), 10), (("-n", "2"), 6)], ids=["serial", "xdist"])
def test_kills_during_regen_leave_whole_files_and_the_next_regen_repairs_them(tmp_path, workers, kills):
    rng = random.Random(f"{SEED}-{len(workers)}")
    root = project(tmp_path)
    golden = root / "golden" / "test_inner"
    began = time.monotonic()
    proc = start(root, 0, "--repro-regen", *workers)
    to_first_write = watch(proc, golden)
    rc, out = finish(proc)
    baseline = time.monotonic() - began
    window = baseline - to_first_write  # how long an uninterrupted run spends writing
    assert rc == 0, out
    before = others(root)
    stats = {"kills": 0, "finished first": 0, "leftovers": 0, "mismatched": 0}
    round_ = 0
    # Rounds until `kills` runs were killed: on a loaded machine a random delay often outlasts the run.
    while stats["kills"] < kills and round_ < 4 * kills:
        round_ += 1
        proc = start(root, round_, "--repro-regen", *workers)
        # after a run that finished first, kill the next on first sight of a write
        where = rng.random() if not stats["finished first"] or rng.random() < 0.5 else 0.3
        if where < 0.2:  # anywhere in the run, start-up included
            time.sleep(rng.uniform(0, baseline))
        else:  # on sight of the first temporary or lock, or anywhere in the writing after it
            watch(proc, golden)
            time.sleep(rng.uniform(0, 0.01) if where < 0.5 else rng.uniform(0, window))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            stats["kills"] += 1
        else:
            stats["finished first"] += 1
        finish(proc)
        stats["mismatched"] += whole(golden)
        stats["leftovers"] += len(leftovers(golden))
    began = time.monotonic()
    rc, out = finish(start(root, round_ + 1, "--repro-regen", *workers))
    repair = time.monotonic() - began
    print(f"{'xdist' if workers else 'serial'}: {stats}, baseline {baseline:.1f}s (writing {window:.1f}s), "
          f"repair {repair:.1f}s")
    assert rc == 0, out
    assert stats["kills"] >= kills // 2, stats
    assert repair < max(20.0, 4 * baseline), (repair, baseline)  # a stale lock waited 60 s, then failed
    assert leftovers(golden) == [] and whole(golden) == 0
    assert others(root) == before  # nothing written outside the golden folder
    rc, out = finish(start(root, round_ + 1))
    assert rc == 0 and "24 pass" in out, out
