"""MindSpore on CPU, NVIDIA GPU and Huawei Ascend (mindone.diffusers pipelines run here).

mindone pipelines draw their noise from numpy, so the generator is ``np.random.Generator(PCG64)``;
called without one they use an unseeded numpy RNG that ``mindspore.set_seed`` does not fix.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from . import precision
from .base import Backend, cann_version, cpu_name, dist_version, has_module

# mindone releases whose pipelines use mindspore.mint ops without CPU kernels ("The kernel Arange
# unregistered", "Unsupported op [Conv2DExt]"): on CPU they fail deep inside MindSpore.
MINDONE_CPU_BROKEN_FROM = (0, 4)


class DeterminismUnavailable(RuntimeError):
    """The test asked for a determinism state this process can no longer reach."""


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def deterministic_state() -> bool:
    import mindspore

    value = mindspore.get_context("deterministic")
    return str(value).upper() == "ON" or value is True


class MindSporeBackend(Backend):
    framework = "mindspore"
    ms_device = ""  # the name mindspore.set_device takes
    # The plugin sets this from --repro-precision-mode before setup(); "vendor" pins nothing.
    precision_mode = precision.DEFAULT_MODE

    def _device_reason(self, mindspore: Any) -> str | None:
        return None

    def unavailable_reason(self) -> str | None:
        if not has_module("mindspore"):
            return (f"backend {self.key} needs MindSpore (looked for the mindspore module): pip install mindspore, "
                    "in its own environment if diffusers 0.42 is here, for mindone.diffusers on CPU: pip install "
                    "'pytest-repro[mindone]' mindone==0.3.0 'numpy<2'")
        try:
            import mindspore
        except Exception as exc:  # a broken install must skip, not crash the session
            return f"backend {self.key}: mindspore is installed but failed to import ({exc})"
        return self._device_reason(mindspore)

    def mindone_reason(self) -> str | None:
        """Why mindone.diffusers can't run on this device here, or ``None``; suites skip on it."""
        version = dist_version("mindone")
        if version is None:
            return "mindone is not installed: pip install mindone==0.3.0 (the release that runs on CPU)"
        if self.device_kind == "cpu" and _version_tuple(version) >= MINDONE_CPU_BROKEN_FROM:
            return (
                f"mindone {version} uses mindspore.mint ops that have no CPU kernel; on CPU use "
                "mindone 0.3.0 (pip install mindone==0.3.0 'numpy<2'), or run with --repro-backend=ascend"
            )
        return None

    def setup(self) -> str | None:
        import mindspore

        current = getattr(mindspore, "get_current_device", None)
        try:
            if current is None or getattr(current(), "device_target", None) != self.ms_device:
                mindspore.set_device(self.ms_device)
        except RuntimeError as exc:
            # MindSpore fixes the device once per process: running on another one would record this
            # backend's golden from the wrong device.
            fixed = getattr(current(), "device_target", "another device") if current is not None else "another device"
            return (f"backend {self.key}: this process already runs MindSpore on {fixed} "
                    f"(mindspore.set_device({self.ms_device!r}): {exc}); run {self.key} in its own pytest run")
        # A MindSpore without the op_precision setters this mode needs skips here, before the test,
        # rather than fail inside it.
        return precision.mindspore_reason(mindspore, self.device_kind, self.precision_mode)

    def seed_all(self, seed: int) -> None:
        import mindspore

        mindspore.set_seed(seed)

    def generator(self, seed: int) -> Any:
        import numpy as np

        return np.random.Generator(np.random.PCG64(seed))

    @contextlib.contextmanager
    def deterministic(self, enabled: bool) -> Iterator[None]:
        if enabled:
            import mindspore

            # mindspore.set_deterministic may be called once per process (a second call raises), and
            # can't be undone: switch it on the first time it is asked for, and keep it on.
            if not deterministic_state():
                try:
                    mindspore.set_deterministic(True)
                except RuntimeError as exc:
                    raise DeterminismUnavailable(
                        "MindSpore determinism can be set once per process and this process already set it "
                        f"off ({exc}); run this test in its own process (pytest -p no:xdist -k ...) or with "
                        "--repro-deterministic for the whole run"
                    ) from None
            # The op_precision setters follow the same rule (MindSpore raises "can not be set
            # repeatedly" for a second, different value): pinned here, under determinism only, so
            # --repro-no-deterministic keeps the vendor's defaults as it keeps torch's TF32.
            precision.pin_mindspore(mindspore, self.device_kind, self.precision_mode)
        yield

    def fingerprint(self) -> dict[str, Any]:
        import mindspore

        fp = super().fingerprint()
        mode = mindspore.get_context("mode")
        fp.update(
            mindspore=dist_version("mindspore"),
            mindone=dist_version("mindone"),
            mode="GRAPH" if mode == getattr(mindspore, "GRAPH_MODE", 0) else "PYNATIVE",
            deterministic=deterministic_state(),
            threads=int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1),
            device_name=self._device_name(mindspore),
        )
        fp.update(precision.mindspore_fingerprint(self.device_kind))  # Ascend: HF32, mode; GPU: TF32
        if self.device_kind == "ascend":
            fp["cann"] = cann_version()
        return fp

    def _device_name(self, mindspore: Any) -> str:
        return cpu_name()


class MindSporeCPU(MindSporeBackend):
    device_kind = "cpu"
    ms_device = "CPU"


class MindSporeGPU(MindSporeBackend):
    device_kind = "cuda"
    ms_device = "GPU"

    def _device_reason(self, mindspore: Any) -> str | None:
        gpu = getattr(getattr(mindspore, "device_context", None), "gpu", None)
        if gpu is None or not gpu.is_available():
            return "backend mindspore-cuda: MindSpore sees no GPU (looked for device_context.gpu.is_available())"
        return None

    def _device_name(self, mindspore: Any) -> str:
        return "GPU"


class MindSporeAscend(MindSporeBackend):
    device_kind = "ascend"
    ms_device = "Ascend"

    def _device_reason(self, mindspore: Any) -> str | None:
        ascend = getattr(getattr(mindspore, "device_context", None), "ascend", None)
        if ascend is None or not ascend.is_available():
            return (
                "backend mindspore-ascend: MindSpore sees no Ascend NPU (looked for "
                "mindspore.device_context.ascend.is_available(); needs the CANN toolkit and an NPU)"
            )
        return None

    def _device_name(self, mindspore: Any) -> str:
        return f"Ascend (CANN {cann_version() or 'unknown'})"
