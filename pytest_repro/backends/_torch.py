"""What every PyTorch backend shares: CPU generators, determinism switches, tensor conversion."""

from __future__ import annotations

import contextlib
import functools
import os
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


class TorchBackend(Backend):
    framework = "torch"

    def seed_all(self, seed: int) -> None:
        import torch

        torch.manual_seed(seed)  # also seeds every CUDA device, lazily

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
        with env_var("CUBLAS_WORKSPACE_CONFIG", workspace), self._extra_env():
            torch.use_deterministic_algorithms(True)
            cudnn.benchmark = False
            cudnn.deterministic = True
            # TF32 moves an SD-sized UNet's latents by 0.29 L_inf after 10 steps on an H100.
            matmul.allow_tf32 = False
            cudnn.allow_tf32 = False
            try:
                yield
            finally:
                torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
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
