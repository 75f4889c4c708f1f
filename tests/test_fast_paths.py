"""The one-pass check (issue 10): the chunked summary and comparison give the numbers the whole-array
formulas give, for every kind of input, and the golden store reads new and old array files alike."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pytest_repro import entry as entry_module
from pytest_repro import summary as summary_module
from pytest_repro.store import GoldenError, GoldenFile, save_arrays
from pytest_repro.summary import _num, summarize
from pytest_repro.tolerance import Tolerance
from pytest_repro.verdict import Side, judge, metrics

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=[7, 1 << 16], ids=["tiny chunks", "default chunks"])
def chunk(request, monkeypatch):
    monkeypatch.setattr(summary_module, "CHUNK", request.param)
    return request.param


def whole_summary(array: np.ndarray) -> dict:
    """The formulas summarize() ran before it was chunked, on a float64 copy."""
    wide = array.reshape(-1).astype(np.float64)
    return {"abs_sum": _num(np.abs(wide).sum()), "mean": _num(wide.mean()), "std": _num(wide.std()),
            "min": _num(wide.min()), "max": _num(wide.max())}


rng = np.random.default_rng(0)
INPUTS = {
    "float32": rng.random((3, 40, 5), dtype=np.float32),
    "offset float64": rng.random(500) + 1e6,  # std far below the mean: a one-pass sum of squares would fail
    "float16": rng.random(300).astype(np.float16),
    "int64": rng.integers(-1000, 1000, 250),
    "uint8": rng.integers(0, 255, 99).astype(np.uint8),
    "bool": rng.random(77) > 0.5,
    "fortran": np.asfortranarray(rng.random((30, 20))),
    "strided view": rng.random((40, 40))[::3, ::2],
    "0-d": np.array(2.5, np.float32),
}


@pytest.mark.parametrize("name", INPUTS)
def test_chunked_summary_matches_the_whole_array_formulas(chunk, name):
    array = INPUTS[name]
    s = summarize(array, str(array.dtype))
    assert s["finite"] and s["size"] == array.size and s["shape"] == list(array.shape)
    for stat, value in whole_summary(array).items():
        assert s[stat] == pytest.approx(value, rel=2e-7, abs=1e-12), stat
    assert s["hash"] == summary_module.sha256(np.ascontiguousarray(array).copy())
    assert s["head"] == [_num(v) for v in array.reshape(-1)[:9].astype(np.float64)]


def test_chunked_summary_counts_nan_and_inf_and_empty(chunk):
    array = np.zeros(50, np.float32)
    array[[3, 20]] = np.nan
    array[41] = -np.inf
    s = summarize(array, "float32")
    assert (s["finite"], s["nan"], s["inf"]) == (False, 2, 1) and "abs_sum" not in s
    assert summarize(np.zeros((0, 3)), "float64")["finite"] is True


def reference_metrics(a: np.ndarray, e: np.ndarray) -> dict:
    a, e = a.astype(np.float64).reshape(-1), e.astype(np.float64).reshape(-1)
    d = np.abs(a - e)
    ua, ue = a / np.sqrt(np.sum(a * a)), e / np.sqrt(np.sum(e * e))
    return {"linf": d.max(), "mean_abs": d.mean(), "rel_l2": np.sqrt(np.sum(d * d) / np.sum(e * e)),
            "cosine": 0.5 * np.sum((ua - ue) ** 2)}


@pytest.mark.parametrize("scale", [1.0, 1e-120, 1e150])  # plain sums, and sums of values divided by their scale
def test_chunked_metrics_match_the_textbook_formulas(chunk, scale):
    e = rng.standard_normal(1000)
    a = e + 1e-3 * rng.standard_normal(1000)
    got = metrics(a * scale, e * scale)
    for name, value in reference_metrics(a, e).items():
        expected = value * scale if name in ("linf", "mean_abs") else value
        assert got[name] == pytest.approx(expected, rel=1e-9), name
    assert metrics(e * scale, e * scale)["cosine"] == 0.0  # exactly, not ~1e-16


def test_metrics_never_write_into_the_callers_arrays(chunk):
    a, e = rng.random(100) * 1e-150, rng.random(100) * 1e-150  # the scaled path divides in buffers
    a0, e0 = a.copy(), e.copy()
    metrics(a, e)
    judge(Side(summarize(a, "float64"), a), Side(summarize(e, "float64"), e), Tolerance(), False)
    assert np.array_equal(a, a0) and np.array_equal(e, e0)


def test_worst_points_across_chunks_are_the_largest_first_positions_on_ties(chunk):
    e = np.zeros(100)
    a = e.copy()
    a[[5, 60, 61, 90]] = [0.5, 2.0, 1.0, 1.0]
    v = judge(Side(summarize(a, "float64"), a), Side(summarize(e, "float64"), e), Tolerance(), False)
    assert [w["index"] for w in v.worst] == [[60], [61], [90]]
    assert v.reasons[0].startswith("4 of 100 compared values outside")


def test_new_goldens_are_stored_uncompressed_and_load_without_sha256(tmp_path, monkeypatch):
    values = rng.random((4, 5), dtype=np.float32)
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    entry = {"summary": summarize(values, "float32"), "seed": [0], "kept": "full"}
    array_path = golden.set_entry("output", "torch-cpu", entry, values, None)[0]
    with zipfile.ZipFile(array_path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    stored = json.loads(golden.path.read_text())["checks"]["output"]["torch-cpu"]
    assert stored["array_crc32"].startswith("crc32:") and stored["array_hash"] == entry["summary"]["hash"]
    monkeypatch.setattr(entry_module, "sha256", lambda _: pytest.fail("sha256 of a golden read by its CRC"))
    loaded, index = GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")
    assert np.array_equal(loaded, values) and index is None
    save_arrays(array_path, values[::-1].copy(), None)  # another array under the entry: its CRC differs
    with pytest.raises(GoldenError, match="does not match its entry"):
        golden.load_array("output", "torch-cpu")


def test_committed_zlib_goldens_still_load_by_their_sha256(tmp_path):
    source = ROOT / "golden/pytest_repro/suite/test_pipelines"
    json_path = source / "test_pipeline[ddim].json"
    if not json_path.exists():
        pytest.skip("no committed ddim golden")
    for path in source.glob("test_pipeline[[]ddim[]]*"):
        shutil.copy(path, tmp_path / path.name)
    golden = GoldenFile.load(tmp_path / json_path.name, "test_pipeline[ddim]")
    entry = golden.entry("output", "torch-cpu")
    assert entry is not None and "array_crc32" not in entry
    values, _ = golden.load_array("output", "torch-cpu")
    assert summary_module.sha256(values) == entry["array_hash"]


# ---- the hash only where it is needed ----

def test_a_check_against_a_whole_golden_hashes_nothing_yet_tells_bitwise_changes(inner, monkeypatch):
    inner.write("""
import numpy as np

def test_x(repro_golden):
    repro_golden.check(np.array([0.0, 1.0, 2.0], np.float32) * {sign})
""".format(sign="1"))
    inner.regen()
    recorded = inner.load()["checks"]["output"]["torch-cpu"]
    assert recorded["summary"]["hash"].startswith("sha256:")  # what is recorded always has it

    def no_hash(array):
        raise AssertionError("sha256 computed on a check against a whole golden")

    monkeypatch.setattr(summary_module, "sha256", no_hash)
    inner.run().assert_outcomes(passed=1)
    # -0.0 is 0.0 to every metric, not to the bits: the comparison of the arrays still sees it
    inner.write("""
import numpy as np

def test_x(repro_golden):
    repro_golden.check(np.array([0.0, 1.0, 2.0], np.float32) * {sign})
""".format(sign="np.float32([-1.0, 1.0, 1.0])"))
    result = inner.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*every value equals the golden*, yet the bits differ: a zero changed sign*"])


@pytest.mark.parametrize("name", INPUTS)
def test_stored_arrays_read_back_exactly_and_a_flipped_byte_is_caught(tmp_path, name):
    from pytest_repro.store import load_arrays

    array = INPUTS[name]
    index = np.arange(array.size) if array.ndim == 1 else None
    save_arrays(tmp_path / "a.npz", array, index)
    values, back = load_arrays(tmp_path / "a.npz")
    assert values.dtype == array.dtype and values.shape == array.shape and np.array_equal(values, array)
    assert values.flags.f_contiguous == array.flags.f_contiguous or array.ndim < 2  # Fortran order stays
    assert (back is None) == (index is None) and (back is None or np.array_equal(back, index))
    raw = bytearray((tmp_path / "a.npz").read_bytes())
    raw[raw.index(b"NUMPY") + 130] ^= 1  # a byte of the values (every header here is 128 bytes)
    (tmp_path / "a.npz").write_bytes(bytes(raw))
    with pytest.raises(GoldenError, match="Bad CRC-32"):
        load_arrays(tmp_path / "a.npz")


# ---- chunk buffers kept between checks ----

def test_chunk_buffers_are_reused_by_the_next_check_and_hold_nothing_of_it(monkeypatch):
    monkeypatch.setattr(summary_module, "_SPARE", [])
    values = np.random.default_rng(3).random(3000).astype(np.float32)
    first = summarize(values, "float32")
    kept = list(summary_module._SPARE)
    assert len(kept) == 2  # the two buffers _stats used, back in the pool
    other = np.full(3000, 7.0, np.float32)
    assert summarize(other, "float32")["mean"] == 7.0
    assert {id(b) for b in summary_module._SPARE} == {id(b) for b in kept}  # the same buffers, not new ones
    assert summarize(values, "float32") == first  # nothing of the other output leaks into this one


def test_buffers_in_use_are_never_handed_out_twice_and_the_pool_stays_small(monkeypatch):
    monkeypatch.setattr(summary_module, "_SPARE", [])
    with summary_module.scratch(3, 10) as outer:
        with summary_module.scratch(4, 10) as inner:
            assert len({b.__array_interface__["data"][0] for b in outer + inner}) == 7
    assert len(summary_module._SPARE) == summary_module._KEEP
    with summary_module.scratch(1, summary_module.CHUNK + 5) as (big,):  # larger than any kept buffer
        assert big.size == summary_module.CHUNK + 5


def test_each_arrays_min_and_max_are_read_once_and_handed_on(tmp_path, monkeypatch):
    from pytest_repro import check as check_module
    from pytest_repro import verdict as verdict_module

    values = rng.random((2, 30, 3), dtype=np.float32)
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    golden.set_entry("out", "torch-cpu", {"summary": summarize(values, "float32"), "seed": [0], "kept": "full"},
                     values, None)
    loaded, index, found = GoldenFile.load(tmp_path / "t.json", "t.py::test").load_kept("out", "torch-cpu")
    assert index is None and found == (float(values.min()), float(values.max()))
    # the comparison takes both sides' extremes as given: it reads neither array's again
    output = values + np.float32(0.25)
    read = summary_module.extremes(output)
    monkeypatch.setattr(verdict_module, "extremes", lambda x: pytest.fail("min and max read again"))
    v = judge(Side(summarize(output, "float32", False, stats=False, known=read), output.reshape(-1), extremes=read),
              Side(summarize(values, "float32"), loaded.reshape(-1), extremes=found), Tolerance(atol=1.0, cosine=None),
              False)
    assert v.passed and v.metrics["linf"] == pytest.approx(0.25)
    assert v.summary is not None and v.summary["min"] == _num(read[0]) and v.summary["max"] == _num(read[1])
    assert check_module.extremes is summary_module.extremes  # what a check reads its output's with


def test_extremes_of_any_dtype_are_the_float64_min_and_max():
    for array in (np.array([True, False]), np.arange(-3, 4, dtype=np.int8), np.array([2**63 - 1], np.int64),
                  np.array([0.5, -0.25], np.float16), np.zeros((2, 0)), np.float32(7.0).reshape(())):
        found = summary_module.extremes(array)
        if not array.size:
            assert found is None
        else:
            assert found == (float(array.astype(np.float64).min()), float(array.astype(np.float64).max()))
    assert all(np.isnan(x) for x in summary_module.extremes(np.array([1.0, np.nan])))


@pytest.mark.parametrize("shift", [1e-3, 3e-3])
def test_cosine_of_values_far_from_zero_keeps_its_magnitude(chunk, shift):
    # |a| - |e| taken from a.a - e.e cancels here (a.a ~ 5e14, their difference ~1e6): the distance came out
    # ~1e-26 where it is ~1e-32. It is taken from 2 r.e + r.r instead, sums that don't cancel.
    from decimal import Decimal, localcontext

    e = 1e6 + np.random.default_rng(0).random(500)
    a = e + shift
    with localcontext() as exact:
        exact.prec = 60
        da, de = [Decimal(float(x)) for x in a], [Decimal(float(x)) for x in e]
        ae, aa, ee = (sum(x * y for x, y in zip(p, q, strict=True)) for p, q in ((da, de), (da, da), (de, de)))
        true = float(1 - ae / (aa * ee).sqrt())
    assert 0 < true < 1e-30
    assert metrics(a, e)["cosine"] == pytest.approx(true, rel=0.5, abs=0)
