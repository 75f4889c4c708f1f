"""store.py and identity.py: file names, layout, atomic writes, locking, damaged or foreign files."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from pytest_repro import identity as g
from pytest_repro.identity import golden_path, safe_name
from pytest_repro.store import FORMAT, GoldenError, GoldenFile, atomic_write, locked, save_arrays

SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-[]=+,@")


# ---- names ----


@pytest.mark.parametrize("text", ["test_a", "test_b[1-cpu]", "testx.test_y[a=1,b=2]"])
def test_safe_name_keeps_safe_ids(text):
    assert safe_name(text) == text


def test_safe_name_keeps_ids_differing_in_case_apart_on_case_insensitive_file_systems():
    upper, lower = safe_name("test[A]"), safe_name("test[a]")
    assert upper.lower() != lower.lower()
    assert upper.startswith("test[A]-") and lower == "test[a]"


@pytest.mark.parametrize("text", [
    "test[a/b]", "test[a\\b]", "test[x:y]", "test[x*y?]", 'test["q"]', "test[<>|]", "test[ü-ß-日本]",
    "test[a b]", "name.", "name ", "CON", "con.json", "Aux", "nul", "COM1", "lpt9.txt", "", ".", "..",
])
def test_safe_name_is_portable(text):
    name = safe_name(text)
    assert name and set(name) <= SAFE, name
    assert not name.endswith((".", " "))
    assert name.split(".")[0].lower() not in g._WINDOWS_RESERVED
    assert name not in (".", "..")
    assert len(name) <= g.MAX_NAME


def test_safe_name_altered_names_stay_distinct():
    # "a/b" and "a:b" both become "a_b": the hash suffix keeps them apart, and apart from "a_b".
    names = {safe_name(t) for t in ("t[a/b]", "t[a:b]", "t[a_b]", "t[a\\b]", "t[ä]", "t[ö]")}
    assert len(names) == 6


def test_safe_name_caps_long_ids_and_keeps_them_distinct():
    base = "test_pipeline[" + "x" * 300
    a, b = safe_name(base + "1]"), safe_name(base + "2]")
    assert len(a) == len(b) == g.MAX_NAME
    assert a != b
    assert safe_name(base + "1]") == a  # stable across runs


def test_golden_path_layout(tmp_path):
    assert golden_path(tmp_path, "tests/test_x.py::test_b[1]") == tmp_path / "tests/test_x/test_b[1].json"
    assert golden_path(tmp_path, "tests/test_x.py::TestA::test_b").name.startswith("TestA.test_b-")
    assert golden_path(tmp_path, "test_top.py::test_c") == tmp_path / "test_top/test_c.json"
    # ".." in a node id must not climb out of the golden folder
    path = golden_path(tmp_path, "../../outside.py::test_d")
    assert tmp_path in path.parents and ".." not in path.parts
    odd = golden_path(tmp_path, "tests/test_x.py::test_e[a/b:c]")
    assert odd.parent == tmp_path / "tests/test_x" and odd.suffix == ".json"


# ---- atomic writes and locking ----


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "deep/dir/file.json"
    atomic_write(path, b"one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(path.parent) == ["file.json"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "file.json"
    atomic_write(path, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, b"new")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.json"]


def test_locked_serialises(tmp_path):
    path = tmp_path / "t.json"
    with locked(path, timeout=5):
        assert (tmp_path / "t.json.lock").exists()
        with pytest.raises(GoldenError, match=r"t\.json\.lock: still locked"), locked(path, timeout=0.2):
            pass
    assert not (tmp_path / "t.json.lock").exists()
    with locked(path, timeout=0.2):  # free again
        pass


def test_locked_waits_for_the_holder(tmp_path):
    path = tmp_path / "t.json"
    order = []
    entered = threading.Event()

    def holder():
        with locked(path):
            entered.set()
            threading.Event().wait(0.3)
            order.append("first done")

    thread = threading.Thread(target=holder)
    thread.start()
    entered.wait(5)
    with locked(path, timeout=5):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]


def test_locked_releases_on_error(tmp_path):
    with pytest.raises(RuntimeError), locked(tmp_path / "t.json"):
        raise RuntimeError
    assert not (tmp_path / "t.json.lock").exists()


# ---- loading ----


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_load_missing_file_is_empty(tmp_path):
    golden = GoldenFile.load(tmp_path / "none.json", "t.py::test")
    assert golden.data == {"format": FORMAT, "test": "t.py::test", "checks": {}}
    assert golden.entry("output", "torch-cpu") is None and golden.backends("output") == []


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "unreadable.*--repro-regen"),
    ("\udcff", "unreadable"),
    ("[1, 2]", "not a pytest-repro golden file"),
    ('{"format": 1}', "not a pytest-repro golden file"),
    ('{"format": 1, "checks": []}', "not a pytest-repro golden file"),
    (json.dumps({"format": FORMAT + 1, "checks": {}}), "newer pytest-repro.*pip install -U pytest-repro"),
])
def test_load_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(GoldenError, match=f"^{re.escape(str(path))}: .*{message}"):
        GoldenFile.load(path, "t.py::test")


def test_load_without_format_is_not_called_newer(tmp_path):
    path = write_json(tmp_path / "old.json", {"checks": {}})
    with pytest.raises(GoldenError, match=str(path)) as info:
        GoldenFile.load(path, "t.py::test")
    assert "upgrade" not in str(info.value)  # nothing says a newer version wrote it


@pytest.mark.parametrize("entry", [{"seed": [0]}, "text", ["list"], 3])
def test_malformed_entry_is_a_golden_error(tmp_path, entry):
    path = write_json(tmp_path / "t.json", {"format": 1, "checks": {"output": {"torch-cpu": entry}}})
    golden = GoldenFile.load(path, "t.py::test")
    with pytest.raises(GoldenError, match=f"^{re.escape(str(path))}: entry 'output'/'torch-cpu'"):
        golden.entry("output", "torch-cpu")


# ---- entries and arrays ----

SUMMARY = {"shape": [1], "dtype": "float32", "size": 1, "hash": "sha256:0"}


def summary(**extra):
    return {**SUMMARY, **extra}


def test_set_entry_keeps_other_backends(tmp_path):
    path = tmp_path / "t.json"
    GoldenFile.load(path, "t.py::test").set_entry("output", "torch-cpu", {"summary": summary(a=1)}, None, None)
    GoldenFile.load(path, "t.py::test").set_entry("output", "torch-cuda", {"summary": summary(a=2)}, None, None)
    GoldenFile.load(path, "t.py::test").set_entry("other", "torch-cpu", {"summary": summary(a=3)}, None, None)
    golden = GoldenFile.load(path, "t.py::test")
    assert golden.backends("output") == ["torch-cpu", "torch-cuda"]
    assert golden.entry("output", "torch-cpu")["summary"]["a"] == 1
    assert golden.entry("other", "torch-cpu")["summary"]["a"] == 3
    assert json.loads(path.read_text())["format"] == FORMAT


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8, np.float64])
def test_arrays_round_trip(tmp_path, dtype):
    golden = GoldenFile.load(tmp_path / "t.json", "t.py::test")
    values = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    written = golden.set_entry("out[1]", "torch-cpu", {"summary": summary()}, values, None)
    entry = GoldenFile.load(tmp_path / "t.json", "t.py::test").entry("out[1]", "torch-cpu")
    assert [p.name for p in written] == [entry["array"], "t.json"]
    with np.load(tmp_path / entry["array"], allow_pickle=False) as npz:
        assert np.array_equal(npz["values"], values) and npz["values"].dtype == dtype
    loaded, index = golden.load_array(entry)
    assert np.array_equal(loaded, values) and index is None


def test_sample_round_trip(tmp_path):
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    values, index = np.linspace(0, 1, 5, dtype=np.float32), np.array([0, 9, 19, 29, 39])
    golden.set_entry("output", "torch-cpu", {"summary": summary()}, values, index)
    loaded, loaded_index = golden.load_array(golden.entry("output", "torch-cpu"))
    assert np.array_equal(loaded, values) and np.array_equal(loaded_index, index)


def corrupt(data: bytes) -> list[bytes]:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    return [b"not an npz", data[: len(data) // 2], b"PK\x03\x04" + b"\0" * 40, bytes(flipped)]


@pytest.mark.parametrize("case", range(4))
def test_corrupt_npz_is_a_golden_error(tmp_path, case):
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    (array_path,) = golden.set_entry("output", "torch-cpu", {"summary": summary()}, np.arange(1000.0), None)[:1]
    array_path.write_bytes(corrupt(array_path.read_bytes())[case])
    with pytest.raises(GoldenError, match=f"^{re.escape(str(array_path))}: unreadable.*--repro-regen"):
        golden.load_array(golden.entry("output", "torch-cpu"))


def test_array_written_without_its_entry_is_a_golden_error(tmp_path):
    # A regen killed between writing the array and the JSON leaves a new array under the old entry.
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    (array_path,) = golden.set_entry("output", "torch-cpu", {"summary": summary()}, np.arange(10.0), None)[:1]
    save_arrays(array_path, np.arange(10.0) + 1, None)
    with pytest.raises(GoldenError, match="does not match its entry in t.json"):
        golden.load_array(golden.entry("output", "torch-cpu"))


@pytest.mark.parametrize("entry", [{"summary": {"shape": [1]}}, {"fingerprint": {}}])
def test_entry_without_summary_fields_is_a_golden_error(tmp_path, entry):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"format": 1, "checks": {"output": {"torch-cpu": entry}}}))
    with pytest.raises(GoldenError, match=r"t\.json: entry 'output'/'torch-cpu' lacks .*hash"):
        GoldenFile.load(path, "t.py::test").entry("output", "torch-cpu")


def test_written_files_are_readable_by_others(tmp_path):
    path = tmp_path / "t.json"
    old = os.umask(0o022)
    try:
        atomic_write(path, b"x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # as open() would make it, not mkstemp's 0600


def test_missing_npz_is_a_golden_error(tmp_path):
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    with pytest.raises(GoldenError, match=r"gone\.npz: unreadable"):
        golden.load_array({"summary": {}, "array": "gone.npz"})
    assert golden.load_array({"summary": {}}) is None
