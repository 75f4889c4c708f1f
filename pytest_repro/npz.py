"""An uncompressed ``.npz`` made of the arrays' own memory: what ``np.savez`` writes, without its copies.

``np.savez`` copies the array into bytes (``tobytes``), zipfile copies those into its stream, and the
stream is copied again to reach the file: three copies of a golden on every ``--repro-regen``, half its
time for 3 MB. Here each member is a few header bytes plus a view of the array, written as they are
(``files.write_files`` takes the parts). The archive is the one ``np.savez`` makes (stored members
``values.npy`` and ``index.npy``, fixed 1980 timestamps, so the same output gives the same bytes); zip
tools, ``np.load`` and older pytest-repro read it, and its CRC-32s are the ones they check.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

_LOCAL = struct.Struct("<4sHHHHHLLLHH")  # signature, version, flags, method, time, date, crc, sizes, name, extra
_CENTRAL = struct.Struct("<4sHHHHHHLLLHHHHHLL")  # ... comment length, disk, attributes, local header offset
_END = struct.Struct("<4sHHHHLLH")
_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01 in DOS form: np.savez's own
_ATTRIBUTES = 0o600 << 16  # what zipfile gives a member it writes from bytes
ZIP32 = 0xFFFFFFFF  # beyond this a size or an offset needs zip64: np.savez writes those

Part = bytes | memoryview


def npy(array: np.ndarray) -> tuple[bytes, memoryview]:
    """The ``.npy`` header ``np.save`` writes for ``array``, and the array's bytes in that file's order."""
    header = io.BytesIO()
    fields = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(header, fields)
    except ValueError:  # a header over 64 KiB (thousands of dimensions): version 2.0, as np.save does
        np.lib.format.write_array_header_2_0(header, fields)
    # Fortran order for a Fortran-only array, else C order (a strided view is copied once here)
    data = np.ravel(array, order="A").view(np.uint8).data
    return header.getvalue(), data


def stored(members: dict[str, np.ndarray]) -> tuple[list[Part], dict[str, int]]:
    """The parts of an uncompressed ``.npz`` holding ``members`` (name: array), and each member's CRC-32."""
    parts: list[Part] = []
    central: list[bytes] = []
    crcs: dict[str, int] = {}
    offset = 0
    for name, array in members.items():
        header, data = npy(array)
        filename = f"{name}.npy".encode("ascii")
        size = len(header) + data.nbytes
        crc = zlib.crc32(data, zlib.crc32(header))
        if size > ZIP32 or offset > ZIP32:
            return _savez(members)
        crcs[name] = crc
        parts += [_LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, _DATE, crc, size, size, len(filename), 0), filename,
                  header, data]
        central.append(_CENTRAL.pack(b"PK\x01\x02", 20, 20, 0, 0, 0, _DATE, crc, size, size, len(filename), 0, 0,
                                     0, 0, _ATTRIBUTES, offset) + filename)
        offset += _LOCAL.size + len(filename) + size
    directory = b"".join(central)
    if offset > ZIP32:
        return _savez(members)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), offset, 0)
    return [*parts, directory, end], crcs


def _savez(members: dict[str, np.ndarray]) -> tuple[list[Part], dict[str, int]]:
    """Over 4 GiB: numpy's own writer (zip64), copies and all."""
    import zipfile

    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **members)
    with zipfile.ZipFile(buffer) as zf:
        crcs = {info.filename.removesuffix(".npy"): info.CRC for info in zf.infolist()}
    return [buffer.getvalue()], crcs
