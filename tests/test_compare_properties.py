"""Hypothesis on the comparison (verdict.judge, verdict.metrics) over what outputs can be.

Shapes of any rank (empty too), dtypes float16/32/64, bfloat16 (through torch), integers, booleans and
complex; NaN, Inf, -0.0 and subnormals; kept arrays of the wrong size. Every outcome is a pass, a
failure with a reason, or the plugin's own error, and no warning escapes (the suite runs with
filterwarnings=error, so a ComplexWarning or an overflow RuntimeWarning fails these tests).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

from pytest_repro.convert import UnsupportedOutput, to_array
from pytest_repro.strategies import tolerances
from pytest_repro.summary import sample_indices, summarize
from pytest_repro.tolerance import Tolerance
from pytest_repro.verdict import IncomparableArrays, Side, Verdict, judge, metrics

torch = pytest.importorskip("torch")

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint64", "bool",
          "complex64", "complex128", "bfloat16"]
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@hs.composite
def outputs(draw: hs.DrawFn, dtype: str | None = None, shape: tuple | None = None):
    """A numpy array, or a bfloat16 torch tensor: values include NaN, Inf, -0.0 and subnormals."""
    dtype = dtype or draw(hs.sampled_from(DTYPES))
    shape = draw(shapes) if shape is None else shape
    if dtype == "bfloat16":
        return torch.from_numpy(draw(hnp.arrays("float32", shape))).to(torch.bfloat16)
    return draw(hnp.arrays(dtype, shape))


def side(output, kept: str, index: np.ndarray | None = None, size: int | None = None) -> Side:
    """``output`` as check() sees it: its summary and the values kept of it ("whole", "sample", "resized")."""
    array, dtype = to_array(output)
    flat = array.reshape(-1)
    if kept == "sample":
        return Side(summarize(array, dtype), flat[index], index)
    if kept == "resized":  # a kept array of another size than its summary says (a damaged golden)
        return Side(summarize(array, dtype), np.resize(flat, size or 0))
    return Side(summarize(array, dtype), flat)


def well_formed(verdict: Verdict) -> None:
    assert isinstance(verdict, Verdict)
    assert verdict.passed == (not verdict.reasons)
    assert all(isinstance(r, str) and r for r in verdict.reasons)


@settings(max_examples=300)
@given(hs.data(), tolerances(), hs.booleans())
def test_judge_on_anything_passes_fails_with_a_reason_or_refuses(data, tol, same_env):
    actual = data.draw(outputs(), label="actual")
    same_kind = data.draw(hs.booleans(), label="same dtype and shape")
    if same_kind:
        dtype = "bfloat16" if isinstance(actual, torch.Tensor) else str(actual.dtype)
        expected = data.draw(outputs(dtype, tuple(actual.shape)), label="expected")
    else:
        expected = data.draw(outputs(), label="expected")
    kept = data.draw(hs.sampled_from(["whole", "sample", "resized"]), label="kept")
    try:
        e_array = to_array(expected)[0]
        index = sample_indices(e_array.size, data.draw(hs.integers(1, 8), label="sample size"))
        verdict = judge(side(actual, "whole"), side(expected, kept, index, data.draw(hs.integers(0, 70))),
                        Tolerance().merged(**tol), same_env)
    except UnsupportedOutput as exc:
        assert "complex" in str(exc)  # the only kind drawn here that is refused
        return
    well_formed(verdict)
    if verdict.passed:
        a = to_array(actual)[0].astype(np.float64).reshape(-1)
        e = e_array.astype(np.float64).reshape(-1)
        assert a.shape == e.shape and np.isfinite(a).all() and np.isfinite(e).all()
        if verdict.coverage == "full":  # every value within its limit: NaN never slips through
            assert np.all(np.abs(a - e) <= tol.get("atol", 1e-2) + tol.get("rtol", 0.0) * np.abs(e))


@settings(max_examples=200)
@given(outputs())
def test_an_output_judged_against_itself_passes_unless_it_has_nan_or_inf(output):
    try:
        a = side(output, "whole")
    except UnsupportedOutput:
        return
    verdict = judge(a, side(output, "whole"), Tolerance(atol=0.0), same_environment=True)
    well_formed(verdict)
    assert verdict.passed == a.summary["finite"]


@settings(max_examples=200)
@given(outputs(), outputs())
def test_metrics_on_anything_are_numbers_or_the_plugins_own_error(a, e):
    a, e = (x.float().numpy() if isinstance(x, torch.Tensor) else x for x in (a, e))
    try:
        result = metrics(a, e)
    except UnsupportedOutput as exc:
        assert "complex" in str(exc)
        return
    except IncomparableArrays as exc:
        assert a.size != e.size and "values with" in str(exc)
        return
    assert set(result) == {"linf", "mean_abs", "rel_l2", "cosine"}
    assert all(v is None or isinstance(v, float) for v in result.values())


@pytest.mark.parametrize(("a", "e"), [
    (np.array([2**60 + 1], np.int64), np.array([2**60], np.int64)),
    (np.array([2**63 - 1], np.int64), np.array([-(2**63)], np.int64)),
    (np.array([2**64 - 1], np.uint64), np.array([0], np.uint64)),
])
def test_integer_differences_are_exact(a, e):
    linf = metrics(a, e)["linf"]
    assert linf == float(int(a[0]) - int(e[0])) and linf > 0
    assert not judge(Side(summarize(a, str(a.dtype)), a), Side(summarize(e, str(e.dtype)), e), Tolerance(),
                     False).passed


def test_values_near_the_float64_limit_fail_without_warnings():
    huge = np.array([1.7e308, -1.7e308])
    s = summarize(huge, "float64")
    assert s["abs_sum"] is None and s["mean"] == 0 and s["std"] == pytest.approx(1.7e308)
    verdict = judge(Side(s, huge), Side(summarize(-huge, "float64"), -huge), Tolerance(), False)
    assert not verdict.passed and verdict.metrics["linf"] == float("inf")


def test_a_kept_array_of_another_size_is_a_reason_not_an_abs_sum_comparison():
    e = np.linspace(0.1, 1, 12)
    verdict = judge(Side(summarize(e[::-1].copy(), "float64"), e[::-1].copy()), Side(summarize(e, "float64"), e[:5]),
                    Tolerance(), False)
    assert not verdict.passed
    assert verdict.reasons == ["the reference keeps 5 values where it should keep 12: it can't be compared"]
