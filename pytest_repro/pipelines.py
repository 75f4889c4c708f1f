"""``repro_pipelines``: load a pipeline once per session, backend and dtype, not once per test.

``from_pretrained`` is most of a tiny pipeline test's time. Tests that only *run* a pipeline can share
one: the weights are read-only during inference and every call sets its scheduler's timesteps again.
A test that changes the pipeline (swaps a component, enables slicing, offloads) asks for
``fresh=True`` and gets its own. Standard library only at import: ``plugin.py`` exposes the fixture.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest


class PipelineCache:
    """Pipelines keyed by class, checkpoint, device, dtype and the keyword arguments they were loaded with."""

    def __init__(self) -> None:
        self._pipes: dict[Hashable, Any] = {}
        self.loads = 0  # how many from_pretrained calls the session made (the saving is the hits)
        self.hits = 0

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
            return self._pipes[key]
        if dtype is not None:
            kwargs = {**kwargs, "torch_dtype": dtype}
        pipe = pipeline_cls.from_pretrained(checkpoint, **kwargs).to(device)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        self.loads += 1
        if not fresh:
            self._pipes[key] = pipe
        return pipe

    def clear(self) -> None:
        self._pipes.clear()


@pytest.fixture(scope="session")
def repro_pipelines() -> Any:
    """``repro_pipelines.load(PipelineCls, checkpoint, device=repro_backend.device, dtype=None, **kwargs)``:
    one ``from_pretrained`` per session, checkpoint, device, dtype and kwargs (``fresh=True`` for your own)."""
    cache = PipelineCache()
    yield cache
    cache.clear()
