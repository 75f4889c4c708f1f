"""npz.py: the .npz a golden's arrays are written as, made of their own memory, is the one np.savez makes."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from pytest_repro import npz
from pytest_repro.store import _read, save_arrays

ARRAYS = {
    "float32 image": np.random.default_rng(0).random((1, 8, 8, 3), dtype=np.float32),
    "fortran": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    "strided view": np.arange(40, dtype=np.int16).reshape(5, 8)[::2, 1::3],
    "0-d": np.array(1.5, np.float16),
    "empty": np.zeros((0, 4), np.float32),
    "bool": np.arange(7) % 3 == 0,
    "uint64": np.array([0, 2**64 - 1], np.uint64),
}


def written(members: dict[str, np.ndarray]) -> bytes:
    parts, _, _ = npz.stored(members)
    return b"".join(parts)


def savez(members: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    return buffer.getvalue()


@pytest.mark.parametrize("name", list(ARRAYS))
def test_members_hold_what_np_savez_stores(name):
    array = ARRAYS[name]
    members = {"values": array, "index": np.arange(3, dtype=np.int64)}
    ours, numpys = zipfile.ZipFile(io.BytesIO(written(members))), zipfile.ZipFile(io.BytesIO(savez(members)))
    assert ours.testzip() is None  # every member's bytes match the CRC-32 the directory records
    assert ours.namelist() == numpys.namelist() == ["values.npy", "index.npy"]
    for member in ours.namelist():
        assert ours.read(member) == numpys.read(member)  # the same .npy, header and data, byte for byte
        assert ours.getinfo(member).CRC == numpys.getinfo(member).CRC
        assert ours.getinfo(member).compress_type == zipfile.ZIP_STORED
    with np.load(io.BytesIO(written(members)), allow_pickle=False) as loaded:
        assert np.array_equal(loaded["values"], array) and loaded["values"].dtype == array.dtype


def test_the_crcs_returned_are_the_directorys(tmp_path):
    members = {"values": ARRAYS["float32 image"], "index": np.arange(5)}
    _, crcs, _ = npz.stored(members)
    with zipfile.ZipFile(io.BytesIO(written(members))) as zf:
        assert crcs == {"values": zf.getinfo("values.npy").CRC, "index": zf.getinfo("index.npy").CRC}


def test_the_same_arrays_give_the_same_bytes():  # a regen of an unchanged output changes nothing in git
    assert written({"values": ARRAYS["fortran"]}) == written({"values": ARRAYS["fortran"].copy(order="F")})


def test_the_store_reads_it_back_through_its_own_reader(tmp_path):
    for name, array in ARRAYS.items():
        path = tmp_path / f"{len(name)}.npz"
        save_arrays(path, array, None)
        values, index, crcs = _read(path)
        assert np.array_equal(values, array) and values.dtype == array.dtype and index is None, name
        fortran_only = array.flags.f_contiguous and not array.flags.c_contiguous
        assert (values.flags.f_contiguous if fortran_only else values.flags.c_contiguous), name


def test_beyond_zip32_sizes_numpys_zip64_writer_takes_over(monkeypatch):
    monkeypatch.setattr(npz, "ZIP32", 100)
    members = {"values": np.arange(50.0)}  # 400 bytes: "too large" here
    parts, crcs, sums = npz.stored(members)
    assert len(parts) == 1 and sums == {}  # np.savez's bytes, whole: their CRC-32s check them
    with zipfile.ZipFile(io.BytesIO(parts[0])) as zf:
        assert zf.testzip() is None and crcs == {"values": zf.getinfo("values.npy").CRC}
        assert zf.namelist() == ["values.npy"]  # no stray member (older numpy saves unknown keywords as arrays)
        assert np.array_equal(np.load(io.BytesIO(zf.read("values.npy"))), members["values"])


def test_no_copy_of_a_contiguous_array_is_made():
    array = ARRAYS["float32 image"]
    _, data = npz.npy(array)
    assert np.shares_memory(np.frombuffer(data, np.uint8), array)


def test_np_saves_headers_are_read_without_numpys_literal_parser(tmp_path, monkeypatch):
    from pytest_repro import store

    def no_literal_parse(*args, **kwargs):
        raise AssertionError("numpy's header reader used for a header np.save wrote")

    monkeypatch.setattr(np.lib.format, "read_array_header_1_0", no_literal_parse)
    for name, array in ARRAYS.items():
        path = tmp_path / f"{len(name)}.npz"
        save_arrays(path, array, np.arange(3))
        values, index, _ = store._read(path)
        assert np.array_equal(values, array) and values.dtype == array.dtype and values.shape == array.shape, name
        assert np.array_equal(index, np.arange(3))


def test_an_unusual_header_goes_to_numpys_reader_and_a_lying_one_is_an_error(tmp_path):
    from pytest_repro import store
    from pytest_repro.store import GoldenError

    path = tmp_path / "odd.npz"
    array = np.arange(6, dtype=np.float32)
    with zipfile.ZipFile(path, "w") as zf:  # same array, header keys in another order and spacing
        header = b"{'shape': (6,), 'fortran_order': False, 'descr': '<f4'}"
        header += b" " * (-(len(header) + 11) % 64) + b"\n"
        zf.writestr("values.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + array.tobytes())
    values, _, _ = store._read(path)
    assert np.array_equal(values, array)
    with zipfile.ZipFile(path, "w") as zf:  # a header claiming 10**15 values: refused before allocating
        header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000000,), }"
        header += b" " * (-(len(header) + 11) % 64) + b"\n"
        zf.writestr("values.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + array.tobytes())
    with pytest.raises(GoldenError, match="the array needs 4000000000000"):
        store._read(path)


def test_a_compressed_archive_holds_only_its_members_and_the_store_reads_it(tmp_path):
    values, index = ARRAYS["float32 image"], np.arange(4)
    save_arrays(tmp_path / "c.npz", values, index, compress=True)
    with zipfile.ZipFile(tmp_path / "c.npz") as zf:
        assert zf.namelist() == ["values.npy", "index.npy"]
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    loaded, loaded_index, crcs = _read(tmp_path / "c.npz")
    assert np.array_equal(loaded, values) and np.array_equal(loaded_index, index) and set(crcs) == {"array", "index"}
