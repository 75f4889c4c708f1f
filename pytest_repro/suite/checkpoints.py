"""Tiny diffusers checkpoints, generated from a seed and shipped, so no model hub is needed.

``python -m pytest_repro make-checkpoints`` writes them again, byte for byte. Every model is diffusers'
own fast-test configuration, built after ``torch.manual_seed(INIT_SEED)`` as those tests build it:

- ``tiny-ddpm-32``: the UNet of the DDIM/DDPM/PNDM tests; 2 DDIM steps from a CPU generator seeded 0
  give ``np.abs(image).sum() == 1569.593``, as diffusers' tests do.
- ``tiny-sd``: Stable Diffusion text-to-image (UNet2DConditionModel, AutoencoderKL, CLIP text model),
  with a CLIP tokenizer made here (``tokenizer.py``) where diffusers downloads one. Needs transformers.
- ``tiny-dit``: DiT (DiTTransformer2DModel, the default AutoencoderKL, DDIM).
- ``tiny-ldm``: unconditional latent diffusion (VQModel, DDIM). Its fast-test UNet is built from the
  same config after the same seed as tiny-ddpm-32's, so it is not shipped twice: load the pipeline
  with ``unet=`` (see :func:`ldm_unet`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "checkpoints"
TINY_DDPM = HERE / "tiny-ddpm-32"
TINY_SD = HERE / "tiny-sd"
TINY_DIT = HERE / "tiny-dit"
TINY_LDM = HERE / "tiny-ldm"
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
SD_UNET_CONFIG = dict(
    block_out_channels=(4, 8),
    layers_per_block=1,
    sample_size=32,
    in_channels=4,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=32,
    norm_num_groups=2,
)
SD_VAE_CONFIG = dict(
    block_out_channels=(4, 8),
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
    up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
    latent_channels=4,
    norm_num_groups=2,
)
# steps_offset=1 as in Stable Diffusion 1.x's own scheduler config (diffusers warns about 0).
SD_SCHEDULER_CONFIG = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                           clip_sample=False, set_alpha_to_one=False, steps_offset=1)
CLIP_TEXT_CONFIG: dict[str, Any] = dict(hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
                                         num_attention_heads=4, num_hidden_layers=5, vocab_size=1000)
DIT_CONFIG = dict(
    sample_size=16,
    num_layers=2,
    patch_size=4,
    attention_head_dim=8,
    num_attention_heads=2,
    in_channels=4,
    out_channels=8,
    attention_bias=True,
    activation_fn="gelu-approximate",
    num_embeds_ada_norm=1000,
    norm_type="ada_norm_zero",
    norm_elementwise_affine=False,
)
VQ_CONFIG = dict(
    block_out_channels=(32, 64),
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
    up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
    latent_channels=3,
)


def has_transformers() -> bool:
    return importlib.util.find_spec("transformers") is not None


def build_tiny_ddpm() -> Any:
    """The pipeline, built in memory from the config and the init seed."""
    import torch
    from diffusers import DDIMPipeline, DDIMScheduler, UNet2DModel

    torch.manual_seed(INIT_SEED)
    unet = UNet2DModel(**UNET_CONFIG)
    return DDIMPipeline(unet=unet, scheduler=DDIMScheduler())


def build_tiny_sd() -> Any:
    """Stable Diffusion as diffusers' fast tests build it; the text config takes the tokenizer's ids."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .tokenizer import tiny_clip_tokenizer

    torch.manual_seed(INIT_SEED)
    unet = UNet2DConditionModel(**SD_UNET_CONFIG)
    torch.manual_seed(INIT_SEED)
    vae = AutoencoderKL(**SD_VAE_CONFIG)
    tokenizer = tiny_clip_tokenizer()
    torch.manual_seed(INIT_SEED)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **CLIP_TEXT_CONFIG,
    ))
    return StableDiffusionPipeline(
        unet=unet, scheduler=DDIMScheduler(**SD_SCHEDULER_CONFIG), vae=vae, text_encoder=text_encoder,
        tokenizer=tokenizer, safety_checker=None, feature_extractor=None, image_encoder=None,
        requires_safety_checker=False,
    )


def build_tiny_dit() -> Any:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(INIT_SEED)
    transformer = DiTTransformer2DModel(**DIT_CONFIG)
    vae = AutoencoderKL()  # right after the transformer, no reseed: as diffusers' DiT fast test does
    return DiTPipeline(transformer=transformer, vae=vae, scheduler=DDIMScheduler())


def build_tiny_ldm() -> Any:
    import torch
    from diffusers import DDIMScheduler, LDMPipeline, VQModel

    unet = build_tiny_ddpm().unet
    torch.manual_seed(INIT_SEED)
    vqvae = VQModel(**VQ_CONFIG)
    return LDMPipeline(unet=unet, vqvae=vqvae, scheduler=DDIMScheduler())


def ldm_unet() -> Any:
    """tiny-ldm's UNet: tiny-ddpm-32's, loaded from there (``LDMPipeline.from_pretrained(TINY_LDM, unet=...)``)."""
    from diffusers import UNet2DModel

    return UNet2DModel.from_pretrained(TINY_DDPM, subfolder="unet")


def _write_ldm(folder: Path) -> None:
    # Everything but the UNet, which tiny-ddpm-32 ships: the pipeline's model_index.json still names it.
    pipe = build_tiny_ldm()
    pipe.save_config(folder)
    pipe.vqvae.save_pretrained(folder / "vqvae", safe_serialization=True)
    pipe.scheduler.save_pretrained(folder / "scheduler")


def _write_sd(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    from .tokenizer import write_slow_files

    build_tiny_sd().save_pretrained(folder, safe_serialization=True)
    write_slow_files(folder / "tokenizer")
    # transformers 5 writes CLIPTextModel's weights without the "text_model." prefix that transformers 4
    # and hub checkpoints use; transformers 4 then leaves the text model at random init, with only a
    # logged warning. Both versions load the prefixed names.
    path = folder / "text_encoder" / "model.safetensors"
    weights = load_file(path)
    save_file({k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in weights.items()}, path,
              metadata={"format": "pt"})


def write_checkpoints(root: Path = HERE) -> list[Path]:
    """Write every tiny checkpoint under ``root`` (safetensors); tiny-sd only where transformers is installed."""
    writers = [
        (TINY_DDPM.name, lambda folder: build_tiny_ddpm().save_pretrained(folder, safe_serialization=True)),
        (TINY_DIT.name, lambda folder: build_tiny_dit().save_pretrained(folder, safe_serialization=True)),
        (TINY_LDM.name, _write_ldm),
    ]
    if has_transformers():
        writers.append((TINY_SD.name, _write_sd))
    written = []
    for name, write in writers:
        write(root / name)
        written.append(root / name)
    return written


def shared_noise(seed: int, shape=(1, 3, 32, 32)):
    """Starting noise both frameworks can take: numpy's PCG64, as mindone draws it, in float32."""
    import numpy as np

    return np.random.Generator(np.random.PCG64(seed)).standard_normal(shape, dtype=np.float32)
