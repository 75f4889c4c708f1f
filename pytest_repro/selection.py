"""Pick the backend for one test from ``--repro-backend``, the test's framework and its marker."""

from __future__ import annotations

from typing import Any

import pytest

from . import backends
from .backends.base import Backend


def select_backend(name: str, marker: dict[str, Any], nodeid: str) -> Backend:
    """The backend ``name`` selects for this test, or ``pytest.skip`` saying why it can't run here."""
    framework = marker.get("framework", "torch")
    if name == "auto":
        backend = backends.resolve_auto(framework)
    else:
        key = backends.key_for(name, framework)
        if key is None:
            pytest.skip(f"--repro-backend={name} selects another framework; this test runs on {framework}")
        try:
            backend = backends.load(key)
        except KeyError as exc:
            pytest.skip(f"{exc.args[0]} (this test runs on {framework})")
    allowed = marker.get("backends")  # validated by the plugin: a list of names
    if allowed is not None:
        if backend.device_kind not in allowed and backend.key not in allowed:
            pytest.skip(f"{nodeid} runs only on {', '.join(allowed)} (marker repro(backends=...))")
    reason = backend.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    return backend
