"""Property tests on a real (tiny, in-memory) diffusers pipeline: what reproducibility promises.

The same seed gives the same image; a batch with one generator per item equals its items made alone;
an item depends on its own seed only; a drift within the tolerance passes and beyond it fails. They
run under the ``repro-ci`` profile pytest_repro.strategies registers (derandomized, no database).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs

from pytest_repro.batch import batch_matches_items, check_batch_items
from pytest_repro.strategies import CI_PROFILE, generator_lists, seed_lists, seeds
from pytest_repro.summary import summarize
from pytest_repro.tolerance import DEFAULT_ATOL, Tolerance
from pytest_repro.verdict import Side, judge

diffusers = pytest.importorskip("diffusers")
# Imported at collection, not first inside the fixture: a pytester run in this process restores sys.modules,
# and a diffusers module first imported in one would come back as a second copy with other classes.
from diffusers import DDIMPipeline, DDIMScheduler, UNet2DModel  # noqa: E402

# Few examples: each is a pipeline call or several. Derandomized, so CI runs the same ones every time.
PROPERTY = settings(settings.get_profile(CI_PROFILE), max_examples=5)
# A batch and its items run different kernel shapes: not bitwise, but far closer than any seed change
# (measured: below 1e-6 here; a seed change moves L_inf by 6e-2 or more, FACTS.md).
BATCH_ATOL = 1e-4
STEPS = 2


@pytest.fixture(scope="module")
def pipe():
    # A DDIM pipeline on a UNet smaller than diffusers' fast test's: 8x8 images, a few ms a step.
    torch.manual_seed(0)
    unet = UNet2DModel(
        block_out_channels=(4, 8), norm_num_groups=2, layers_per_block=1, sample_size=8, in_channels=3,
        out_channels=3, attention_head_dim=4, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    )
    pipeline = DDIMPipeline(unet=unet, scheduler=DDIMScheduler())
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def generate(pipe, seed_list):
    generators = [torch.Generator().manual_seed(s) for s in seed_list]
    return pipe(batch_size=len(generators), generator=generators, num_inference_steps=STEPS, output_type="np").images


@PROPERTY
@given(seed=seeds())
def test_the_same_seed_gives_identical_output(pipe, seed):
    assert np.array_equal(generate(pipe, [seed]), generate(pipe, [seed]))  # bitwise, fresh generators


@PROPERTY
@given(generators=generator_lists("torch", max_size=3))
def test_a_batch_equals_its_items(pipe, generators):
    def run(items):
        return generate(pipe, [generators.seeds[i] for i in items])

    # The drawn generators themselves make the batch: they are what a user passes as generator=.
    batch = pipe(batch_size=len(generators), generator=list(generators), num_inference_steps=STEPS,
                 output_type="np").images
    result = check_batch_items(run, len(generators), batch=batch, atol=BATCH_ATOL, seeds=generators.seeds)
    assert max(item.linf for item in result.items) <= BATCH_ATOL


@PROPERTY
@given(seed_list=seed_lists(size=3))
def test_per_item_generators_are_independent(pipe, seed_list):
    a, b, c = seed_list
    first = generate(pipe, [a, b])
    second = generate(pipe, [a, c])
    # Item 0 doesn't depend on the seed of item 1...
    assert batch_matches_items(first[:1], [second[0]], atol=BATCH_ATOL).passed
    # ...and distinct seeds give images apart by more than the default tolerance: another image, not a drift.
    assert np.abs(first[0] - first[1]).max() > DEFAULT_ATOL
    assert np.abs(first[1] - second[1]).max() > DEFAULT_ATOL


# Drift against the tolerance: a margin of 1 % either side of atol keeps float64 rounding off the boundary.
ATOL = 1e-2
TOLERANCE = Tolerance(atol=ATOL, cosine=None, bitwise=False)  # atol alone decides


def judged(golden: np.ndarray, moved: np.ndarray) -> bool:
    sides = [Side(summarize(x, str(x.dtype)), x.reshape(-1)) for x in (moved, golden)]
    return judge(sides[0], sides[1], TOLERANCE, same_environment=False).passed


@pytest.fixture(scope="module")
def golden(pipe):
    return generate(pipe, [0, 1]).astype(np.float64)


@PROPERTY
@given(data=hs.data(), below=hs.booleans())
def test_drift_below_the_tolerance_passes_and_above_fails(golden, data, below):
    drift = data.draw(hs.floats(0.0, 0.99 * ATOL) if below else hs.floats(1.01 * ATOL, 1.0), label="drift")
    index = data.draw(hs.tuples(*(hs.integers(0, n - 1) for n in golden.shape)), label="index")
    sign = data.draw(hs.sampled_from((-1.0, 1.0)), label="sign")
    moved = golden.copy()
    moved[index] += sign * drift
    assert judged(golden, moved) is below
    # The batch helper holds each item to the same rule, and names the moved one.
    result = batch_matches_items(golden, list(moved), atol=ATOL)
    assert result.differing == ([] if below else [index[0]])
