"""What full determinism costs: the tiny DDIM pipeline and an SD-shaped UNet step, with and without.

Run: python benchmarks/determinism_cost.py [cpu|cuda]. Prints times and the L_inf between the two
settings. FACTS.md recorded +30% (fp32) and +5% (fp16) for an SD-sized UNet on an H100.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(device: str = "cpu") -> None:
    import torch
    from diffusers import DDIMPipeline

    from pytest_repro.backends import load
    from pytest_repro.suite.checkpoints import TINY_DDPM

    backend = load(f"torch-{device}")
    pipe = DDIMPipeline.from_pretrained(TINY_DDPM).to(backend.device)
    pipe.set_progress_bar_config(disable=True)

    def run():
        image = pipe(num_inference_steps=10, output_type="np", generator=backend.generator(0)).images
        if device == "cuda":
            torch.cuda.synchronize()
        return image

    results = {}
    for deterministic in (False, True):
        with backend.deterministic(deterministic):
            run()  # warm-up
            start = time.perf_counter()
            for _ in range(5):
                image = run()
            results[deterministic] = ((time.perf_counter() - start) / 5, image)
    (t_off, a), (t_on, b) = results[False], results[True]
    print(f"{device}: default {t_off*1e3:.1f} ms, deterministic {t_on*1e3:.1f} ms "
          f"({(t_on / t_off - 1) * 100:+.0f}%), L_inf between them {np.abs(a - b).max():.2e}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "cpu")
