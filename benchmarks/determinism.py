"""What full determinism costs: the bundled suite's pipelines and an SD-1.5-sized UNet, on vs off, side by side.

Run:  python benchmarks/determinism.py              (suite pipelines + SD-sized UNet; CPU: minutes)
      python benchmarks/determinism.py --smoke      (tiny DDIM and a tiny conditional UNet: seconds, what CI runs)
      python benchmarks/determinism.py --device cuda (adds fp16, and CPU vs CUDA generators)

"deterministic" is pytest-repro's switch (deterministic algorithms, cuDNN deterministic and no benchmark,
TF32 off); "default" is PyTorch's defaults. Within one workload every variant is timed interleaved
(A B C A B C ...), so a busy machine slows them alike; medians and the ratio to the default come out
side by side, with the L_inf of each variant's output against the default's. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# Stable Diffusion 1.5's UNet (runwayml/stable-diffusion-v1-5, unet/config.json), random weights.
SD15_UNET = {"sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
             "block_out_channels": (320, 640, 1280, 1280), "cross_attention_dim": 768, "attention_head_dim": 8,
             "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
             "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3}
TINY_UNET = {**SD15_UNET, "sample_size": 8, "block_out_channels": (32, 64), "cross_attention_dim": 32,
             "layers_per_block": 1, "attention_head_dim": 4, "norm_num_groups": 8,
             "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
             "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D")}


def unet_workload(config: dict[str, Any], device: str, dtype: Any, batch: int, latent: int, steps: int):
    """A DDIM loop over a UNet2DConditionModel: ``run(generator)`` returns the final latents."""
    import torch
    from diffusers import DDIMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**config).to(device, dtype).eval()
    scheduler = DDIMScheduler()
    text = torch.randn(batch, 77, config["cross_attention_dim"], generator=torch.Generator().manual_seed(1))
    text = text.to(device, dtype)

    def run(generator: Any) -> np.ndarray:
        latents = torch.randn(batch, 4, latent, latent, generator=generator, device=generator.device)
        latents = latents.to(device, dtype)
        scheduler.set_timesteps(steps)
        with torch.inference_mode():
            for t in scheduler.timesteps:
                latents = scheduler.step(unet(latents, t, encoder_hidden_states=text).sample, t, latents).prev_sample
        return latents.float().cpu().numpy()

    return run


def suite_workloads(device: str, smoke: bool) -> dict[str, Callable[[Any], np.ndarray]]:
    """The bundled suite's pipelines on their tiny checkpoints (pytest_repro/suite), 2 steps each."""
    import diffusers

    from pytest_repro.suite.checkpoints import TINY_DDPM, TINY_DIT, TINY_LDM, TINY_SD, ldm_unet

    def pipeline(pipe: Any, **kwargs: Any) -> Callable[[Any], np.ndarray]:
        pipe.set_progress_bar_config(disable=True)
        pipe = pipe.to(device)  # float32: the suite's goldens' dtype
        return lambda generator: pipe(num_inference_steps=2, output_type="np", generator=generator, **kwargs).images

    out = {"suite ddim": pipeline(diffusers.DDIMPipeline.from_pretrained(TINY_DDPM))}
    if not smoke:
        out["suite stable-diffusion"] = pipeline(diffusers.StableDiffusionPipeline.from_pretrained(TINY_SD),
                                                 prompt="a photo of an astronaut")
        out["suite dit"] = pipeline(diffusers.DiTPipeline.from_pretrained(TINY_DIT), class_labels=[1])
        out["suite ldm"] = pipeline(diffusers.LDMPipeline.from_pretrained(TINY_LDM, unet=ldm_unet()))
    return out


def variants(device: str) -> dict[str, tuple[bool, str]]:
    """name -> (deterministic, generator device). CPU vs CUDA generators only where there is a device."""
    out = {"default": (False, "cpu"), "deterministic": (True, "cpu")}
    if device != "cpu":
        out["default, device generator"] = (False, device)
        out["deterministic, device generator"] = (True, device)
    return out


def measure(run: Callable[[Any], np.ndarray], device: str, repeat: int) -> None:
    import torch

    from pytest_repro.backends import load
    from pytest_repro.timing import torch_determinism

    backend = load(f"torch-{device}")
    chosen = variants(device)
    times: dict[str, list[float]] = {name: [] for name in chosen}
    outputs: dict[str, np.ndarray] = {}
    for i in range(repeat + 1):  # the first round warms up (lazy init, allocator, cuDNN plans) and is dropped
        for name, (deterministic, gen_device) in chosen.items():
            with torch_determinism(backend, deterministic):
                generator = torch.Generator(device=gen_device).manual_seed(0)
                start = time.perf_counter()
                out = run(generator)
                if device == "cuda":
                    torch.cuda.synchronize()
                if i:
                    times[name].append(time.perf_counter() - start)
                outputs[name] = out
    base = statistics.median(times["default"])
    for name, values in times.items():
        med = statistics.median(values)
        linf = float(np.abs(outputs[name].astype(np.float64) - outputs["default"]).max())
        print(f"    {name:<32} {med * 1e3:9.1f} ms [{min(values) * 1e3:.1f}-{max(values) * 1e3:.1f}]  "
              f"x{med / base:5.2f}  L_inf vs default {linf:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--smoke", action="store_true", help="tiny models, a few seconds (CI)")
    parser.add_argument("--repeat", type=int, default=None, help="timed rounds per workload")
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps of the SD-sized UNet")
    args = parser.parse_args()

    import diffusers
    import torch

    diffusers.utils.logging.set_verbosity_error()  # loading chatter (accelerate, dtype casts) between the rows
    diffusers.utils.logging.disable_progress_bar()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    repeat = args.repeat or (2 if args.smoke else 3)
    dtypes = [torch.float32] + ([torch.float16] if args.device == "cuda" else [])
    print(f"torch {torch.__version__}, {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else f", {torch.get_num_threads()} threads")
          + f"; medians of {repeat} interleaved rounds; ratio to PyTorch's defaults")
    for dtype in dtypes:
        workloads = suite_workloads(args.device, args.smoke) if dtype == torch.float32 else {}
        if args.smoke:
            workloads["tiny conditional unet, 2 steps"] = unet_workload(TINY_UNET, args.device, dtype, 1, 8, 2)
        else:
            # FACTS.md's H100 numbers: batch 4, 64x64 latents, 10 steps. A 2-core CPU gets batch 1, 32x32, 2 steps.
            batch, latent, steps = (4, 64, args.steps or 10) if args.device == "cuda" else (1, 32, args.steps or 2)
            workloads[f"SD-1.5 unet b{batch} {latent}x{latent}, {steps} steps"] = unet_workload(
                SD15_UNET, args.device, dtype, batch, latent, steps)
        for name, run in workloads.items():
            print(f"  {name} [{str(dtype).removeprefix('torch.')}]")
            with contextlib.suppress(KeyboardInterrupt):
                measure(run, args.device, repeat)


if __name__ == "__main__":
    main()
