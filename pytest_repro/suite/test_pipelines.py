"""Real diffusers pipelines on tiny checkpoints, checked against the goldens in golden/.

Each test is what a diffusers maintainer would write with pytest-repro: load with the real
``from_pretrained``, draw noise from ``repro_generator``, check the output against its golden.
DDIM, DDPM and PNDM run on one UNet; Stable Diffusion, DiT and LDM on their own checkpoints.
Pipelines come from ``repro_pipelines``: tests that run the same pipeline share one ``from_pretrained``.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_repro.batch import check_batch_items
from pytest_repro.suite.checkpoints import TINY_DDPM, TINY_DIT, TINY_LDM, TINY_SD, ldm_unet, shared_noise
from pytest_repro.suite.tokenizer import CORPUS

diffusers = pytest.importorskip("diffusers", reason="the bundled suite needs pip install 'pytest-repro[diffusers]'")


def load(pipelines, pipeline_cls, scheduler_cls, device):
    # Keyed by the scheduler's class and config too, so DDIM, DDPM and PNDM get a pipeline each.
    scheduler = scheduler_cls.from_pretrained(TINY_DDPM, subfolder="scheduler")
    return pipelines.load(pipeline_cls, TINY_DDPM, device=device, scheduler=scheduler)


@pytest.mark.parametrize(
    ("pipeline", "scheduler", "steps"),
    [
        ("DDIMPipeline", "DDIMScheduler", 2),
        ("DDPMPipeline", "DDPMScheduler", 2),
        ("PNDMPipeline", "PNDMScheduler", 4),  # PNDM's Runge-Kutta warm-up needs 4 steps
    ],
    ids=["ddim", "ddpm", "pndm"],
)
def test_pipeline(repro_backend, repro_pipelines, repro_generator, repro_golden, pipeline, scheduler, steps):
    pipe = load(repro_pipelines, getattr(diffusers, pipeline), getattr(diffusers, scheduler), repro_backend.device)
    # No callback_on_step_end in these pipelines: the trajectory is recorded through the scheduler's steps.
    with repro_golden.trajectory().on_scheduler(pipe.scheduler):
        image = pipe(num_inference_steps=steps, output_type="np", generator=repro_generator(0)).images
    repro_golden.check(image)


def test_ddim_batch_of_two(repro_backend, repro_pipelines, repro_generator, repro_golden):
    # One generator per batch item: item i is reproducible alone, whatever the batch size.
    pipe = load(repro_pipelines, diffusers.DDIMPipeline, diffusers.DDIMScheduler, repro_backend.device)
    image = pipe(batch_size=2, num_inference_steps=2, output_type="np",
                 generator=repro_generator(0, batch=2)).images
    assert not np.array_equal(image[0], image[1])
    repro_golden.check(image)


@pytest.mark.repro(backends=["cpu"])
def test_ddim_matches_diffusers_fast_test(repro_backend, repro_pipelines, repro_generator):
    # diffusers' own fast-test value for this UNet config: a check on the checkpoint itself.
    pipe = load(repro_pipelines, diffusers.DDIMPipeline, diffusers.DDIMScheduler, repro_backend.device)
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


# Stable Diffusion, DiT and LDM: the pipelines the field uses, each on diffusers' fast-test models.

def load_sd(pipelines, device):
    pytest.importorskip("transformers", reason="the tiny Stable Diffusion needs transformers: "
                                               "pip install 'pytest-repro[diffusers]'")
    return pipelines.load(diffusers.StableDiffusionPipeline, TINY_SD, device=device)


def test_stable_diffusion_batch_of_prompts(repro_backend, repro_pipelines, repro_generator, repro_golden):
    # A batch of prompts with one generator each; then each prompt alone with its own generator must give
    # the same image as its place in the batch: the seeds' "improve one image of a batch" workflow.
    pipe = load_sd(repro_pipelines, repro_backend.device)

    def run(items, **kwargs):
        return pipe([CORPUS[i] for i in items], generator=[repro_generator(i) for i in items],
                    num_inference_steps=2, guidance_scale=6.0, output_type="np", **kwargs).images

    # The batch's denoising steps are recorded too (trajectory golden beside the output's).
    images = run(range(len(CORPUS)), callback_on_step_end=repro_golden.trajectory())
    repro_golden.check(images)  # before the solo runs, so the golden records the batch's seeds only
    check_batch_items(run, len(CORPUS), batch=images, seeds=range(len(CORPUS)))


# diffusers' DPMSolverMultistepScheduler.set_timesteps calls np.array() on a torch tensor, which numpy 2
# deprecates; the warning is diffusers' and torch's to fix, not a reproducibility problem.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_dit_dpm_solver(repro_backend, repro_pipelines, repro_generator, repro_golden):
    # DiT as its model card runs it: the shipped DDIM swapped for DPM-Solver++, two classes, CFG on. The swap
    # goes in as a component, never onto a shared pipeline: that would change it for every later test.
    scheduler = diffusers.DPMSolverMultistepScheduler.from_pretrained(TINY_DIT, subfolder="scheduler")
    pipe = repro_pipelines.load(diffusers.DiTPipeline, TINY_DIT, device=repro_backend.device, scheduler=scheduler)
    with repro_golden.trajectory().on_scheduler(pipe.scheduler):  # DiTPipeline takes no callback_on_step_end
        image = pipe(class_labels=[1, 2], num_inference_steps=2, output_type="np",
                     generator=repro_generator(0, batch=2)).images
    repro_golden.check(image)


def test_ldm_unconditional(repro_backend, repro_pipelines, repro_generator, repro_golden):
    # Latent diffusion in a VQ-VAE's latent space: the pipeline FACTS.md found most thread-sensitive.
    pipe = repro_pipelines.load(diffusers.LDMPipeline, TINY_LDM, device=repro_backend.device, unet=ldm_unet())
    with repro_golden.trajectory().on_scheduler(pipe.scheduler):  # LDMPipeline takes no callback_on_step_end
        image = pipe(num_inference_steps=2, output_type="np", generator=repro_generator(0)).images
    repro_golden.check(image)


# diffusers' own fast-test slices (image[0, -3:, -3:, -1]) for these configs: a check on the checkpoints.
FAST_TEST_SLICES = {
    "dit": [0.2946, 0.6601, 0.4329, 0.3296, 0.4144, 0.5319, 0.7273, 0.5013, 0.4457],
    "ldm": [0.8512, 0.818, 0.6411, 0.6808, 0.4465, 0.5618, 0.46, 0.6231, 0.5172],
}


@pytest.mark.repro(backends=["cpu"])
@pytest.mark.parametrize("name", sorted(FAST_TEST_SLICES))
def test_matches_diffusers_fast_test_slice(repro_backend, repro_pipelines, repro_generator, name):
    if name == "dit":
        pipe = repro_pipelines.load(diffusers.DiTPipeline, TINY_DIT)
        kwargs = {"class_labels": [1]}
    else:
        pipe = repro_pipelines.load(diffusers.LDMPipeline, TINY_LDM, unet=ldm_unet())
        kwargs = {}
    image = pipe(num_inference_steps=2, output_type="np", generator=repro_generator(0), **kwargs).images
    assert np.abs(image[0, -3:, -3:, -1].reshape(-1) - FAST_TEST_SLICES[name]).max() < 1e-3
