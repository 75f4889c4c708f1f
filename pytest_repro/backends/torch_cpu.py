"""PyTorch on the CPU: always available once torch is installed."""

from __future__ import annotations

from typing import Any

from ._torch import TorchBackend
from .base import cpu_name, has_module


class TorchCPU(TorchBackend):
    device_kind = "cpu"

    def unavailable_reason(self) -> str | None:
        if not has_module("torch"):
            return "backend torch-cpu needs PyTorch: pip install 'pytest-repro[torch]'"
        return None

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        fp["device_name"] = cpu_name()
        return fp
