"""PyTorch on Huawei Ascend through torch_npu.

torch_npu is detected with ``find_spec`` and imported only once a test asks for this backend:
without Ascend's CANN libraries, importing it makes ``import torch`` itself fail.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ._torch import TorchBackend
from .base import cann_version, dist_version, env_var, has_module


class TorchNPU(TorchBackend):
    device_kind = "ascend"

    @property
    def device(self) -> str:
        return "npu"

    def unavailable_reason(self) -> str | None:
        if not has_module("torch_npu"):
            return (
                "backend torch-ascend needs torch_npu and Ascend's CANN toolkit "
                "(looked for the torch_npu module): pip install torch-npu"
            )
        try:
            import torch
            import torch_npu  # noqa: F401  (registers torch.npu)
        except Exception as exc:  # torch_npu without CANN raises from deep inside torch
            return f"backend torch-ascend: torch_npu is installed but failed to load ({exc})"
        if not torch.npu.is_available():  # type: ignore[attr-defined]
            return "backend torch-ascend: torch_npu sees no NPU (looked for torch.npu.is_available())"
        return None

    def seed_all(self, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        torch.npu.manual_seed_all(seed)  # type: ignore[attr-defined]

    def _extra_env(self) -> contextlib.AbstractContextManager[None]:
        return env_var("HCCL_DETERMINISTIC", "true")

    def fingerprint(self) -> dict[str, Any]:
        import torch

        npu: Any = torch.npu  # type: ignore[attr-defined]  # registered by torch_npu
        fp = super().fingerprint()
        fp.update(
            device_name=npu.get_device_name(npu.current_device()),
            cann=getattr(torch.version, "cann", None) or cann_version(),
            torch_npu=dist_version("torch-npu"),
        )
        return fp
