"""store.py and entry.py: arrays beside a golden, checked against their entry when loaded; entries written."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
from golden_entries import new_entry, recorded  # tests/golden_entries.py

from pytest_repro.store import FORMAT, GoldenError, GoldenFile, save_arrays
from pytest_repro.summary import sample_indices

# ---- arrays against their entry ----


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8, np.float64, np.int64, np.bool_])
def test_arrays_round_trip(tmp_path, dtype):
    golden = GoldenFile.load(tmp_path / "t.json", "t.py::test")
    values = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    written = golden.set_entry("out[1]", "torch-cpu", new_entry(values), values, None)
    entry = GoldenFile.load(tmp_path / "t.json", "t.py::test").entry("out[1]", "torch-cpu")
    assert [p.name for p in written] == [entry["array"], "t.json"]
    with np.load(tmp_path / entry["array"], allow_pickle=False) as npz:
        assert np.array_equal(npz["values"], values) and npz["values"].dtype == dtype
    loaded, index = golden.load_array("out[1]", "torch-cpu")
    assert np.array_equal(loaded, values) and index is None


def sampled(tmp_path) -> tuple[GoldenFile, np.ndarray]:
    output = np.linspace(0, 1, 1000)
    index = sample_indices(output.size, 50)
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    golden.set_entry("output", "torch-cpu", new_entry(output, "sample of 50"), output[index], index)
    return golden, index


def test_sample_round_trip(tmp_path):
    golden, index = sampled(tmp_path)
    loaded, loaded_index = golden.load_array("output", "torch-cpu")
    assert loaded.shape == (50,) and np.array_equal(loaded_index, index)


@pytest.mark.parametrize("index_hash", ["kept", "deleted"])
def test_a_tampered_sample_index_is_a_golden_error(tmp_path, index_hash):
    golden, index = sampled(tmp_path)
    values, _ = golden.load_array("output", "torch-cpu")
    entry = golden.entry("output", "torch-cpu")
    if index_hash == "deleted":  # without the hash, the positions are still checked against the output's size
        data = json.loads(golden.path.read_text())
        del data["checks"]["output"]["torch-cpu"]["index_hash"]
        golden.path.write_text(json.dumps(data))
    tampered = index.copy()
    tampered[-1] = 10**6  # once an IndexError in the comparison
    save_arrays(tmp_path / entry["array"], values, tampered)
    with pytest.raises(GoldenError, match=r"field 'array': .*(index_hash|sample positions)"):
        GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")


@pytest.mark.parametrize("damage", ["other size", "reversed", "index added", "nan", "int32 view"])
def test_a_whole_array_that_is_not_its_entrys_output_is_a_golden_error(tmp_path, damage):
    path, data = recorded(tmp_path)
    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    del data["checks"]["output"]["torch-cpu"]["array_hash"]  # an older writer's entry: the summary decides
    path.write_text(json.dumps(data))
    bad = {"other size": (values[:2], None), "reversed": (values[::-1].copy(), None),
           "index added": (values, np.arange(12)), "nan": (np.full_like(values, np.nan), None),
           "int32 view": (values.view(np.int32), None)}[damage]
    save_arrays(tmp_path / "t.output.torch-cpu.npz", *bad)
    with pytest.raises(GoldenError, match=r"^.*t\.json: entry 'output'/'torch-cpu', field 'array': "):
        GoldenFile.load(path, "t.py::test").load_array("output", "torch-cpu")


def corrupt(data: bytes) -> list[bytes]:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    return [b"not an npz", data[: len(data) // 2], b"PK\x03\x04" + b"\0" * 40, bytes(flipped)]


@pytest.mark.parametrize("case", range(4))
def test_corrupt_npz_is_a_golden_error(tmp_path, case):
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    values = np.arange(1000.0)
    (array_path,) = golden.set_entry("output", "torch-cpu", new_entry(values), values, None)[:1]
    array_path.write_bytes(corrupt(array_path.read_bytes())[case])
    with pytest.raises(GoldenError, match=f"field 'array': {re.escape(str(array_path))}: (unreadable|.*does not)"):
        golden.load_array("output", "torch-cpu")


def test_array_written_without_its_entry_is_a_golden_error(tmp_path):
    # A regen killed between writing the array and the JSON leaves a new array under the old entry.
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    values = np.arange(10.0)
    (array_path,) = golden.set_entry("output", "torch-cpu", new_entry(values), values, None)[:1]
    save_arrays(array_path, values + 1, None)
    with pytest.raises(GoldenError, match="does not match its entry .an interrupted --repro-regen"):
        golden.load_array("output", "torch-cpu")


def test_missing_npz_is_a_golden_error(tmp_path):
    path, _ = recorded(tmp_path)
    (tmp_path / "t.output.torch-cpu.npz").unlink()
    with pytest.raises(GoldenError, match=r"field 'array': .*t\.output\.torch-cpu\.npz: unreadable"):
        GoldenFile.load(path, "t.py::test").load_array("output", "torch-cpu")


def test_set_entry_replaces_only_its_entry_and_keeps_malformed_others(tmp_path):
    path, data = recorded(tmp_path)
    data["checks"]["output"]["torch-cuda"]["summary"]["shape"] = "bad"  # someone else's problem
    data["checks"]["other"] = {"torch-cpu": {"deep": [[[[1]]]], "nan": float("nan")}}
    path.write_text(json.dumps(data))
    before = copy.deepcopy(json.loads(path.read_text()))
    values = np.ones(3, np.float32)
    GoldenFile.load(path, "t.py::test").set_entry("output", "torch-cpu", new_entry(values), values, None)
    after = json.loads(path.read_text())
    assert after["checks"]["output"]["torch-cuda"] == before["checks"]["output"]["torch-cuda"]
    assert json.dumps(after["checks"]["other"]) == json.dumps(before["checks"]["other"])
    assert after["format"] == FORMAT and after["test"] == "t.py::test"
    assert np.array_equal(GoldenFile.load(path, "").load_array("output", "torch-cpu")[0], values)


def test_an_entry_that_would_not_read_back_is_never_written(tmp_path):
    path, _ = recorded(tmp_path)
    before = path.read_bytes()
    values = np.ones(3, np.float32)
    bad = {**new_entry(values), "fingerprint": {"threads": float("nan")}}
    with pytest.raises(GoldenError, match=r"field 'fingerprint.threads'.*can't be recorded"):
        GoldenFile.load(path, "t.py::test").set_entry("output", "torch-cpu", bad, values, None)
    assert path.read_bytes() == before
