"""store.py, entry.py and identity.py: file names, layout, entries read field by field, damaged or foreign files.

Atomic writes, locks and write failures are in test_store_files.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from golden_entries import new_entry, recorded  # tests/golden_entries.py

from pytest_repro import identity as g
from pytest_repro.identity import array_name, golden_path, name_part, safe_name
from pytest_repro.store import FORMAT, GoldenError, GoldenFile

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
    assert golden_path(tmp_path, "tests/test_x.py::TestA::test_b").name == "TestA.test_b.json"  # readable
    assert golden_path(tmp_path, "t.py::test_x[a cat]").name == "test_x[a cat].json"
    assert golden_path(tmp_path, "test_top.py::test_c") == tmp_path / "test_top/test_c.json"
    # ".." in a node id must not climb out of the golden folder
    path = golden_path(tmp_path, "../../outside.py::test_d")
    assert tmp_path in path.parents and ".." not in path.parts
    odd = golden_path(tmp_path, "tests/test_x.py::test_e[a/b:c]")
    assert odd.parent == tmp_path / "tests/test_x" and odd.suffix == ".json"


def test_check_names_that_sanitise_alike_get_distinct_array_files():
    altered = name_part("a:b")
    assert altered.startswith("a_b-") and name_part(altered) != altered  # a hash-like name is altered too
    names = ["a:b", altered, "a_b", "A_b", "a.b", "a_b-12345678", "", "output"]
    assert len({name_part(n) for n in names}) == len(names)
    assert name_part("output") == "output" and name_part("ddim-shared-noise") == "ddim-shared-noise"


def test_array_names_split_back_into_one_test_check_and_backend():
    # test_x with check "foo.output", and test_x.foo (class test_x, method foo) with check "output"
    assert array_name("test_x", "foo.output", "torch-cpu") != array_name("test_x.foo", "output", "torch-cpu")
    assert array_name("test_x", "output", "torch-cpu") == "test_x.output.torch-cpu.npz"  # as old goldens name it
    for check in ("a.b", "x/../y", "a b", "é"):
        assert array_name("t", check, "torch-cpu").count(".") == 3


def test_two_colliding_check_names_never_share_an_npz(tmp_path):
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    first = np.arange(4.0)
    golden.set_entry("a:b", "torch-cpu", new_entry(first), first, None)
    golden.set_entry(name_part("a:b"), "torch-cpu", new_entry(first[::-1].copy()), first[::-1].copy(), None)
    again = GoldenFile.load(tmp_path / "t.json", "t.py::test")
    assert np.array_equal(again.load_array("a:b", "torch-cpu")[0], first)
    assert len(list(tmp_path.glob("*.npz"))) == 2


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
    (json.dumps({"format": FORMAT + 1, "checks": {}}), "newer pytest-repro.*install in this environment"),
    ('{"format": 1, "checks": ' + "[" * 100_000 + "]" * 100_000 + "}", "unreadable golden file .nested too deeply"),
    ('{"format": 1, "checks": {}, "n": ' + "7" * 5000 + "}", "unreadable golden file"),  # > 4300 digits
    ('{"format": true, "checks": {}}', "no valid 'format' field"),
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


# ---- entries, field by field ----


# (where in the entry, the bad value or DELETE, the field the error names)
class Delete:
    def __repr__(self) -> str:  # a stable test id under xdist
        return "deleted"


DELETE = Delete()
MUTATIONS = [
    (("summary", "shape"), 5, "summary.shape"),
    (("summary", "shape"), [3, -4], "summary.shape"),
    (("summary", "shape"), [3, 4.0], "summary.shape"),
    (("summary", "shape"), [[3]] * 2, "summary.shape"),
    (("summary", "size"), 13, "summary.size"),
    (("summary", "size"), True, "summary.size"),
    (("summary", "dtype"), "object", "summary.dtype"),
    (("summary", "dtype"), None, "summary.dtype"),
    (("summary", "hash"), "sha256:0", "summary.hash"),
    (("summary", "hash"), DELETE, "summary.hash"),
    (("summary", "finite"), False, "summary.finite"),
    (("summary", "abs_sum"), "x", "summary.abs_sum"),
    (("summary", "mean"), float("nan"), "summary.mean"),
    (("summary", "max"), DELETE, "summary.max"),
    (("summary", "head"), [1, "2"], "summary.head"),
    (("summary",), None, "summary"),
    (("kept",), "most of it", "kept"),
    (("kept",), DELETE, "kept"),
    (("kept",), "sample of 99", "kept"),
    (("array",), None, "array"),
    (("array",), DELETE, "array"),
    (("array",), "../../etc/passwd", "array"),
    (("array",), "C:evil.npz", "array"),
    (("array_hash",), 7, "array_hash"),
    (("seed",), "0", "seed"),
    (("seed",), [-1], "seed"),
    (("fingerprint",), None, "fingerprint"),
    (("fingerprint", "threads"), float("inf"), "fingerprint.threads"),
]


@pytest.mark.parametrize(("where", "value", "field"), MUTATIONS, ids=[f"{m[2]}={m[1]!r}"[:40] for m in MUTATIONS])
def test_a_malformed_field_is_a_golden_error_naming_file_check_backend_and_field(tmp_path, where, value, field):
    path, data = recorded(tmp_path)
    target = data["checks"]["output"]["torch-cpu"]
    for step in where[:-1]:
        target = target[step]
    if value is DELETE:
        del target[where[-1]]
    else:
        target[where[-1]] = value
    path.write_text(json.dumps(data))
    golden = GoldenFile.load(path, "t.py::test")
    with pytest.raises(GoldenError) as info:
        golden.entry("output", "torch-cpu")
        golden.load_array("output", "torch-cpu")
    message = str(info.value)
    assert message.startswith(f"{path}: entry 'output'/'torch-cpu', field {field!r}: "), message
    assert "--repro-regen" in message
    assert golden.load_array("output", "torch-cuda")[0].shape == (3, 4)  # the other entry reads as before


def test_a_check_that_is_no_table_is_a_golden_error(tmp_path):
    path = write_json(tmp_path / "t.json", {"format": 1, "checks": {"output": [1, 2]}})
    with pytest.raises(GoldenError, match=r"entry 'output'/'torch-cpu': the check holds a list"):
        GoldenFile.load(path, "t.py::test").entry("output", "torch-cpu")


def test_the_bundled_format_1_goldens_read_and_match_their_arrays():
    root = Path(__file__).parents[1] / "golden"
    checked = 0
    for path in sorted(root.rglob("*.json")):
        golden = GoldenFile.load(path, "")
        for check, table in golden.data["checks"].items():
            for backend in table:
                values, _ = golden.load_array(check, backend)
                checked += 1
    assert checked >= 5
