"""verdict.py (metrics, limits, verdicts) and summary.py (the summary kept in a golden)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from pytest_repro.strategies import drifts, images, tolerances
from pytest_repro.summary import CORNER, sample_indices, sha256, summarize
from pytest_repro.tolerance import Tolerance
from pytest_repro.verdict import Side, judge, metrics


def check(actual, expected, tol=None, *, same_env=False, index=None, stored="full", dtype=None):
    """Judge ``actual`` against a golden recorded from ``expected`` the way check.py does."""
    golden = summarize(expected, str(expected.dtype))
    if stored == "full":
        kept = expected
    elif stored == "sample":
        kept = expected.reshape(-1)[index]
    else:
        kept = None
    seen = Side(summarize(actual, dtype or str(actual.dtype)), actual.reshape(-1))
    return judge(seen, Side(golden, kept, index if stored == "sample" else None), tol or Tolerance(), same_env)


# ---- properties ----


@given(images(), tolerances())
def test_identical_arrays_pass_bitwise(image, kwargs):
    v = check(image.copy(), image, Tolerance().merged(**kwargs), same_env=True)
    assert v.passed, v.reasons
    assert v.bitwise and v.metrics["linf"] == 0 and v.metrics["cosine"] == 0
    assert v.coverage == "full" and v.worst == []


@given(hs.sampled_from([0.0, 1e-3, 1e-2, 0.1]).flatmap(lambda a: hs.tuples(hs.just(a), drifts(a))))
def test_drift_within_atol_passes(case):
    atol, (image, moved) = case
    v = check(moved, image, Tolerance(atol=atol, cosine=None))
    assert v.passed, v.reasons
    assert v.metrics["linf"] <= atol
    assert v.limits[0][0] == "L_inf" and v.limits[0][3]


@given(images(dtype=np.float64), hs.floats(0, 0.1), hs.floats(0, 0.5), hs.data())
def test_drift_beyond_atol_rtol_fails(image, atol, rtol, data):
    flat = image.reshape(-1)
    i = data.draw(hs.integers(0, flat.size - 1), label="index")
    moved = image.copy()
    moved.reshape(-1)[i] += 1.5 * (atol + rtol * abs(flat[i])) + 1e-6
    v = check(moved, image, Tolerance(atol=atol, rtol=rtol, cosine=None))
    assert not v.passed
    assert f"1 of {flat.size} compared values outside atol={atol:g} rtol={rtol:g}" in v.reasons
    assert v.limits[0][0] == "L_inf" and not v.limits[0][3]


@given(images(dtype=np.float64), images(dtype=np.float64))
def test_metric_definitions(a, e):
    if a.shape != e.shape:
        a = np.resize(a, e.shape)
    m = metrics(a, e)
    d = a - e
    assert m["linf"] == pytest.approx(np.max(np.abs(d)))
    assert m["mean_abs"] == pytest.approx(np.mean(np.abs(d)))
    na, ne = np.any(a), np.any(e)  # not the norms: those underflow for values like 1e-200
    if ne:
        if np.linalg.norm(e) > 1e-150:  # the textbook formula holds where its norms don't underflow
            assert m["rel_l2"] == pytest.approx(np.linalg.norm(d) / np.linalg.norm(e))
    else:  # relative to nothing: undefined unless nothing moved
        assert m["rel_l2"] == (0.0 if not np.any(d) else None)
    if na and ne:
        # The textbook formula, on arrays scaled to max 1 so that its norms can't underflow (1e-158**2).
        sa, se = a / np.abs(a).max(), e / np.abs(e).max()
        cos = np.sum(sa * se) / (np.linalg.norm(sa) * np.linalg.norm(se))
        assert m["cosine"] == pytest.approx(max(0.0, 1.0 - cos), abs=1e-12)
    if na and ne:
        assert 0.0 <= m["cosine"] <= 2.0
    else:  # a zero vector has no direction
        assert m["cosine"] == (0.0 if not na and not ne else None)


def test_cosine_of_zero_vectors():
    zero, one = np.zeros(4), np.ones(4)
    assert metrics(zero, zero)["cosine"] == 0.0
    # Undefined against an all-zero array (a black image): None, and L_inf decides.
    assert metrics(one, zero)["cosine"] is None and metrics(zero, one)["cosine"] is None
    assert metrics(one, zero)["rel_l2"] is None and metrics(zero, zero)["rel_l2"] == 0.0
    assert metrics(-one, one)["cosine"] == pytest.approx(2.0)


# ---- failures that stop before the metrics ----


def test_nan_and_inf_fail_with_counts():
    e = np.zeros((2, 3), np.float32)
    a = e.copy()
    a[0, 0] = a[1, 1] = np.nan
    a[1, 2] = -np.inf
    v = check(a, e)
    assert not v.passed and v.reasons == ["output has 2 NaN and 1 Inf values"]


def test_shape_change_fails():
    e = np.zeros((2, 3), np.float32)
    v = check(e.reshape(3, 2), e)
    assert not v.passed and v.reasons == ["shape changed: golden (2, 3), now (3, 2)"]


def test_dtype_change_fails_and_says_how_to_accept():
    e = np.zeros((2, 3), np.float32)
    v = check(e.astype(np.float16), e)
    assert not v.passed
    assert v.reasons[0].startswith("dtype changed: golden float32, now float16") and "--repro-regen" in v.reasons[0]
    v = check(e, e, dtype="bfloat16")  # same numpy values, different output precision
    assert not v.passed and "now bfloat16" in v.reasons[0]


# ---- limits ----


def test_max_linf_ceiling():
    e = np.linspace(0, 1, 24).reshape(2, 3, 4)
    a = e + 0.05
    assert check(a, e, Tolerance(atol=1.0, cosine=None)).passed
    v = check(a, e, Tolerance(atol=1.0, cosine=None, max_linf=0.01))
    assert not v.passed
    assert v.reasons == ["L_inf 0.05 exceeds the ceiling max_linf=0.01"]
    assert ("L_inf ceiling (max_linf)", pytest.approx(0.05), 0.01, False) in v.limits


def test_cosine_limit():
    e = np.linspace(0.1, 1, 24)
    a = e[::-1].copy()  # same values, other order: within atol=1, far in direction
    assert check(a, e, Tolerance(atol=1.0, cosine=None)).passed
    v = check(a, e, Tolerance(atol=1.0, cosine=1e-3))
    assert not v.passed and v.reasons[0].startswith("cosine distance")
    assert v.limits[-1][0] == "cosine distance" and not v.limits[-1][3]


def test_bitwise_change_in_same_environment():
    e = np.linspace(0, 1, 24, dtype=np.float32)
    a = e.copy()
    a[5] = np.nextafter(a[5], np.float32(2))
    v = check(a, e, same_env=True)
    assert not v.passed and not v.bitwise
    assert len(v.reasons) == 1 and v.reasons[0].startswith("bitwise change under an identical environment")
    assert all(ok for *_, ok in v.limits)  # within every tolerance
    assert check(a, e, Tolerance(bitwise=False), same_env=True).passed
    assert check(a, e, same_env=False).passed


# ---- partial coverage ----


def test_sampled_coverage_and_abs_sum_bound():
    rng = np.random.default_rng(0)
    e = rng.random((4, 16, 16, 3)).astype(np.float32)
    index = sample_indices(e.size, 64)
    v = check(e.copy(), e, index=index, stored="sample")
    assert v.passed and v.coverage == "sample"
    assert [row[0] for row in v.limits][:2] == ["L_inf (sampled)", "abs-sum delta / size"]
    # Move every value the sample does not see: L_inf over the sample stays 0, the abs-sum catches it.
    a = e.copy()
    unseen = np.setdiff1d(np.arange(e.size), index)
    a.reshape(-1)[unseen] += 0.5
    v = check(a, e, Tolerance(cosine=None), index=index, stored="sample")
    # L_inf over the sample is 0; the summaries' max (moved by 0.5) bounds it from below, never 0.
    assert v.metrics["linf"] == pytest.approx(0.5, abs=1e-5)
    assert not v.passed and "abs-sum moved more than atol per value" in v.reasons


def test_summary_only_coverage():
    e = np.linspace(0, 1, 24)
    v = check(e + 0.5, e, stored=None)
    assert v.coverage == "summary" and "linf" not in v.metrics
    assert not v.passed and "abs-sum moved more than atol per value" in v.reasons
    assert check(e.copy(), e, stored=None).passed


@pytest.mark.parametrize("stored", ["full", "sample", None])
def test_identical_output_passes_at_atol_zero_in_every_coverage(stored):
    # The golden's abs_sum is rounded to 7 significant digits; that rounding is not a drift.
    e = (np.random.default_rng(0).random((4, 8, 8, 3)) * 255).astype(np.float32)
    index = sample_indices(e.size, 64) if stored == "sample" else None
    v = check(e.copy(), e, Tolerance(atol=0.0), index=index, stored=stored)
    assert v.passed, (v.reasons, v.limits)


def test_worst_points_at_largest_differences():
    e = np.zeros((2, 3, 4))
    a = e.copy()
    a[1, 2, 3], a[0, 1, 2], a[1, 0, 0], a[0, 0, 1] = 0.4, -0.3, 0.2, 0.1
    v = check(a, e, Tolerance(atol=1.0, cosine=None))
    assert [w["index"] for w in v.worst] == [[1, 2, 3], [0, 1, 2], [1, 0, 0]]
    assert [w["diff"] for w in v.worst] == pytest.approx([0.4, 0.3, 0.2])
    assert v.worst[1]["actual"] == pytest.approx(-0.3) and v.worst[1]["expected"] == 0


def test_worst_with_a_sample_unravels_the_flat_index():
    e = np.zeros((3, 5, 7))
    index = np.arange(0, e.size, 4)
    a = e.copy()
    a.reshape(-1)[index[10]] = 1.0
    v = check(a, e, index=index, stored="sample")
    assert v.worst[0]["index"] == list(np.unravel_index(index[10], e.shape))


# ---- checksum ----


@given(images(dtype=np.float32))
def test_summarize_fields(image):
    s = summarize(image, "float32")
    flat = image.astype(np.float64).reshape(-1)
    assert s["shape"] == list(image.shape) and s["dtype"] == "float32" and s["size"] == image.size
    assert s["finite"] is True and s["hash"] == sha256(image)
    assert s["abs_sum"] == pytest.approx(np.abs(flat).sum(), rel=5e-7, abs=1e-30)
    assert s["abs_sum"] == float(f"{np.abs(flat).sum():.7g}")
    assert s["min"] == float(f"{flat.min():.7g}") and s["max"] == float(f"{flat.max():.7g}")
    assert s["head"] == pytest.approx(flat[:CORNER], rel=5e-7)
    assert s["tail"] == pytest.approx(flat[-CORNER:], rel=5e-7)


@given(images(), hs.data())
def test_hash_changes_when_one_value_changes(image, data):
    i = data.draw(hs.integers(0, image.size - 1))
    changed = image.copy()
    changed.reshape(-1)[i] = np.nextafter(changed.reshape(-1)[i], np.float32(2))
    assert summarize(changed, "float32")["hash"] != summarize(image, "float32")["hash"]


def test_summarize_empty_and_non_finite():
    assert set(summarize(np.zeros((0, 3)), "float32")) == {"shape", "dtype", "size", "hash", "finite"}
    s = summarize(np.array([1.0, np.nan]), "float64")
    assert s["finite"] is False and "abs_sum" not in s


@given(hs.integers(0, 10**7), hs.integers(1, 5000))
def test_sample_indices(size, count):
    index = sample_indices(size, count)
    assert np.array_equal(index, sample_indices(size, count))
    assert index.size == min(size, count)
    assert np.all(np.diff(index) > 0)  # distinct and sorted
    if size:
        assert index[0] == 0 and 0 <= index[-1] <= size - 1
    if size and count > 1:
        assert index[-1] == size - 1  # the sample spans the whole array


def test_an_all_zero_golden_is_judged_by_l_inf_alone():
    # A black image (an NSFW-filtered output, a mask): cosine distance means nothing against it.
    golden = np.zeros(4, dtype=np.float32)
    out = golden + np.float32(1e-3)
    v = check(out, golden, Tolerance(bitwise=False))
    assert v.passed, v.reasons
    assert v.metrics["cosine"] is None and v.metrics["rel_l2"] is None
    assert [row[0] for row in v.limits] == ["L_inf"]


def test_a_sampled_check_never_passes_a_hidden_drift_as_exactly_zero():
    from pytest_repro.summary import sample_indices

    golden = np.random.default_rng(0).random(100_000, dtype=np.float32)
    index = sample_indices(golden.size, 4096)
    hidden = int(np.setdiff1d(np.arange(golden.size), index)[0])  # a position the sample does not keep
    spike = golden.copy()
    spike[hidden] = 1.5  # a new maximum, 0.5 above anything the golden has
    v = check(spike, golden, Tolerance(bitwise=False), index=index, stored="sample")
    assert not v.passed and "min or max moved by 0.5" in " ".join(v.reasons)
    assert v.metrics["linf"] == pytest.approx(0.5, abs=1e-5)
    inner = golden.copy()
    inner[hidden] = np.float32(0.5) if golden[hidden] != 0.5 else np.float32(0.25)  # inside the range
    v = check(inner, golden, Tolerance(bitwise=False), index=index, stored="sample")
    assert v.coverage == "sample" and v.metrics["linf"] is None  # unknown, not 0: the table shows "-"
