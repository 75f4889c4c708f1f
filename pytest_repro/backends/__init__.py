"""Backends, looked up by :class:`~pytest_repro.identity.BackendKey` (``torch-cuda``).

Built-in backends are named here as ``module:Class`` strings so that looking one up imports only
its own module. A third party adds one through the ``pytest_repro.backends`` entry-point group:
``mindspore-gpu = "my_pkg.backend:MindSporeGPU"`` (the name is the key, the object a Backend class).
The registry is the one vocabulary: the words ``--repro-backend``, per-backend tolerances and the
marker's ``backends=`` accept are derived from it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata

from ..identity import DEVICE_WORDS, BackendKey
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


def registry() -> dict[BackendKey, str]:
    """Backend key -> ``module:Class``: the built-ins, then the entry-point group's (read once)."""
    table: dict[BackendKey, str] = {}
    for name, target in (*BUILTIN.items(), *_entry_points()):
        try:
            table[BackendKey(name)] = target
        except ValueError as exc:
            raise ValueError(f"entry point {name} = {target} in group {ENTRY_POINT_GROUP}: {exc}") from None
    return table


def frameworks() -> tuple[str, ...]:
    return tuple(sorted({key.framework for key in registry()}))


def words() -> tuple[str, ...]:
    """Every ``--repro-backend`` word: ``auto``, the device words, then every registered key."""
    devices = [d for d in DEVICE_WORDS if any(k.device == d for k in registry())]
    return ("auto", *devices, *sorted(registry()))


def check_word(word: str, where: str = "", allow_auto: bool = True) -> str:
    """``word`` if the registry knows it, else a ``ValueError`` naming ``where`` and the choices."""
    known = words() if allow_auto else words()[1:]
    if word not in known:
        raise ValueError(f"{where}{': ' if where else ''}unknown backend {word!r}; choose from {', '.join(known)}")
    return word


def load(key: str) -> Backend:
    """Instantiate the backend registered under ``key`` (``torch-cuda``)."""
    table = registry()
    if key not in table:
        raise KeyError(f"no backend registered as {key!r}; known: {', '.join(sorted(table))}")
    module_name, _, attr = table[BackendKey(key)].partition(":")
    backend = getattr(importlib.import_module(module_name), attr)()
    if backend.key != key:  # it would read and write another backend's goldens
        raise KeyError(f"backend {table[BackendKey(key)]} registered as {key!r} says its key is {backend.key!r}")
    return backend


def resolve_auto(framework: str) -> Backend:
    """The best available device for ``framework``: GPU, then Ascend, then CPU."""
    last: Backend | None = None
    for device in AUTO_ORDER:
        key = BackendKey.of(framework, device)
        if key not in registry():
            continue
        last = load(key)
        if last.unavailable_reason() is None:
            return last
    assert last is not None
    return last
