"""mindone.diffusers on MindSpore, from the same tiny checkpoint folder the PyTorch tests load.

mindone 0.3.0 runs on CPU (0.4+ needs Ascend-only kernels) and can't share an environment with
diffusers 0.42: these tests run in their own environment (tox -e mindspore) and are skipped here.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_repro.suite.checkpoints import TINY_DDPM, shared_noise

pytestmark = pytest.mark.repro(framework="mindspore")


@pytest.fixture
def mindone_diffusers(repro_backend):
    reason = repro_backend.mindone_reason()
    if reason:
        pytest.skip(reason)
    return pytest.importorskip("mindone.diffusers")


def test_mindone_ddim_two_steps(repro_backend, repro_generator, repro_golden, mindone_diffusers):
    pipe = mindone_diffusers.DDIMPipeline.from_pretrained(TINY_DDPM)
    pipe.set_progress_bar_config(disable=True)
    # mindone draws noise from numpy: a seeded PCG64 generator, never the global numpy RNG.
    # The trajectory through the scheduler, as for diffusers' DDIM (neither pipeline takes callback_on_step_end).
    with repro_golden.trajectory().on_scheduler(pipe.scheduler):
        image = pipe(num_inference_steps=2, output_type="np", generator=repro_generator(0))[0]
    repro_golden.check(image)


def test_mindone_ddim_shared_noise(repro_backend, repro_golden, mindone_diffusers):
    # Same checkpoint, same starting noise, same loop as test_pipelines.py::test_ddim_shared_noise.
    import mindspore

    unet = mindone_diffusers.UNet2DModel.from_pretrained(TINY_DDPM, subfolder="unet")
    scheduler = mindone_diffusers.DDIMScheduler.from_pretrained(TINY_DDPM, subfolder="scheduler")
    scheduler.set_timesteps(2)
    x = mindspore.Tensor(shared_noise(0))
    for t in scheduler.timesteps:
        x = scheduler.step(unet(x, t)[0], t, x)[0]
    image = (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
    assert isinstance(image.asnumpy(), np.ndarray)
    repro_golden.check(image, name="ddim-shared-noise")
