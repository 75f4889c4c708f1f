"""Real diffusers pipelines on a tiny UNet checkpoint, checked against the goldens in golden/.

Each test is what a diffusers maintainer would write with pytest-repro: load with the real
``from_pretrained``, draw noise from ``repro_generator``, check the output against its golden.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_repro.suite.checkpoints import TINY_DDPM, shared_noise

diffusers = pytest.importorskip("diffusers", reason="the bundled suite needs pip install 'pytest-repro[diffusers]'")


def load(pipeline_cls, scheduler_cls, device):
    scheduler = scheduler_cls.from_pretrained(TINY_DDPM, subfolder="scheduler")
    pipe = pipeline_cls.from_pretrained(TINY_DDPM, scheduler=scheduler).to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize(
    ("pipeline", "scheduler", "steps"),
    [
        ("DDIMPipeline", "DDIMScheduler", 2),
        ("DDPMPipeline", "DDPMScheduler", 2),
        ("PNDMPipeline", "PNDMScheduler", 4),  # PNDM's Runge-Kutta warm-up needs 4 steps
    ],
    ids=["ddim", "ddpm", "pndm"],
)
def test_pipeline(repro_backend, repro_generator, repro_golden, pipeline, scheduler, steps):
    pipe = load(getattr(diffusers, pipeline), getattr(diffusers, scheduler), repro_backend.device)
    image = pipe(num_inference_steps=steps, output_type="np", generator=repro_generator(0)).images
    repro_golden.check(image)


def test_ddim_batch_of_two(repro_backend, repro_generator, repro_golden):
    # One generator per batch item: item i is reproducible alone, whatever the batch size.
    pipe = load(diffusers.DDIMPipeline, diffusers.DDIMScheduler, repro_backend.device)
    image = pipe(batch_size=2, num_inference_steps=2, output_type="np",
                 generator=repro_generator(0, batch=2)).images
    assert not np.array_equal(image[0], image[1])
    repro_golden.check(image)


@pytest.mark.repro(backends=["cpu"])
def test_ddim_matches_diffusers_fast_test(repro_backend, repro_generator):
    # diffusers' own fast-test value for this UNet config: a check on the checkpoint itself.
    pipe = load(diffusers.DDIMPipeline, diffusers.DDIMScheduler, repro_backend.device)
    image = pipe(num_inference_steps=2, output_type="np", generator=repro_generator(0)).images
    assert abs(float(np.abs(image).sum()) - 1569.593) < 1e-2


def test_ddim_shared_noise(repro_backend, repro_golden):
    # The denoising loop by hand from numpy noise: test_mindone.py runs the same loop on MindSpore,
    # and `python -m pytest_repro compare` pairs the two by the check name.
    import torch

    unet = diffusers.UNet2DModel.from_pretrained(TINY_DDPM, subfolder="unet").to(repro_backend.device)
    scheduler = diffusers.DDIMScheduler.from_pretrained(TINY_DDPM, subfolder="scheduler")
    scheduler.set_timesteps(2)
    x = torch.from_numpy(shared_noise(0)).to(repro_backend.device)
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(unet(x, t)[0], t, x)[0]
    repro_golden.check((x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1), name="ddim-shared-noise")


def _cached_hub_pipeline(repo_id: str):
    try:
        return diffusers.DDIMPipeline.from_pretrained(repo_id, local_files_only=True)
    except (OSError, ValueError):
        return None


@pytest.mark.repro(backends=["cpu"])
def test_google_ddpm_cifar10_documented_checksum(repro_backend, repro_generator):
    pipe = _cached_hub_pipeline("google/ddpm-cifar10-32")
    if pipe is None:
        pytest.skip("google/ddpm-cifar10-32 is not in the local Hugging Face cache (no hub access needed)")
    pipe.set_progress_bar_config(disable=True)
    image = pipe(num_inference_steps=2, output_type="np", generator=repro_generator(0)).images
    assert abs(float(np.abs(image).sum()) - 1491.1711) < 1e-2  # the value diffusers documents
