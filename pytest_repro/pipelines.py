"""``repro_pipelines``: load a pipeline once per session, backend and dtype, not once per test.

``from_pretrained`` is most of a tiny pipeline test's time. Tests that only *run* a pipeline can share
one: the weights are read-only during inference and every call sets its scheduler's timesteps again.
A test that changes the pipeline (swaps a component, enables slicing, offloads) asks for
``fresh=True`` and gets its own. Standard library only at import: ``plugin.py`` exposes the fixture.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest


class PipelineCache:
    """Pipelines keyed by class, checkpoint, device, dtype and the keyword arguments they were loaded with."""

    def __init__(self) -> None:
        self._pipes: dict[Hashable, Any] = {}
        self._seconds: dict[Hashable, float] = {}  # what each cached pipeline took to load
        self.loads = 0  # how many from_pretrained calls the session made (the saving is the hits)
        self.hits = 0
        self.saved = 0.0  # seconds: each hit counts what its first load took

    @staticmethod
    def _key(cls: Any, checkpoint: Any, device: str, dtype: Any, kwargs: dict[str, Any]) -> Hashable:
        def frozen(value: Any) -> Hashable:
            # A component passed in (a scheduler instance) is part of the key by its class and config.
            config = getattr(value, "config", None)
            if config is not None:
                return (type(value).__qualname__, repr(sorted(dict(config).items())))
            return repr(value)

        return (f"{cls.__module__}.{cls.__qualname__}", str(Path(checkpoint)), str(device), str(dtype),
                tuple(sorted((k, frozen(v)) for k, v in kwargs.items())))

    def load(self, pipeline_cls: Any, checkpoint: str | Path, device: str = "cpu", dtype: Any = None,
             fresh: bool = False, **kwargs: Any) -> Any:
        """``pipeline_cls.from_pretrained(checkpoint, **kwargs)`` moved to ``device`` (and ``dtype``).

        Cached unless ``fresh``; the progress bar is switched off, as a test wants.
        """
        key = self._key(pipeline_cls, checkpoint, device, dtype, kwargs)
        if not fresh and key in self._pipes:
            self.hits += 1
            self.saved += self._seconds[key]
            return self._pipes[key]
        if dtype is not None:
            kwargs = {**kwargs, "torch_dtype": dtype}
        start = time.perf_counter()
        pipe = pipeline_cls.from_pretrained(checkpoint, **kwargs).to(device)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        self.loads += 1
        if not fresh:
            self._pipes[key] = pipe
            self._seconds[key] = time.perf_counter() - start
        return pipe

    def summary_line(self) -> str | None:
        """What the cache saved this session, for the terminal; ``None`` where nothing was reused."""
        if not self.hits:
            return None
        return (f"repro_pipelines: {self.loads} from_pretrained, {self.hits} reused "
                f"(~{self.saved:.1f} s of loading saved)")

    def clear(self) -> None:
        self._pipes.clear()


PIPELINES_KEY = pytest.StashKey[PipelineCache]()


@pytest.fixture(scope="session")
def repro_pipelines(pytestconfig: pytest.Config) -> Any:
    """``repro_pipelines.load(PipelineCls, checkpoint, device=repro_backend.device, dtype=None, **kwargs)``:
    one ``from_pretrained`` per session, checkpoint, device, dtype and kwargs (``fresh=True`` for your own)."""
    cache = PipelineCache()
    pytestconfig.stash[PIPELINES_KEY] = cache  # the counts outlive the pipelines: the terminal summary says them
    yield cache
    cache.clear()
