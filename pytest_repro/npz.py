"""An uncompressed ``.npz`` made of the arrays' own memory: what ``np.savez`` writes, without its copies.

``np.savez`` copies the array into bytes (``tobytes``), zipfile copies those into its stream, and the
stream is copied again to reach the file: three copies of a golden on every ``--repro-regen``, half its
time for 3 MB. Here each member is a few header bytes plus a view of the array, written as they are
(``files.write_files`` takes the parts). The members are the ones ``np.savez`` stores (``values.npy``
and ``index.npy``, the same bytes and CRC-32s, fixed 1980 timestamps, so the same output gives the same
file); the archive around them is a plain zip, without the zip64 fields ``np.savez`` always adds. Zip
tools, ``np.load`` and older pytest-repro read it.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np

_LOCAL = struct.Struct("<4sHHHHHLLLHH")  # signature, version, flags, method, time, date, crc, sizes, name, extra
_CENTRAL = struct.Struct("<4sHHHHHHLLLHHHHHLL")  # ... comment length, disk, attributes, local header offset
_END = struct.Struct("<4sHHHHLLH")
_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01 in DOS form: np.savez's own
_ATTRIBUTES = 0o600 << 16  # what zipfile gives a member it writes from bytes
ZIP32 = 0xFFFFFFFF  # from this on a size or an offset needs zip64 (the value itself means "see zip64")
_MADE_BY = (3 << 8) | 20  # Unix, zip 2.0: so unzip reads the permissions in the external attributes

Part = bytes | memoryview
Written = tuple[list[Part], dict[str, int], dict[str, str]]  # the file's parts, members' CRC-32s and sum64s


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


def sum64(header: bytes, data: Any) -> str:
    """A member's checksum: its bytes (``.npy`` header, then data) as little-endian 64-bit words, zero
    padded at the end, summed modulo 2**64.

    One integer pass, ~15x faster than zlib's CRC-32 and ~30x than sha256. It tells a flipped bit, any
    damage within one word, a truncated or foreign file. It is weaker than a CRC-32 against several
    errors at once: two flips of the same bit in different words, one each way, cancel out. It guards
    against damage, not tampering (the entry beside the file is plain text anyway).
    """
    if len(header) % 8:  # np.save's headers end on a word; another writer's may not: join them (a copy)
        header, data = b"", memoryview(bytes(header) + bytes(data))
    total = _words(memoryview(header)) + _words(memoryview(data).cast("B"))
    return f"sum64:{total % 2**64:016x}"


def _words(data: memoryview) -> int:
    whole = len(data) - len(data) % 8
    total = int(np.add.reduce(np.frombuffer(data[:whole], dtype="<u8"), dtype=np.uint64)) if whole else 0
    return total + int.from_bytes(bytes(data[whole:]), "little")  # the last 0-7 bytes, a word padded with zeros


def stored(members: dict[str, np.ndarray]) -> Written:
    """The parts of an uncompressed ``.npz`` holding ``members`` (name: array), each member's CRC-32, and
    each member's :func:`sum64` (none from numpy's writer past 4 GiB: the CRC-32s check those)."""
    parts: list[Part] = []
    central: list[bytes] = []
    crcs: dict[str, int] = {}
    sums: dict[str, str] = {}
    offset = 0
    for name, array in members.items():
        header, data = npy(array)
        filename = f"{name}.npy".encode("ascii")
        size = len(header) + data.nbytes
        if size >= ZIP32 or offset >= ZIP32:
            return by_numpy(members)
        crc = zlib.crc32(data, zlib.crc32(header))
        crcs[name], sums[name] = crc, sum64(header, data)
        parts += [_LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, _DATE, crc, size, size, len(filename), 0), filename,
                  header, data]
        central.append(_CENTRAL.pack(b"PK\x01\x02", _MADE_BY, 20, 0, 0, 0, _DATE, crc, size, size, len(filename),
                                     0, 0, 0, 0, _ATTRIBUTES, offset) + filename)
        offset += _LOCAL.size + len(filename) + size
    directory = b"".join(central)
    if offset >= ZIP32:
        return by_numpy(members)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), offset, 0)
    return [*parts, directory, end], crcs, sums


def by_numpy(members: dict[str, np.ndarray], compress: bool = False) -> Written:
    """numpy's own writer, copies and all: from 4 GiB on (zip64), or compressed (to measure the difference).
    No sum64s: the CRC-32s check these members."""
    import zipfile

    buffer = io.BytesIO()
    save = np.savez_compressed if compress else np.savez
    save(buffer, **members)  # type: ignore[arg-type]  # (no allow_pickle=: numpy < 2.2 saves it as an array)
    with zipfile.ZipFile(buffer) as zf:
        crcs = {info.filename.removesuffix(".npy"): info.CRC for info in zf.infolist()}
    return [buffer.getvalue()], crcs, {}
