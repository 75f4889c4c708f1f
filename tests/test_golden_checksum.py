"""The sum64 of a golden's array members: what a load checks their bytes by, in place of the CRC-32s."""

from __future__ import annotations

import io
import json
import zipfile
import zlib

import numpy as np
import pytest
from golden_entries import new_entry

from pytest_repro import npz, store
from pytest_repro.store import GoldenError, GoldenFile
from pytest_repro.summary import sample_indices


def sum64(array: np.ndarray) -> str:
    return npz.sum64(*npz.npy(array))


def stored_bytes(array: np.ndarray) -> bytes:
    """The .npy np.save writes for ``array``, header and data: what sum64 must sum."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def reference_sum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 8)
    return sum(int.from_bytes(padded[i:i + 8], "little") for i in range(0, len(padded), 8)) % 2**64


ARRAYS = {
    "float32": np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4),
    "odd bytes": np.arange(13, dtype=np.float16),  # 26 bytes: a last word of 2
    "bool": np.arange(5) % 2 == 0,
    "fortran": np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
    "strided view": np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2],
    "0-d": np.array(2.5),
    "empty": np.zeros((0, 3), np.float32),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_sum64_sums_the_bytes_an_npy_stores(name):
    array = ARRAYS[name]
    assert sum64(array) == f"sum64:{reference_sum(stored_bytes(array)):016x}"


def test_a_header_that_ends_off_a_word_is_summed_joined_to_its_data():
    header, data = b"abc", np.arange(5, dtype=np.uint8).data
    assert npz.sum64(header, data) == f"sum64:{reference_sum(header + bytes(data)):016x}"


def test_sum64_tells_a_flipped_bit_anywhere():
    values = np.random.default_rng(0).random(1001).astype(np.float32)
    clean = sum64(values)
    raw = values.view(np.uint8)
    for position in (0, 7, 8, 2001, raw.size - 1):  # in the data; the header's bytes are summed alike
        for bit in (0, 7):
            raw[position] ^= 1 << bit
            assert sum64(values) != clean, (position, bit)
            raw[position] ^= 1 << bit
    assert sum64(values) == clean


def write(tmp_path, values, index=None):
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    kept = "full" if index is None else f"sample of {index.size}"
    output = values if index is None else np.zeros(int(index[-1]) + 1, values.dtype)
    entry = new_entry(output, kept)
    golden.set_entry("output", "torch-cpu", entry, values, index)
    return golden


def flip_data_byte(path, array_bytes: int) -> None:
    data = bytearray(path.read_bytes())
    zip_directory = data.rfind(b"PK\x01\x02")  # the central directory: after every member's data
    data[zip_directory - array_bytes // 2 - 1] ^= 0x10  # inside the last member's data
    path.write_bytes(bytes(data))


def test_a_golden_records_sum64s_and_a_load_checks_them_not_the_crc(tmp_path, monkeypatch):
    values = np.random.default_rng(1).random((4, 5), dtype=np.float32)
    golden = write(tmp_path, values)
    entry = json.loads(golden.path.read_text())["checks"]["output"]["torch-cpu"]
    assert entry["array_sum64"] == sum64(values) and entry["array_crc32"].startswith("crc32:")
    assert entry["array_sum64"] == f"sum64:{reference_sum(stored_bytes(values)):016x}"

    def no_crc(*args):
        raise AssertionError("the bytes' CRC-32 computed for an entry that records a sum64")

    monkeypatch.setattr(store.zlib, "crc32", no_crc)
    loaded, _ = GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")
    assert np.array_equal(loaded, values)
    monkeypatch.undo()  # a failed check computes the CRC-32, to tell damage from another write's file
    flip_data_byte(golden.array_path("output", "torch-cpu"), values.nbytes)
    said = r"t\.output\.torch-cpu\.npz: unreadable array file \(values\.npy: its bytes match neither the entry's "
    with pytest.raises(GoldenError, match=f"field 'array': .*{said}array_sum64 nor the archive's CRC-32"):
        GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")


def test_a_header_damaged_into_another_valid_one_is_caught(tmp_path):
    values = np.arange(16, dtype=np.float32).reshape(4, 4)
    golden = write(tmp_path, values)
    path = golden.array_path("output", "torch-cpu")
    data = path.read_bytes()
    assert data.count(b"'fortran_order': False,") == 1
    # the same length, still a valid header: without a check it loads as the transpose
    path.write_bytes(data.replace(b"'fortran_order': False,", b"'fortran_order': True, "))
    with pytest.raises(GoldenError, match="match neither the entry's array_sum64"):
        GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")


@pytest.mark.parametrize("descr", [b"<b2", b"<f1", b"<u3"])
def test_a_descr_no_dtype_has_is_a_golden_error(tmp_path, descr):
    golden = write(tmp_path, np.arange(4, dtype=np.float32))
    path = golden.array_path("output", "torch-cpu")
    path.write_bytes(path.read_bytes().replace(b"'<f4'", b"'" + descr + b"'"))
    with pytest.raises(GoldenError, match="unreadable array file"):
        GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")


def test_an_entry_written_before_sum64s_is_still_checked_by_the_crc(tmp_path):
    values = np.random.default_rng(2).random(50)
    golden = write(tmp_path, values)
    data = json.loads(golden.path.read_text())
    del data["checks"]["output"]["torch-cpu"]["array_sum64"]
    golden.path.write_text(json.dumps(data))
    loaded, _ = GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")
    assert np.array_equal(loaded, values)
    flip_data_byte(golden.array_path("output", "torch-cpu"), values.nbytes)
    with pytest.raises(GoldenError, match="Bad CRC-32"):
        GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")


def test_sample_positions_are_checked_by_their_own_sum64(tmp_path):
    output = np.linspace(0, 1, 1000)
    index = sample_indices(output.size, 40)
    golden = write(tmp_path, output[index], index)
    entry = json.loads(golden.path.read_text())["checks"]["output"]["torch-cpu"]
    assert entry["index_sum64"] == sum64(index)
    values, loaded = GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")
    assert np.array_equal(loaded, index)
    flip_data_byte(golden.array_path("output", "torch-cpu"), index.nbytes)  # index.npy is the last member
    with pytest.raises(GoldenError, match="index.npy: its bytes match neither the entry's index_sum64"):
        GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")
    # An index member whose sum no entry field vouches for is not read unchecked: its CRC-32 checks it.
    data = json.loads(golden.path.read_text())
    del data["checks"]["output"]["torch-cpu"]["index_sum64"]
    golden.path.write_text(json.dumps(data))
    with pytest.raises(GoldenError, match="Bad CRC-32 for file 'index.npy'"):
        GoldenFile.load(golden.path, "t.py::test").load_array("output", "torch-cpu")


@pytest.mark.parametrize("bad", ["sum64:123", "crc32:00000000", 17, "sum64:" + "G" * 16])
def test_a_malformed_sum64_field_is_named(tmp_path, bad):
    golden = write(tmp_path, np.arange(6.0))
    data = json.loads(golden.path.read_text())
    data["checks"]["output"]["torch-cpu"]["array_sum64"] = bad
    golden.path.write_text(json.dumps(data))
    with pytest.raises(GoldenError, match=r"field 'array_sum64': expected sum64:<16 hex digits>"):
        GoldenFile.load(golden.path, "t.py::test").entry("output", "torch-cpu")


def test_the_crc32_stays_what_zip_tools_check(tmp_path):
    golden = write(tmp_path, np.arange(100, dtype=np.float32))
    path = golden.array_path("output", "torch-cpu")
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        member = zf.read("values.npy")
        assert zf.getinfo("values.npy").CRC == zlib.crc32(member)
