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
    """``word`` if the registry knows it, else a ``ValueError`` naming ``where`` and the choices.

    Third-party backends the word can select are loaded here, so that one registered under another key
    than its own is a usage error before any test runs (``--repro-backend`` is checked by argparse).
    """
    known = words() if allow_auto else words()[1:]
    prefix = f"{where}{': ' if where else ''}"
    if word not in known:
        raise ValueError(f"{prefix}unknown backend {word!r}; choose from {', '.join(known)}")
    table = registry()
    for key in selected_keys(word):
        if table[key] != BUILTIN.get(key):  # built-ins are checked by the project's own tests
            try:
                load(key)
            except BackendError as exc:
                raise ValueError(f"{prefix}{exc}") from None
    return word


def selected_keys(word: str) -> list[BackendKey]:
    """The registered keys ``word`` may select: itself, every key of a device word, every key for auto."""
    table = registry()
    if word == "auto":
        return [key for key in table if key.device in AUTO_ORDER]
    if "-" in word:
        return [BackendKey(word)] if word in table else []
    return [key for key in table if key.device == word]


class BackendError(KeyError):
    """A registered backend that can't be used under its key; ``args[0]`` is the message."""

    def __str__(self) -> str:  # KeyError's own would print the message in quotes
        return str(self.args[0])


def load(key: str) -> Backend:
    """Instantiate the backend registered under ``key`` (``torch-cuda``).

    ``KeyError`` for a key nobody registered; :class:`BackendError` for one whose class can't be loaded,
    or whose own key is another (it would read and write that backend's goldens) or no valid key at all.
    """
    table = registry()
    if key not in table:
        raise KeyError(f"no backend registered as {key!r}; known: {', '.join(sorted(table))}")
    target = table[BackendKey(key)]
    module_name, _, attr = target.partition(":")
    try:
        backend = getattr(importlib.import_module(module_name), attr)()
    except (ImportError, AttributeError, TypeError) as exc:
        raise BackendError(f"backend {target} registered as {key!r} can't be loaded: {exc}") from None
    if not isinstance(backend, Backend):
        raise BackendError(f"backend {target} registered as {key!r} is not a pytest_repro Backend")
    try:
        own = backend.key
    except ValueError as exc:  # framework or device_kind with a path separator, capitals, ...
        raise BackendError(f"backend {target} registered as {key!r} has no valid key of its own: {exc}") from None
    if own != key:
        raise BackendError(f"backend {target} registered as {key!r} says its key is {own!r}; it would read and "
                           f"write {own}'s goldens: register it as {own!r}, or give it that key")
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
