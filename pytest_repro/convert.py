"""Turn whatever a pipeline returned into one numpy array, remembering its original dtype.

Accepted: numpy arrays, torch tensors on any device, MindSpore tensors, PIL images, diffusers
output objects (``.images``, ``.frames``, ``.audios``...), and lists or tuples of those. Frameworks
are looked up in ``sys.modules``: an object of a framework that was never imported can't exist.
Only booleans, integers and floats of at most 64 bits are compared; anything else (complex, strings,
objects, structured, sparse or meta tensors) is an :class:`UnsupportedOutput` saying what to pass instead.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

# diffusers output classes are OrderedDicts; these fields hold the result, in this order.
OUTPUT_FIELDS = ("images", "frames", "audios", "videos", "sample", "latents", "prev_sample")
MAX_NESTING = 32  # lists of lists of...: deeper is no pipeline output, and would exhaust the stack


class UnsupportedOutput(TypeError):
    pass


# What each refused kind of numpy dtype is, and what to pass instead.
_REFUSED = {
    "c": "complex values ({dtype}): compare their parts, check(x.real) and check(x.imag) "
         "(torch.view_as_real(x) for a tensor)",
    "O": "Python objects ({dtype}), such as integers beyond int64: convert it to a numeric dtype",
    "U": "text ({dtype}): there are no numbers to compare",
    "S": "bytes ({dtype}): there are no numbers to compare",
    "V": "a structured or void dtype ({dtype}): check its numeric fields one by one",
    "M": "dates ({dtype}): convert them to numbers",
    "m": "time spans ({dtype}): convert them to numbers",
}


def comparable(array: np.ndarray, dtype: str) -> tuple[np.ndarray, str]:
    """``(array, dtype)`` if the harness can compare it (native byte order), else :class:`UnsupportedOutput`."""
    kind = array.dtype.kind
    if kind in _REFUSED:
        raise UnsupportedOutput("cannot check " + _REFUSED[kind].format(dtype=array.dtype))
    if kind not in "biuf" or array.dtype.itemsize > 8:
        raise UnsupportedOutput(f"cannot check {array.dtype} values exactly; cast to float64 first")
    if not array.dtype.isnative:  # '>f4' is float32 too: one name, one golden
        array = array.astype(array.dtype.newbyteorder("="))
        dtype = str(array.dtype)
    return array, dtype


def _torch_tensor(torch: Any, obj: Any) -> tuple[np.ndarray, str]:
    dtype = str(obj.dtype).removeprefix("torch.")
    if obj.is_meta:
        raise UnsupportedOutput("cannot check a meta tensor: it has a shape but no values")
    if obj.layout != torch.strided:
        raise UnsupportedOutput(f"cannot check a {obj.layout} tensor as it is: pass tensor.to_dense()")
    if obj.is_quantized:
        raise UnsupportedOutput("cannot check a quantized tensor as it is: pass tensor.dequantize()")
    try:
        tensor = obj.detach().cpu().resolve_conj().resolve_neg()
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
            tensor = tensor.float()
        return tensor.numpy(), dtype
    except (TypeError, RuntimeError) as exc:  # float8, nested tensors, dtypes numpy lacks
        raise UnsupportedOutput(f"cannot check a {dtype} tensor: numpy can't hold it ({exc})") from None


def _framework_tensor(obj: Any) -> tuple[np.ndarray, str] | None:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        return _torch_tensor(torch, obj)
    mindspore = sys.modules.get("mindspore")
    if mindspore is not None and isinstance(obj, mindspore.Tensor):
        bf16 = "bfloat16" in str(obj.dtype).lower()
        try:
            array = (obj.astype(mindspore.float32) if bf16 else obj).asnumpy()  # one device-to-host copy
        except (TypeError, RuntimeError, ValueError) as exc:
            raise UnsupportedOutput(f"cannot check a MindSpore {obj.dtype} tensor: numpy can't hold it ({exc})") \
                from None
        return array, ("bfloat16" if bf16 else str(array.dtype))
    return None


def to_array(obj: Any) -> tuple[np.ndarray, str]:
    """Return ``(array, dtype_name)``; ``dtype_name`` is the output's own dtype (``bfloat16`` too)."""
    return comparable(*_to_array(obj, 0))


def _to_array(obj: Any, depth: int) -> tuple[np.ndarray, str]:
    if isinstance(obj, np.ndarray):
        if isinstance(obj, np.ma.MaskedArray):
            raise UnsupportedOutput("cannot check a masked array: its mask would be lost; pass a.filled(value)")
        array = np.asarray(obj)  # a subclass (np.matrix) as the plain array it holds
        return array, str(array.dtype)
    if isinstance(obj, np.generic | float | int | complex):
        array = np.asarray(obj)  # an int beyond int64 becomes an object array: refused by comparable()
        return array, str(array.dtype)
    found = _framework_tensor(obj)
    if found is not None:
        return found
    image_mod = sys.modules.get("PIL.Image")
    if image_mod is not None and isinstance(obj, image_mod.Image):
        array = np.asarray(obj)
        return array, str(array.dtype)
    if depth >= MAX_NESTING:
        raise UnsupportedOutput(f"cannot check lists or outputs nested more than {MAX_NESTING} levels deep")
    if isinstance(obj, Mapping) or (hasattr(obj, "__dataclass_fields__") and not isinstance(obj, type)):
        for name in OUTPUT_FIELDS:
            value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
            if value is not None:
                return _to_array(value, depth + 1)
        raise UnsupportedOutput(
            f"{type(obj).__name__} has none of the fields {', '.join(OUTPUT_FIELDS)}; pass the array itself"
        )
    if isinstance(obj, list | tuple):
        if not obj:
            raise UnsupportedOutput("cannot check an empty list")
        parts = [comparable(*_to_array(item, depth + 1)) for item in obj]
        shapes = {part[0].shape for part in parts}
        if len(shapes) != 1:
            raise UnsupportedOutput(f"list items have different shapes {sorted(shapes)}; check them one by one")
        stacked = np.stack([part[0] for part in parts])
        dtypes = {part[1] for part in parts}
        return stacked, (dtypes.pop() if len(dtypes) == 1 else str(stacked.dtype))
    sparse = type(obj).__module__.startswith("scipy.sparse")
    raise UnsupportedOutput(
        f"cannot check an object of type {type(obj).__module__}.{type(obj).__qualname__}: "
        + ("pass matrix.toarray()" if sparse else "pass a numpy array, a torch or MindSpore tensor, a PIL "
           "image, a diffusers output, or a list of them")
    )
