"""``repro_pipelines``: one from_pretrained per session, checkpoint, device, dtype and kwargs."""

from __future__ import annotations

import pytest

from pytest_repro.pipelines import PipelineCache


class FakePipeline:
    """Counts loads; ``to`` and the progress bar are recorded like diffusers' own pipelines."""

    loaded: list[tuple] = []

    def __init__(self, checkpoint, kwargs):
        self.checkpoint, self.kwargs, self.device, self.bar = checkpoint, kwargs, None, None

    @classmethod
    def from_pretrained(cls, checkpoint, **kwargs):
        cls.loaded.append((checkpoint, tuple(sorted(kwargs))))
        return cls(checkpoint, kwargs)

    def to(self, device):
        self.device = device
        return self

    def set_progress_bar_config(self, disable):
        self.bar = not disable


class Scheduler:
    def __init__(self, **config):
        self.config = config


@pytest.fixture
def cache():
    FakePipeline.loaded = []
    return PipelineCache()


def test_the_same_request_loads_once(cache):
    a = cache.load(FakePipeline, "ckpt", device="cpu")
    b = cache.load(FakePipeline, "ckpt", device="cpu")
    assert a is b and len(FakePipeline.loaded) == 1 and (cache.loads, cache.hits) == (1, 1)
    assert a.device == "cpu" and a.bar is False


@pytest.mark.parametrize("other", [
    {"checkpoint": "other"}, {"device": "cuda"}, {"dtype": "float16"},
    {"scheduler": Scheduler(beta_schedule="linear")},
])
def test_anything_that_changes_the_pipeline_is_another_entry(cache, other):
    base = {"checkpoint": "ckpt", "device": "cpu", "scheduler": Scheduler(beta_schedule="scaled_linear")}
    first = cache.load(FakePipeline, **base)
    second = cache.load(FakePipeline, **{**base, **other})
    assert first is not second and cache.loads == 2


def test_a_scheduler_with_the_same_config_shares_the_entry(cache):
    one = cache.load(FakePipeline, "ckpt", scheduler=Scheduler(steps=10))
    two = cache.load(FakePipeline, "ckpt", scheduler=Scheduler(steps=10))
    assert one is two


def test_fresh_gives_a_private_pipeline_and_keeps_the_shared_one(cache):
    shared = cache.load(FakePipeline, "ckpt")
    private = cache.load(FakePipeline, "ckpt", fresh=True)
    assert private is not shared and cache.load(FakePipeline, "ckpt") is shared


def test_the_saving_counts_each_reuse_at_what_its_first_load_took(cache, monkeypatch):
    clock = iter([10.0, 10.5, 20.0, 22.0])  # two loads: 0.5 s and 2 s
    monkeypatch.setattr("pytest_repro.pipelines.time.perf_counter", lambda: next(clock))
    assert cache.summary_line() is None  # nothing reused: nothing to say
    cache.load(FakePipeline, "a")
    cache.load(FakePipeline, "b")
    for _ in range(3):
        cache.load(FakePipeline, "b")
    cache.load(FakePipeline, "a")
    assert cache.saved == pytest.approx(3 * 2.0 + 0.5)
    assert cache.summary_line() == "repro_pipelines: 2 from_pretrained, 4 reused (~6.5 s of loading saved)"


def test_dtype_reaches_from_pretrained(cache):
    pipe = cache.load(FakePipeline, "ckpt", dtype="float16")
    assert pipe.kwargs == {"torch_dtype": "float16"}


def test_the_fixture_is_session_wide_and_loads_a_real_pipeline_once(inner):
    pytest.importorskip("diffusers")
    inner.write("""
import pytest
from diffusers import DDIMPipeline
from pytest_repro.suite.checkpoints import TINY_DDPM

@pytest.mark.parametrize("steps", [1, 2, 3])
def test_run(repro_backend, repro_pipelines, repro_generator, steps):
    pipe = repro_pipelines.load(DDIMPipeline, TINY_DDPM, device=repro_backend.device)
    pipe(num_inference_steps=steps, output_type="np", generator=repro_generator())
    assert repro_pipelines.loads == 1 and repro_pipelines.hits == steps - 1
""")
    result = inner.run()
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["repro_pipelines: 1 from_pretrained, 2 reused (~* s of loading saved)"])
