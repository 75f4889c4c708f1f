"""A check's summary of its output comes from the comparison's own pass (issue 10): the numbers
``summarize`` gives, in its order, whichever way the check ends."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_repro import summary as summary_module
from pytest_repro.summary import summarize, with_stats
from pytest_repro.tolerance import Tolerance
from pytest_repro.verdict import Side, judge


@pytest.fixture(params=[7, 1 << 16], ids=["tiny chunks", "default chunks"])
def chunk(request, monkeypatch):
    monkeypatch.setattr(summary_module, "CHUNK", request.param)
    return request.param


def judged_summary(a: np.ndarray, e: np.ndarray) -> dict:
    """The summary a check ends with: summarize without sums, then the comparison's pass."""
    v = judge(Side(summarize(a, str(a.dtype), False, stats=False), a.reshape(-1)),
              Side(summarize(e, str(e.dtype)), e.reshape(-1)), Tolerance(), False)
    assert v.summary is not None
    return v.summary


def assert_same_summary(got: dict, want: dict) -> None:
    want = {k: v for k, v in want.items() if k != "hash"}
    assert set(got) == set(want)
    for key, value in want.items():
        if key == "std":  # the pass's own centred sums: within float rounding of _stats' (7 digits are kept)
            assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-300), key
        else:
            assert got[key] == value, key  # abs-sum, mean, min, max and corners: to the last bit


rng = np.random.default_rng(3)
OUTPUTS = {
    "image in [0, 1]": rng.random((2, 16, 16, 3), dtype=np.float32),
    "latents, both signs": rng.standard_normal((1, 4, 8, 8)).astype(np.float32),
    "all negative": -rng.random(300),
    "far from their mean": 1e6 + rng.random(500),  # a.a - n mean^2 would cancel: the exact pass takes over
    "constant": np.full(200, 0.25, np.float32),
    "all zero": np.zeros(64, np.float32),
    "zeros of both signs": np.array([0.0, -0.0, -0.0], np.float32),
    "float16": rng.random(300).astype(np.float16),
    "int32": rng.integers(-50, 50, 120).astype(np.int32),
    "uint8": rng.integers(0, 255, 99).astype(np.uint8),
    "bool": rng.random(77) > 0.5,
    "near float64's limit": np.array([1e300, -3e300, 2e300]),  # the scaled pass: summarize's own sums
}


@pytest.mark.parametrize("name", OUTPUTS)
@pytest.mark.parametrize("against", ["itself", "a drifted golden"])
def test_the_comparison_pass_gives_summarizes_numbers(chunk, name, against):
    a = OUTPUTS[name]
    e = a if against == "itself" else (a + (a.dtype.type(1) if a.dtype.kind != "b" else False))
    assert_same_summary(judged_summary(a, e), summarize(a, str(a.dtype)))


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(max_dims=3, max_side=40),
                  elements=st.floats(-1e6, 1e6, width=32)),
       st.floats(-1e3, 1e3, width=32))
def test_any_finite_output_gets_summarizes_numbers(a, shift):
    e = (a + np.float32(shift)).astype(np.float32)
    if not np.isfinite(e).all():
        return
    assert_same_summary(judged_summary(a, e), summarize(a, "float32"))


def test_with_stats_completes_a_summary_once_and_keeps_a_complete_one():
    a = OUTPUTS["latents, both signs"]
    partial = summarize(a, "float32", False, stats=False)
    assert "abs_sum" not in partial and partial["min"] == summarize(a, "float32")["min"]
    assert_same_summary(with_stats(partial, a), summarize(a, "float32"))
    full = summarize(a, "float32")
    assert with_stats(full, a) is full
    nan = np.array([1.0, np.nan])
    assert with_stats(summarize(nan, "float64", stats=False), nan) == summarize(nan, "float64")


SUMMARY = {"shape", "dtype", "size", "finite", "abs_sum", "mean", "std", "min", "max", "head", "tail"}


@pytest.mark.parametrize("ending", ["pass", "fail", "missing golden", "shape changed"])
def test_every_check_result_carries_the_whole_summary(inner, ending):
    inner.write("""
import os
import numpy as np

def test_x(repro_golden):
    out = np.linspace(-1, 1, 60, dtype=np.float32).reshape(3, 20)
    out[0, 0] += float(os.environ.get("REPRO_DELTA", "0"))
    if os.environ.get("REPRO_SHAPE"):
        out = out.reshape(20, 3)
    repro_golden.check(out)
""")
    if ending != "missing golden":
        inner.regen()
    if ending == "shape changed":
        inner.monkeypatch.setenv("REPRO_SHAPE", "1")
    inner.run("--repro-report=r.json", delta=0.5 if ending == "fail" else None)
    result = json.loads((inner.path / "r.json").read_text())["results"][0]
    out = np.linspace(-1, 1, 60, dtype=np.float32).reshape(3, 20)
    out[0, 0] += 0.5 if ending == "fail" else 0.0
    assert set(result["summary"]) == SUMMARY
    want = summarize(out, "float32")
    assert result["summary"]["abs_sum"] == want["abs_sum"] and result["summary"]["mean"] == want["mean"]
    assert result["summary"]["std"] == pytest.approx(want["std"], rel=1e-6)


def test_the_sums_come_from_the_comparison_pass_not_a_pass_of_their_own(chunk, monkeypatch):
    a, e = OUTPUTS["latents, both signs"], OUTPUTS["latents, both signs"] + np.float32(0.5)
    want, golden = summarize(a, "float32"), Side(summarize(e, "float32"), e.reshape(-1))

    def no_second_pass(flat):
        raise AssertionError("the output was summarized in a pass of its own")

    monkeypatch.setattr(summary_module, "_stats", no_second_pass)
    v = judge(Side(summarize(a, "float32", False, stats=False), a.reshape(-1)), golden, Tolerance(), False)
    assert v.summary is not None
    assert_same_summary(v.summary, want)


def test_a_check_against_a_sample_hashes_only_when_the_sample_is_unchanged(inner, monkeypatch):
    from pytest_repro import verdict
    from pytest_repro.summary import sample_indices

    hidden = min(set(range(5000)) - set(sample_indices(5000, 4096).tolist()))  # a position the sample lacks
    inner.write(f"""
import os
import numpy as np

def test_x(repro_golden):
    out = np.linspace(0, 1, 5000, dtype=np.float32)
    out += float(os.environ.get("REPRO_DELTA", "0"))
    if os.environ.get("REPRO_HIDDEN"):
        out[{hidden}] += 0.5
    repro_golden.check(out, bitwise=not os.environ.get("REPRO_DELTA"))  # a drift on purpose: tolerances decide
""")
    inner.regen("--repro-array-limit=256")
    assert inner.load()["checks"]["output"]["torch-cpu"]["kept"] == "sample of 4096"
    hashed = []
    real = summary_module.sha256

    def counting(array):
        hashed.append(array.size)
        return real(array)

    monkeypatch.setattr(summary_module, "sha256", counting)
    monkeypatch.setattr(verdict, "sha256", counting)
    inner.run("--repro-array-limit=256", delta=1e-4).assert_outcomes(passed=1)  # moved: not bitwise, no hash
    assert hashed == []
    inner.run("--repro-array-limit=256", "--repro-report=r.json").assert_outcomes(passed=1)
    assert hashed == [5000]  # unchanged sample: the whole output's hash tells bitwise equality
    assert json.loads((inner.path / "r.json").read_text())["results"][0]["bitwise"] is True
    monkeypatch.setenv("REPRO_HIDDEN", "1")
    result = inner.run("--repro-array-limit=256")
    result.assert_outcomes(failed=1)  # the same machine: a bitwise change the sample can't see still fails
    result.stdout.fnmatch_lines(["*bitwise change under an identical environment fingerprint*"])
    result.stdout.no_fnmatch_line("*compared values outside*")  # the sample itself is unchanged
