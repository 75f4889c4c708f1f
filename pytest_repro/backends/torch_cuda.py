"""PyTorch on an NVIDIA GPU."""

from __future__ import annotations

import functools
from typing import Any

from ._torch import TorchBackend
from .base import has_module


class TorchCUDA(TorchBackend):
    device_kind = "cuda"

    def unavailable_reason(self) -> str | None:
        if not has_module("torch"):
            return "backend torch-cuda needs PyTorch with CUDA: pip install torch (a CUDA build)"
        import torch

        if not torch.cuda.is_available():
            built = torch.version.cuda
            why = "this torch build has no CUDA" if built is None else f"torch (CUDA {built}) sees no GPU"
            return (f"backend torch-cuda: {why} (looked for torch.cuda.is_available()); run on a machine with an "
                    "NVIDIA GPU and a CUDA build of PyTorch")
        return None

    def fingerprint(self) -> dict[str, Any]:
        import torch

        fp = super().fingerprint()
        fp.update(_device(torch.cuda.current_device()))
        return fp


@functools.cache  # a device's name and the library versions don't change within a process
def _device(index: int) -> dict[str, Any]:
    import torch

    return {"device_name": torch.cuda.get_device_name(index),
            "capability": ".".join(map(str, torch.cuda.get_device_capability(index))),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
