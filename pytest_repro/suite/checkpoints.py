"""Tiny diffusers checkpoints, generated from a seed and shipped, so no model hub is needed.

``python -m pytest_repro make-checkpoints`` writes them again. The UNet is diffusers' own fast-test
configuration; with ``torch.manual_seed(0)`` before construction, 2 DDIM steps from a CPU generator
seeded 0 give ``np.abs(image).sum() == 1569.593``, as diffusers' tests do.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent / "checkpoints"
TINY_DDPM = HERE / "tiny-ddpm-32"
INIT_SEED = 0

UNET_CONFIG = dict(
    block_out_channels=(32, 64),
    layers_per_block=2,
    sample_size=32,
    in_channels=3,
    out_channels=3,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
)


def build_tiny_ddpm():
    """The pipeline, built in memory from the config and the init seed."""
    import torch
    from diffusers import DDIMPipeline, DDIMScheduler, UNet2DModel

    torch.manual_seed(INIT_SEED)
    unet = UNet2DModel(**UNET_CONFIG)
    return DDIMPipeline(unet=unet, scheduler=DDIMScheduler())


def write_checkpoints(root: Path = HERE) -> list[Path]:
    """Write every tiny checkpoint under ``root`` with ``save_pretrained`` (safetensors)."""
    folder = root / TINY_DDPM.name
    build_tiny_ddpm().save_pretrained(folder, safe_serialization=True)
    return [folder]


def shared_noise(seed: int, shape=(1, 3, 32, 32)):
    """Starting noise both frameworks can take: numpy's PCG64, as mindone draws it, in float32."""
    import numpy as np

    return np.random.Generator(np.random.PCG64(seed)).standard_normal(shape, dtype=np.float32)
