"""Golden entries as regen writes them, for the store's tests (test_golden_arrays.py, test_golden_store.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pytest_repro.store import GoldenFile
from pytest_repro.summary import summarize


def new_entry(values: np.ndarray, kept: str = "full") -> dict:
    return {"summary": summarize(values, str(values.dtype)), "seed": [0], "fingerprint": {"backend": "torch-cpu"},
            "kept": kept}


def recorded(tmp_path: Path, values: np.ndarray | None = None) -> tuple[Path, dict]:
    """A golden with one valid entry (``output`` on torch-cpu) and another one, on torch-cuda."""
    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4) if values is None else values
    golden = GoldenFile(tmp_path / "t.json", "t.py::test")
    golden.set_entry("output", "torch-cpu", new_entry(values), values, None)
    golden.set_entry("output", "torch-cuda", new_entry(values + 1), values + 1, None)
    return golden.path, json.loads(golden.path.read_text())
