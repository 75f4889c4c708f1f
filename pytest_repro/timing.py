"""``--repro-timing``: what determinism costs one test, measured by calling it again in this process.

After the test's own run (which warms caches and lazy imports, so it is reported but not compared),
the test is called with deterministic algorithms on and with PyTorch's defaults, interleaved
(on, off, on, off) so that a machine busy with something else slows both alike; each side keeps its
fastest call. Where the backend has a device (CUDA, NPU), a CPU generator and a device generator are
timed the same way. These calls check nothing against the golden: their outputs are measured against
run 1's (``linf_vs_first_run``), which shows whether switching determinism off moved the output.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

REPEATS = 2  # pairs of calls per comparison: each test runs 2 * REPEATS more times (4 more with a device)


def measure(run: Any, call: Callable[[], None], prepare: Callable[[int, str], None], first_s: float,
            first: int) -> dict[str, Any]:
    backend = run.backend
    out: dict[str, Any] = {"first_run_s": first_s, "repeats": REPEATS}
    if backend.framework != "torch":
        out["skipped"] = (f"{backend.key}: determinism can't be switched off and on within one process "
                          "(MindSpore's set_deterministic is once per process)")
        return out
    counter = itertools.count(first)  # run numbers after the audit's

    def timed(label: str, block: Callable[[], contextlib.AbstractContextManager[None]]) -> float:
        prepare(next(counter), label)
        with block():
            start = time.perf_counter()
            call()
            return time.perf_counter() - start

    det = {"deterministic": lambda: torch_determinism(backend, True),
           "default": lambda: torch_determinism(backend, False)}
    times = _interleaved(det, timed)
    out.update(deterministic_s=times["deterministic"], default_s=times["default"],
               deterministic_ratio=_ratio(times["deterministic"], times["default"]))
    if backend.device == "cpu":
        out["generators"] = {"skipped": f"no CUDA or NPU device on backend {backend.key}"}
        return out
    gens: dict[str, Callable[[], Any]] = {"cpu_generator": contextlib.nullcontext,
                                          "device_generator": lambda: _device_generators(backend)}
    try:
        times = _interleaved(gens, timed)
    except Exception as exc:  # a test that can't take a device generator (torch.randn on the CPU with it)
        out["generators"] = {"skipped": f"the test failed with a {backend.device} generator: {exc}"[:300]}
        return out
    out["generators"] = {"cpu_s": times["cpu_generator"], "device_s": times["device_generator"],
                         "device_ratio": _ratio(times["device_generator"], times["cpu_generator"])}
    return out


def _interleaved(variants: dict[str, Callable[[], Any]], timed: Callable[..., float]) -> dict[str, float]:
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(REPEATS):
        for name, block in variants.items():
            seconds[name].append(timed(name, block))
    return {name: min(values) for name, values in seconds.items()}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


@contextlib.contextmanager
def torch_determinism(backend: Any, on: bool) -> Iterator[None]:
    """Full determinism (the backend's own switch), or PyTorch's defaults; the state before comes back after."""
    import torch

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             cudnn.benchmark, cudnn.deterministic, matmul.allow_tf32, cudnn.allow_tf32)
    try:
        if on:
            with backend.deterministic(True):
                if saved[1]:  # the audit's warn-only mode stays on: a timing call must not raise where run 1 warned
                    torch.use_deterministic_algorithms(True, warn_only=True)
                yield
        else:
            torch.use_deterministic_algorithms(False)
            cudnn.benchmark, cudnn.deterministic = False, False
            matmul.allow_tf32, cudnn.allow_tf32 = False, True  # PyTorch's defaults
            yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        cudnn.benchmark, cudnn.deterministic = saved[2], saved[3]
        matmul.allow_tf32, cudnn.allow_tf32 = saved[4], saved[5]


@contextlib.contextmanager
def _device_generators(backend: Any) -> Iterator[None]:
    """``repro_generator`` hands out generators on the backend's device instead of the CPU for the block."""
    import torch

    backend.generator = lambda seed: torch.Generator(device=backend.device).manual_seed(seed)
    try:
        yield
    finally:
        del backend.generator  # the class's method again
