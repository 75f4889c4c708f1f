"""What ``repro_pipelines`` saves: n tests on one pipeline, each loading it vs loading it once per session.

Imported by ``bench.py`` (its "pipelines" row). Each candidate is what n tests of the bundled suite's
Stable Diffusion test do: get the pipeline, run two steps with a fresh CPU generator. "load each" calls
``from_pretrained`` in every test, as the suite did; "cached" asks a session's ``PipelineCache``.
"""

from __future__ import annotations

from collections.abc import Callable


def bench_pipelines(n: int, rounds: int, interleaved: Callable, row: Callable) -> str | None:
    try:
        import diffusers
        import torch
        import transformers  # the tiny Stable Diffusion's text encoder
    except ImportError:
        return None
    from pytest_repro.pipelines import PipelineCache
    from pytest_repro.suite.checkpoints import TINY_SD
    from pytest_repro.suite.tokenizer import CORPUS

    diffusers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    sd = diffusers.StableDiffusionPipeline

    def run(pipe) -> None:
        pipe(CORPUS[0], num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0))

    def load_each() -> None:
        for _ in range(n):
            run(PipelineCache().load(sd, TINY_SD))  # a new cache per test: from_pretrained every time

    def cached() -> None:
        cache = PipelineCache()  # one session
        for _ in range(n):
            run(cache.load(sd, TINY_SD))

    times = interleaved({"load each": load_each, "cached": cached}, rounds)
    return row(f"{n} tests on tiny SD", times, "load each")
