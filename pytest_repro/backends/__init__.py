"""Backends, looked up by ``framework-device`` key.

Built-in backends are named here as ``module:Class`` strings so that looking one up imports only
its own module. A third party adds one through the ``pytest_repro.backends`` entry-point group:
``mindspore-gpu = "my_pkg.backend:MindSporeGPU"`` (the name is the key, the object a Backend class).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata

from .base import Backend

BUILTIN = {
    "torch-cpu": "pytest_repro.backends.torch_cpu:TorchCPU",
    "torch-cuda": "pytest_repro.backends.torch_cuda:TorchCUDA",
    "torch-ascend": "pytest_repro.backends.torch_npu:TorchNPU",
    "mindspore-cpu": "pytest_repro.backends.mindspore:MindSporeCPU",
    "mindspore-cuda": "pytest_repro.backends.mindspore:MindSporeGPU",
    "mindspore-ascend": "pytest_repro.backends.mindspore:MindSporeAscend",
}
# What ``auto`` tries, best first, per framework; the CPU always comes last.
AUTO_ORDER = ("cuda", "ascend", "cpu")
ENTRY_POINT_GROUP = "pytest_repro.backends"


@functools.cache
def _entry_points() -> tuple[tuple[str, str], ...]:
    return tuple((ep.name, ep.value) for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def registry() -> dict[str, str]:
    """Backend key -> ``module:Class``: the built-ins, then the entry-point group's (read once)."""
    return {**BUILTIN, **dict(_entry_points())}


def load(key: str) -> Backend:
    """Instantiate the backend registered under ``key`` (``torch-cuda``)."""
    table = registry()
    if key not in table:
        raise KeyError(f"no backend registered as {key!r}; known: {', '.join(sorted(table))}")
    module_name, _, attr = table[key].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    return cls()


def key_for(name: str, framework: str) -> str | None:
    """The backend key a ``--repro-backend`` name selects for a test on ``framework``.

    ``None`` when the name pins another framework (``mindspore-cpu`` for a torch test).
    """
    if "-" in name:
        return name if name.startswith(framework + "-") else None
    return f"{framework}-{name}"


def resolve_auto(framework: str) -> Backend:
    """The best available device for ``framework``: GPU, then Ascend, then CPU."""
    last: Backend | None = None
    for device in AUTO_ORDER:
        key = f"{framework}-{device}"
        if key not in registry():
            continue
        last = load(key)
        if last.unavailable_reason() is None:
            return last
    assert last is not None
    return last
