"""PyTorch on Huawei Ascend through torch_npu.

torch_npu is detected with ``find_spec`` and imported only once a test asks for this backend:
without Ascend's CANN libraries, importing it makes ``import torch`` itself fail.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from . import precision
from ._torch import TorchBackend
from .base import cann_version, dist_version, env_var, has_module


def _loaded_torch_npu() -> Any:
    """torch_npu as unavailable_reason() imported it, or ``None``: never imported from here, since
    importing it without CANN breaks ``import torch`` (and with nothing loaded there is nothing to pin)."""
    return sys.modules.get("torch_npu")


class TorchNPU(TorchBackend):
    device_kind = "ascend"
    # The plugin sets this from --repro-precision-mode before setup(); "vendor" pins nothing.
    precision_mode = precision.DEFAULT_MODE

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

    def setup(self) -> str | None:
        # A torch_npu without set_option or the HF32 switches (or a mode its set_option refuses)
        # skips here, naming the setting and version, rather than fail inside the test.
        return precision.torch_npu_reason(_loaded_torch_npu(), self.precision_mode)

    def seed_all(self, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        torch.npu.manual_seed_all(seed)  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def deterministic(self, enabled: bool) -> Iterator[None]:
        with super().deterministic(enabled):
            if not enabled:  # the vendor's defaults stay, as torch's TF32 does
                yield
                return
            # HF32 off for the block and restored, like TF32; the precision mode once per process.
            with precision.torch_npu_pinned(_loaded_torch_npu(), self.precision_mode):
                yield

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
        fp.update(precision.torch_npu_fingerprint(_loaded_torch_npu()))  # precision_mode, hf32_conv/matmul
        return fp
