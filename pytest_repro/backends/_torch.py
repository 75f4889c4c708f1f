"""What every PyTorch backend shares: CPU generators, determinism switches, tensor conversion."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from typing import Any

from .base import Backend, env_var

# cuBLAS needs this before CUDA starts to be deterministic. ":4096:8", not ":16:8": with the smaller
# workspace torch 2.11 on an H100 warns on every nn.Linear ("Requested unified CUBLASLT workspace
# size ... exceeds CUBLAS workspace size"), which fails any suite run with filterwarnings=error.
CUBLAS_WORKSPACE = ":4096:8"


@functools.cache
def _version() -> str:
    import torch

    return str(torch.__version__)  # a TorchVersion object can't cross xdist's wire


def _cpu_only(torch: Any) -> bool:
    """No device but the CPU for torch to seed in this process: no CUDA, MPS, XPU or MTIA, and no
    out-of-tree device (torch_npu registers one) that torch.manual_seed would seed too."""
    return _no_device_module(torch) and not hasattr(torch, torch._C._get_privateuse1_backend_name())


@functools.cache
def _no_device_module(torch: Any) -> bool:
    # Whether a device is present doesn't change within a process; asking the driver may cost, once.
    modules = (torch.cuda, getattr(torch.backends, "mps", None), getattr(torch, "xpu", None),
               getattr(torch, "mtia", None))
    return not any(module is not None and module.is_available() for module in modules)


def _set_deterministic(torch: Any, mode: bool, warn_only: bool) -> None:
    """``torch.use_deterministic_algorithms``, without its import of ``torch._inductor.config``.

    That import loads dynamo and inductor: 0.7-2.4 s, in every session, for a setting that matters only
    to ``torch.compile``. Where inductor is already loaded, its flag is set as torch sets it; where it isn't,
    the TORCHINDUCTOR_DETERMINISTIC variable (set by ``deterministic()``) gives it the same value if a
    test imports it, and switching off below resets the flag it then read.
    """
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None:  # a torch without the private switch: the public one, import and all
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
        return
    inductor: Any = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = mode
    set_flag(mode, warn_only=warn_only)


class TorchBackend(Backend):
    framework = "torch"

    def seed_all(self, seed: int) -> None:
        import torch

        if _cpu_only(torch):
            # All torch.manual_seed would seed: it queues the seed for CUDA, XPU and MTIA too, which a
            # process without them never starts, capturing a stack trace for each (~1 ms a test).
            torch.default_generator.manual_seed(seed)
        else:
            torch.manual_seed(seed)  # also seeds every CUDA device, lazily

    def rng_state(self) -> Any:
        import torch

        # CUDA's states only once CUDA has started; before that it holds the seed seed_all queued for it.
        return torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    def set_rng_state(self, state: Any) -> None:
        import torch

        cpu, cuda = state
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)

    def generator(self, seed: int) -> Any:
        import torch

        # A CPU generator even for CUDA/NPU pipelines, as diffusers recommends: the starting noise is
        # then the same on every device (a CUDA generator draws a different image: L_inf 1.0 on H100).
        return torch.Generator(device="cpu").manual_seed(seed)

    @contextlib.contextmanager
    def deterministic(self, enabled: bool) -> Iterator[None]:
        if not enabled:
            yield
            return
        import torch

        cudnn = torch.backends.cudnn
        matmul = torch.backends.cuda.matmul
        saved = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            cudnn.benchmark,
            cudnn.deterministic,
            matmul.allow_tf32,
            cudnn.allow_tf32,
        )
        workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG") or CUBLAS_WORKSPACE
        # Inductor reads TORCHINDUCTOR_DETERMINISTIC when it is first imported (see _set_deterministic).
        with env_var("CUBLAS_WORKSPACE_CONFIG", workspace), env_var("TORCHINDUCTOR_DETERMINISTIC", "1"), \
                self._extra_env():
            _set_deterministic(torch, True, False)
            cudnn.benchmark = False
            cudnn.deterministic = True
            # TF32 moves an SD-sized UNet's latents by 0.29 L_inf after 10 steps on an H100.
            matmul.allow_tf32 = False
            cudnn.allow_tf32 = False
            try:
                yield
            finally:
                _set_deterministic(torch, saved[0], saved[1])
                cudnn.benchmark, cudnn.deterministic = saved[2], saved[3]
                matmul.allow_tf32, cudnn.allow_tf32 = saved[4], saved[5]

    def _extra_env(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def fingerprint(self) -> dict[str, Any]:
        import torch

        fp = super().fingerprint()
        fp.update(
            torch=_version(),
            threads=torch.get_num_threads(),
            deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
            cudnn_benchmark=torch.backends.cudnn.benchmark,
        )
        return fp
