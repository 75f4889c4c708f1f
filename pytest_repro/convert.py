"""Turn whatever a pipeline returned into one numpy array, remembering its original dtype.

Accepted: numpy arrays, torch tensors on any device, MindSpore tensors, PIL images, diffusers
output objects (``.images``, ``.frames``, ``.audios``...), and lists or tuples of those. Frameworks
are looked up in ``sys.modules``: an object of a framework that was never imported can't exist.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

# diffusers output classes are OrderedDicts; these fields hold the result, in this order.
OUTPUT_FIELDS = ("images", "frames", "audios", "videos", "sample", "latents", "prev_sample")


class UnsupportedOutput(TypeError):
    pass


def _framework_tensor(obj: Any) -> tuple[np.ndarray, str] | None:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        dtype = str(obj.dtype).removeprefix("torch.")
        tensor = obj.detach().cpu()
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
            tensor = tensor.float()
        return tensor.numpy(), dtype
    mindspore = sys.modules.get("mindspore")
    if mindspore is not None and isinstance(obj, mindspore.Tensor):
        bf16 = "bfloat16" in str(obj.dtype).lower()
        array = (obj.astype(mindspore.float32) if bf16 else obj).asnumpy()  # one device-to-host copy
        return array, ("bfloat16" if bf16 else str(array.dtype))
    return None


def to_array(obj: Any) -> tuple[np.ndarray, str]:
    """Return ``(array, dtype_name)``; ``dtype_name`` is the output's own dtype (``bfloat16`` too)."""
    if isinstance(obj, np.ndarray):
        return obj, str(obj.dtype)
    if isinstance(obj, np.generic | float | int):
        array = np.asarray(obj)
        return array, str(array.dtype)
    found = _framework_tensor(obj)
    if found is not None:
        return found
    image_mod = sys.modules.get("PIL.Image")
    if image_mod is not None and isinstance(obj, image_mod.Image):
        array = np.asarray(obj)
        return array, str(array.dtype)
    if isinstance(obj, Mapping) or hasattr(obj, "__dataclass_fields__"):
        for name in OUTPUT_FIELDS:
            value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
            if value is not None:
                return to_array(value)
        raise UnsupportedOutput(
            f"{type(obj).__name__} has none of the fields {', '.join(OUTPUT_FIELDS)}; pass the array itself"
        )
    if isinstance(obj, list | tuple):
        if not obj:
            raise UnsupportedOutput("cannot check an empty list")
        parts = [to_array(item) for item in obj]
        shapes = {part[0].shape for part in parts}
        if len(shapes) != 1:
            raise UnsupportedOutput(f"list items have different shapes {sorted(shapes)}; check them one by one")
        stacked = np.stack([part[0] for part in parts])
        dtypes = {part[1] for part in parts}
        return stacked, (dtypes.pop() if len(dtypes) == 1 else str(stacked.dtype))
    raise UnsupportedOutput(
        f"cannot check an object of type {type(obj).__module__}.{type(obj).__qualname__}: pass a numpy "
        "array, a torch or MindSpore tensor, a PIL image, a diffusers output, or a list of them"
    )
