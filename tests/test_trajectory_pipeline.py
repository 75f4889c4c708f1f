"""Real diffusers pipelines, one step moved on purpose: the report names that step as the first divergent one.

Stable Diffusion records through ``callback_on_step_end`` (a callback before the recorder moves the latents);
LDM has no such callback: it records through its scheduler, whose ``step`` is patched to move one step.
"""

from __future__ import annotations

import json

import pytest

diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")


@pytest.fixture(scope="module", autouse=True)
def _loaded_once():
    """Load the tiny Stable Diffusion once here: pytester's in-process runs restore sys.modules, and a pipeline
    loaded in a second run would meet a second copy of transformers' classes ("cannot be loaded as it does not
    seem to have any of the loading methods"). What this process imported before the inner runs stays."""
    from pytest_repro.suite.checkpoints import TINY_SD

    diffusers.StableDiffusionPipeline.from_pretrained(TINY_SD)


PIPELINES = """
import os
import diffusers
import torch
from pytest_repro.suite.checkpoints import TINY_LDM, TINY_SD, ldm_unet

BUMP = int(os.environ.get("BUMP", "-1"))

def test_sd(repro_generator, repro_golden):
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(TINY_SD)
    pipe.set_progress_bar_config(disable=True)
    record = repro_golden.trajectory()

    def moved(pipe, step, timestep, kwargs):
        if step == BUMP:
            kwargs = {**kwargs, "latents": kwargs["latents"] + 0.05}
        return record(pipe, step, timestep, kwargs)

    image = pipe("a cat", num_inference_steps=3, guidance_scale=6.0, output_type="np",
                 generator=repro_generator(0), callback_on_step_end=moved).images
    repro_golden.check(image)

def test_ldm(repro_generator, repro_golden):
    pipe = diffusers.LDMPipeline.from_pretrained(TINY_LDM, unet=ldm_unet())
    pipe.set_progress_bar_config(disable=True)
    step, calls = pipe.scheduler.step, []

    def moved(model_output, timestep, sample, **kwargs):
        calls.append(timestep)
        if len(calls) - 1 == BUMP:
            sample = sample + 0.05
        return step(model_output, timestep, sample, **kwargs)

    pipe.scheduler.step = moved  # a scheduler that goes wrong at one step
    with repro_golden.trajectory().on_scheduler(pipe.scheduler):
        image = pipe(num_inference_steps=3, output_type="np", generator=repro_generator(0)).images
    assert pipe.scheduler.step is moved  # on_scheduler put back what it found
    repro_golden.check(image)
"""


def test_the_perturbed_step_is_the_first_divergent_one(inner, monkeypatch):
    inner.write(PIPELINES)
    inner.regen()
    inner.run().assert_outcomes(passed=2)  # unperturbed: every step equals its golden
    monkeypatch.setenv("BUMP", "1")
    result = inner.run("--repro-report=r.json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*first divergent step 1 (step 2 of 3)*"])
    results = json.loads((inner.path / "r.json").read_text(encoding="utf-8"))["results"]
    for r in results:
        t = r["trajectory"]
        assert (t["first_divergent_step"], t["steps"], t["golden_steps"]) == (1, 3, 3), r["test"]
        assert t["linf"][0] == 0.0 and t["linf"][1] > t["limit"], r["test"]
