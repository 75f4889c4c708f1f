"""What a golden check costs, side by side with the numpy floor and pytest-regressions.

Run:  python benchmarks/bench.py            (the table, ~1-2 min on 2 cores)
      python benchmarks/bench.py --smoke    (tiny sizes, a few seconds: what CI runs)
      python benchmarks/bench.py --big      (adds 16x1024x1024x3, 200 MB, and its peak memory)
      python benchmarks/bench.py --steady-memory   (no page faults on either side: the arithmetic alone)

The last row, where diffusers is installed, is what ``repro_pipelines`` saves (benchmarks/pipeline_cache.py).

Every row times the candidates interleaved (A B C A B C ...), so a noisy machine slows them alike, and
prints medians, the range and the ratio to the numpy floor: `np.load` of the golden plus L_inf, what
any check must at least do. Where pytest-regressions is installed, its `ndarrays_regression` is a third
column (checks and the session). Nothing is asserted: speed goals live here, not in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pipeline_cache import bench_pipelines

HERE = Path(__file__).resolve().parent


def interleaved(candidates: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeat):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def row(label: str, times: dict[str, list[float]], floor: str) -> str:
    base = statistics.median(times[floor])
    cells = []
    for name, values in times.items():
        med = statistics.median(values)
        cells.append(f"{name} {med * 1e3:8.2f} ms [{min(values) * 1e3:.2f}-{max(values) * 1e3:.2f}] "
                     f"x{med / base:5.1f}")
    return f"{label:<26} " + " | ".join(cells)


def checker_for(folder: Path, regen: bool):
    """A ``repro_golden`` as the fixture builds it, outside pytest (torch-cpu backend, default settings)."""
    from pytest_repro.backends import load
    from pytest_repro.check import GoldenChecker
    from pytest_repro.identity import TestLocation
    from pytest_repro.settings import Settings

    settings = Settings(golden_dir=str(folder), regen=regen)
    backend = load("torch-cpu")
    location = TestLocation.of("bench.py::test_x", None, folder)
    return lambda: GoldenChecker(location=location, backend=backend, settings=settings, marker_tolerance={},
                                 seeds=[0], record=lambda result: None)


def regressions_for(folder: Path) -> Callable[[np.ndarray], object] | None:
    """pytest-regressions' ``ndarrays_regression.check`` outside pytest, or None where it isn't installed."""
    try:
        from pytest_regressions.ndarrays_regression import NDArraysRegressionFixture
    except ImportError:
        return None
    from types import SimpleNamespace

    import pytest

    request = SimpleNamespace(config=SimpleNamespace(getoption=lambda *a, **k: False),
                              node=SimpleNamespace(name="test_x", cls=None))
    fixture = NDArraysRegressionFixture(folder, folder, request)  # type: ignore[arg-type]

    def check(array: np.ndarray) -> None:
        try:
            fixture.check({"output": array}, fullpath=folder / "regressions.npz",
                          default_tolerance={"atol": 1e-2, "rtol": 0.0})
        except pytest.fail.Exception:  # the first call records the file and fails, as in a test
            pass

    return check


def bench_checks(shapes: list[tuple[int, ...]], repeat: int) -> list[str]:
    lines = []
    rng = np.random.default_rng(0)
    for shape in shapes:
        image = rng.random(shape, dtype=np.float32)
        drifted = image + np.float32(1e-4)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            checker_for(folder, regen=True)().check(image, bitwise=False)
            floor_file = folder / "floor.npy"
            np.save(floor_file, image)
            check = checker_for(folder, regen=False)

            candidates = {"numpy": lambda f=floor_file, d=drifted: float(np.abs(np.load(f) - d).max()),
                          "repro": lambda c=check, d=drifted: c().check(d, bitwise=False)}
            regressions = regressions_for(folder)
            if regressions is not None:
                regressions(image)
                candidates["regressions"] = lambda r=regressions, d=drifted: r(d)
            times = interleaved(candidates, repeat)
        lines.append(row(f"check {'x'.join(map(str, shape))} ({image.nbytes / 2**20:.1f} MB)", times, "numpy"))
    return lines


def bench_regen(shape: tuple[int, ...], repeat: int) -> str:
    image = np.random.default_rng(1).random(shape, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        count = iter(range(10**6))

        def repro_write() -> None:  # a new golden file each time: the regen path, not "unchanged"
            checker = checker_for(folder / str(next(count)), regen=True)()
            checker.check(image)

        # np.save both ways: over one file (the floor, as before) and to a new file each time, as repro writes
        # (ext4 starts writing back a file truncated and rewritten when it is closed: a new file is the fair one)
        times = interleaved({"np.save": lambda: np.save(folder / "x.npy", image),
                             "np.save new": lambda: np.save(folder / f"x{next(count)}.npy", image),
                             "repro": repro_write}, repeat)
    return row(f"regen write {'x'.join(map(str, shape))}", times, "np.save")


# Both sessions import torch: a pipeline test has it imported anyway, and repro's torch-cpu backend does.
SESSION_TEST = """
import numpy as np
import pytest
import torch

@pytest.mark.parametrize("i", range({n}))
def test_x(i, {fixture}):
    out = np.random.default_rng(i).random((1, 256, 256, 3), dtype=np.float32)
    {body}
"""
REGRESSIONS = "ndarrays_regression.check({'output': out}, default_tolerance={'atol': 1e-2, 'rtol': 0.0})"
BARE = "ref = np.random.default_rng(i).random((1, 256, 256, 3), dtype=np.float32)\n    " \
       "assert np.abs(out - ref).max() <= 1e-2"


def pytest_ok(command: list[str], cwd: Path) -> None:
    """Run an inner pytest session; when it fails, say what it printed (a bare exit status tells nothing)."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} (in {cwd}) exited {done.returncode}:\n{done.stdout}{done.stderr}")


def bench_session(n: int, rounds: int) -> str:
    """n tests each checking a 1x256x256x3 array: with repro_golden vs a bare numpy compare."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "repro").mkdir()
        (root / "bare").mkdir()
        (root / "repro/test_s.py").write_text(SESSION_TEST.format(n=n, fixture="repro_golden",
                                                                  body="repro_golden.check(out)"))
        (root / "bare/test_s.py").write_text(SESSION_TEST.format(n=n, fixture="request", body=BARE))
        run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
        # --repro-allow-ci-regen: these goldens are the benchmark's own, in a temporary folder, also where $CI is set
        pytest_ok([*run, "--repro-regen", "--repro-allow-ci-regen"], root / "repro")

        def session(folder: str, *extra: str) -> Callable[[], object]:
            return lambda: pytest_ok([*run, *extra], root / folder)

        candidates = {"bare": session("bare", "-p", "no:repro"), "repro": session("repro")}
        if regressions_for(root) is not None:
            (root / "regressions").mkdir()
            (root / "regressions/test_s.py").write_text(SESSION_TEST.format(n=n, fixture="ndarrays_regression",
                                                                            body=REGRESSIONS))
            subprocess.run([*run, "-p", "no:repro", "--force-regen"], cwd=root / "regressions", capture_output=True)
            candidates["regressions"] = session("regressions", "-p", "no:repro")
        times = interleaved(candidates, rounds)
    return row(f"session of {n} tests", times, "bare")


def bench_collect(n: int, rounds: int) -> str:
    """CPU time of `pytest --collect-only` over n tests: plugin loaded vs -p no:repro.

    Both sides import from cached bytecode, as after a pip install (which compiles every module). Where
    PYTHONDONTWRITEBYTECODE is set (this machine sets it), an editable checkout's modules would be
    compiled from source on every run, while pytest's come from their install-time .pyc: half the
    plugin's import time, measured. A first, untimed run of each side writes the cache."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_c.py").write_text(f"import pytest\n\n@pytest.mark.parametrize('i', range({n}))\n"
                                          "def test_c(i):\n    pass\n")

        def cpu(*extra: str) -> Callable[[], object]:
            def go() -> None:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                *extra], cwd=tmp, capture_output=True, check=True, env=env)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                go.cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)  # type: ignore

            go.cpu = []  # type: ignore[attr-defined]
            return go

        none, plugin = cpu("-p", "no:repro"), cpu()
        interleaved({"none": none, "plugin": plugin}, 1)  # writes the bytecode caches
        none.cpu.clear()  # type: ignore[attr-defined]
        plugin.cpu.clear()  # type: ignore[attr-defined]
        interleaved({"none": none, "plugin": plugin}, rounds)
    cpu_times = {"none": none.cpu, "plugin": plugin.cpu}  # type: ignore[attr-defined]
    return row(f"collect-only {n} (CPU s)", cpu_times, "none")


PEAK_SETUP = """
import sys, numpy as np
from pathlib import Path
sys.path.insert(0, {here!r})
from bench import checker_for
folder = Path({folder!r})
image = np.random.default_rng(0).random({shape}, dtype=np.float32)
checker_for(folder, regen=True)().check(image, bitwise=False)
np.save(folder / "floor.npy", image)
np.save(folder / "drifted.npy", image + np.float32(1e-4))
"""
PEAK = """
import resource, sys, numpy as np
from pathlib import Path
sys.path.insert(0, {here!r})
from bench import checker_for
folder = Path({folder!r})
drifted = np.load(folder / "drifted.npy")  # the output, as a test holds it
checker = checker_for(folder, regen=False)
try:  # a pipeline test has torch imported already (the torch-cpu fingerprint reads its flags): not the check's
    import torch  # noqa: F401
except ImportError:
    pass
import pytest_repro.check, pytest_repro.report.failure  # noqa: E401,F401  (imports, not the check's memory)


def status(field):  # KiB, from Linux's /proc
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


try:  # reset the high-water mark to the current RSS: what importing torch peaked at would hide the check
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    peak = lambda: status("VmHWM")  # noqa: E731
    before = status("VmRSS")
except OSError:  # not Linux, or not allowed: the process's own high-water mark, which its start may set
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
    before = peak()
if {numpy}:
    float(np.abs(np.load(folder / "floor.npy") - drifted).max())
else:
    checker().check(drifted, bitwise=False)
print(before, peak())
"""


def bench_peak(shape: tuple[int, ...]) -> str:
    """Peak RSS growth of one check once the output exists, vs the numpy floor (each in a fresh process:
    the golden is written by a third one, so its own peak doesn't hide the check's)."""
    grown = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", PEAK_SETUP.format(here=str(HERE), folder=tmp, shape=shape)],
                       check=True, capture_output=True)
        for name, numpy in (("numpy", True), ("repro", False)):
            code = PEAK.format(here=str(HERE), folder=tmp, numpy=numpy)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            before, after = map(int, out.split())
            grown[name] = (after - before) / 1024
    size = int(np.prod(shape)) * 4 / 2**20
    return (f"peak RSS {'x'.join(map(str, shape))}: numpy +{grown['numpy']:.0f} MiB, repro +{grown['repro']:.0f} MiB "
            f"(one array is {size:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round: a CI smoke test")
    parser.add_argument("--big", action="store_true", help="add the 200 MB check and its peak memory")
    parser.add_argument("--json", type=Path, help="also write the lines as JSON here")
    parser.add_argument("--steady-memory", action="store_true",
                        help="pin glibc's allocator (no fresh pages to fault in): arithmetic only, both sides")
    args = parser.parse_args()
    if args.steady_memory and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        # Whether a 3 MB array lands in fresh, unfaulted pages depends on what was freed before (glibc moves
        # its mmap threshold as it goes): the numpy floor of a 3 MB check reads 0.7-3 ms by that alone.
        # Every allocation from the heap and no trimming keeps pages mapped; glibc reads these at start.
        os.environ.update(MALLOC_MMAP_THRESHOLD_=str(2**30), MALLOC_TRIM_THRESHOLD_=str(2**31))
        os.execv(sys.executable, [sys.executable, *sys.argv])
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    if args.smoke:
        lines = bench_checks([(1, 8, 8, 3)], 3) + [bench_regen((1, 8, 8, 3), 2), bench_session(5, 1),
                                                   bench_collect(20, 1), bench_pipelines(2, 1, interleaved, row)]
    else:
        limit = 4 * 2**20 // 4 - 3  # just under the keep-whole limit (4 MiB)
        shapes = [(1, 64, 64, 3), (1, 512, 512, 3), (1, limit // 3, 1, 3), (4, 1024, 1024, 3)]
        if args.big:
            shapes.append((16, 1024, 1024, 3))
        lines = bench_checks(shapes, 15) + [bench_regen((1, 512, 512, 3), 9), bench_session(200, 5),
                                            bench_collect(1000, 21), bench_peak((1, 512, 512, 3)),
                                            bench_peak((4, 1024, 1024, 3))]
        if args.big:
            lines.append(bench_peak((16, 1024, 1024, 3)))
        lines.append(bench_pipelines(10, 5, interleaved, row))
    print(textwrap.dedent(f"""\
        pytest-repro benchmarks (medians of interleaved runs, [min-max], xN = ratio to the first column)
        python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs"""))
    lines = [line for line in lines if line is not None]  # None: a row whose packages aren't installed
    for line in lines:
        print(line)
    if args.json:
        args.json.write_text(json.dumps(lines, indent=2))


if __name__ == "__main__":
    main()
