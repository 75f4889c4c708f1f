"""What a run ran on, read without importing any framework: versions and fingerprint differences."""

from __future__ import annotations

import platform
from typing import Any

from .backends.base import dist_version

VERSIONED = ("torch", "diffusers", "transformers", "numpy", "mindspore", "mindone", "torch-npu")


def versions() -> dict[str, str | None]:
    return {name: dist_version(name) for name in VERSIONED}


def environment() -> dict[str, Any]:
    """The run's environment as the JSON report records it."""
    return {"python": platform.python_version(), "platform": platform.platform(), **versions()}


def fingerprint_diff(old: Any, new: Any) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs (environment fingerprints)."""
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
