"""--repro-timing: each test timed with deterministic algorithms on and off; seconds and ratios in the JSON."""

from __future__ import annotations

import json

import pytest

# Writes, for every call, whether deterministic algorithms were on: the timing runs must really switch.
RECORDING_TEST = """
import pathlib
import torch

def test_x(repro_generator, repro_golden):
    with open(pathlib.Path(__file__).with_name("modes.txt"), "a") as f:
        f.write("D" if torch.are_deterministic_algorithms_enabled() else "d")
    g = repro_generator()
    repro_golden.check(torch.randn(8, 8, generator=g, device=g.device))  # on the generator's device
"""


def timing_of(path) -> dict:
    (record,) = json.loads(path.read_text(encoding="utf-8"))["results"]
    return record["timing"]


@pytest.mark.parametrize("via", ["cli", "ini"])
def test_timing_switches_determinism_and_reports_seconds_and_ratios(inner, via):
    inner.write(RECORDING_TEST)
    inner.regen()
    (inner.path / "modes.txt").unlink()
    result = inner.run("--repro-report=r.json", *inner.setting(via, "timing"))
    result.assert_outcomes(passed=1)
    # The test's own run, then interleaved pairs: on, off, on, off.
    assert (inner.path / "modes.txt").read_text() == "D" + "Dd" * 2
    timing = timing_of(inner.path / "r.json")
    assert timing["repeats"] == 2
    assert timing["deterministic_s"] > 0 and timing["default_s"] > 0 and timing["first_run_s"] > 0
    assert timing["deterministic_ratio"] == pytest.approx(timing["deterministic_s"] / timing["default_s"])
    assert timing["linf_vs_first_run"] == {"deterministic": 0.0, "default": 0.0}
    assert "no CUDA or NPU device" in timing["generators"]["skipped"]  # a CPU backend: nothing to compare
    result.stdout.fnmatch_lines([
        "*repro cost of determinism*",
        "test*backend*deterministic*default*ratio*cpu gen*device gen*ratio",
        f"test_inner.py::test_x*torch-cpu*s*s*x{timing['deterministic_ratio']:.2f}*-*-*-",
        "skipped: no CUDA or NPU device on backend torch-cpu",
    ])


def test_without_the_flag_nothing_is_timed(inner):
    inner.write(RECORDING_TEST)
    inner.regen()
    (inner.path / "modes.txt").unlink()
    result = inner.run("--repro-report=r.json")
    assert (inner.path / "modes.txt").read_text() == "D"
    assert timing_of(inner.path / "r.json") is None
    assert "cost of determinism" not in result.stdout.str()


def test_timing_with_the_audit_and_determinism_off(inner):
    inner.write(RECORDING_TEST)
    inner.regen()
    (inner.path / "modes.txt").unlink()
    inner.run("--repro-timing", "--repro-runs=2", "--repro-no-deterministic", "--repro-report=r.json") \
        .assert_outcomes(passed=1)
    # Two audit runs as configured (off), then on/off pairs; state restored for the next test.
    assert (inner.path / "modes.txt").read_text() == "dd" + "Dd" * 2
    timing = timing_of(inner.path / "r.json")
    assert timing["deterministic_ratio"] > 0


def test_a_failing_test_is_not_timed_and_reports_its_failure(inner):
    inner.write(RECORDING_TEST)
    inner.regen()
    result = inner.run("--repro-timing", "--repro-seed=1")  # another seed: a real drift
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*L_inf*"])
    assert "cost of determinism" not in result.stdout.str()


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs a CUDA device")
def test_cpu_and_device_generators_are_timed_on_cuda(inner):
    inner.write(RECORDING_TEST)
    inner.regen("--repro-backend=cuda")
    inner.run("--repro-timing", "--repro-backend=cuda", "--repro-report=r.json").assert_outcomes(passed=1)
    gens = timing_of(inner.path / "r.json")["generators"]
    assert gens["cpu_s"] > 0 and gens["device_s"] > 0
    assert gens["device_ratio"] == pytest.approx(gens["device_s"] / gens["cpu_s"])


class _FakeCuda:
    """Just enough of a run on a CUDA backend for :func:`measure` (no CUDA here)."""

    def __init__(self):
        from pytest_repro.backends._torch import TorchBackend

        class Cuda(TorchBackend):
            device_kind = "cuda"

        self.backend = Cuda()


def test_device_generators_skip_cleanly_where_the_test_cant_use_one():
    torch = pytest.importorskip("torch")
    from pytest_repro.timing import measure

    run = _FakeCuda()
    drawn = []

    def call():
        drawn.append(torch.randn(3, generator=run.backend.generator(0)))  # a CUDA generator fails here

    timing = measure(run, call, lambda k, label: None, 0.1, first=2)
    assert timing["deterministic_s"] > 0 and timing["default_s"] > 0
    assert timing["generators"]["skipped"].startswith("the test failed with a cuda generator")
    assert "generator" not in vars(run.backend)  # the backend's own generator method is back


def test_device_generators_are_timed_side_by_side(monkeypatch):
    torch = pytest.importorskip("torch")
    import contextlib

    from pytest_repro import timing as timing_module

    used = []
    monkeypatch.setattr(timing_module, "_device_generators",
                        lambda backend: contextlib.nullcontext(used.append("device")))
    run = _FakeCuda()
    labels = []
    timing = timing_module.measure(run, lambda: torch.randn(3), lambda k, label: labels.append(label), 0.1, first=2)
    gens = timing["generators"]
    assert gens["device_ratio"] == pytest.approx(gens["device_s"] / gens["cpu_s"])
    assert labels == ["deterministic", "default"] * 2 + ["cpu_generator", "device_generator"] * 2  # interleaved
    assert used == ["device", "device"]


def test_the_plain_api_times_a_block(tmp_path):
    torch = pytest.importorskip("torch")
    from pytest_repro import Repro

    modes = []
    with Repro("nb.ipynb::cell", golden_dir=tmp_path, regen=True) as repro:
        def run():
            modes.append(torch.are_deterministic_algorithms_enabled())
            repro.check(torch.randn(4, generator=repro.generator()))

        repro.audit(run, runs=1, timing=True)
    assert modes == [True, True, False, True, False]
    (result,) = repro.results
    assert result.runs is None and result.timing["deterministic_ratio"] > 0
    assert torch.are_deterministic_algorithms_enabled() is False  # the block's state is gone after `with`
