"""How long ``repro_golden.check`` takes on outputs of realistic sizes (summary, hash, compare).

Run: python benchmarks/check_overhead.py. Prints one line per size; nothing is asserted: speed goals
live here, not in timed tests. Goal: under 5% of a 2-step tiny pipeline run (~70 ms) for a 512x512
image, i.e. a few milliseconds.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from pytest_repro.summary import summarize
from pytest_repro.tolerance import Tolerance
from pytest_repro.verdict import Side, judge


def timed(fn, *args, repeat=5, **kwargs):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def check_like(output, golden):
    """What check() does with an output once the golden is loaded: summarize it, then judge it."""
    return judge(Side(summarize(output, "float32"), output.reshape(-1)), golden, Tolerance(), False)


def main() -> None:
    rng = np.random.default_rng(0)
    for shape in [(1, 32, 32, 3), (1, 512, 512, 3), (4, 1024, 1024, 3)]:
        image = rng.random(shape, dtype=np.float32)
        drifted = image + np.float32(1e-4)
        summary = summarize(image, "float32")
        t_sum = timed(summarize, drifted, "float32")
        t_cmp = timed(check_like, drifted, Side(summary, image.reshape(-1)))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "a.npz")
            t_save = timed(np.savez_compressed, path, values=image, repeat=2)
        mb = image.nbytes / 2**20
        print(f"{str(shape):<20} {mb:7.1f} MiB  summarize {t_sum*1e3:7.1f} ms  summarize+judge {t_cmp*1e3:7.1f} ms  "
              f"npz write {t_save*1e3:7.1f} ms")


if __name__ == "__main__":
    main()
