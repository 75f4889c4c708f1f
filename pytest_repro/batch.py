"""Batch = items: item i of a batch made with one generator per item equals the image made alone with generator i.

This is what makes "improve one image of a batch" work: generate a batch with a generator per item,
keep the seed of the image you like, and regenerate that image alone (more steps, another scheduler)
from the same seed. It holds only when no item depends on the rest of the batch. It breaks when one
generator is shared by the batch (item 1 then draws the noise after item 0's), when a pipeline draws
noise for the whole batch from the first generator, or when an op mixes items (batch statistics).

Plain functions, no fixture: call them in any test, PyTorch or MindSpore (numpy generators)::

    def run(items):  # the prompts and generators of these batch items, in this order
        return pipe([prompts[i] for i in items], generator=[repro_generator(i) for i in items],
                    output_type="np").images

    check_batch_items(run, len(prompts))  # runs the batch, then each item alone

Outputs go through :func:`pytest_repro.convert.to_array` (numpy, torch, MindSpore, PIL, diffusers
outputs) and are compared with :func:`pytest_repro.verdict.metrics`, under the rule a golden check
uses: every value within ``atol + rtol * |batch value|``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .convert import UnsupportedOutput, to_array
from .tolerance import DEFAULT_ATOL
from .verdict import metrics


class BatchItemsDiffer(AssertionError):
    """Raised when batch items differ from the same items generated alone; ``.result`` says which."""

    def __init__(self, result: BatchResult):
        super().__init__(result.message())
        self.result = result


@dataclass(frozen=True)
class ItemResult:
    index: int
    passed: bool
    limit: float  # the L_inf this item was held to: atol + rtol * max |batch item|
    linf: float | None = None  # None where the two could not be compared (shape, dtype)
    seed: int | None = None
    reason: str | None = None  # why it failed, when L_inf alone doesn't say

    @property
    def name(self) -> str:
        return f"item {self.index}" + ("" if self.seed is None else f" (seed {self.seed})")


@dataclass(frozen=True)
class BatchResult:
    label: str  # the test (or the label given), named in every message
    items: tuple[ItemResult, ...]
    batch: np.ndarray  # the batch output as an array, e.g. for repro_golden.check(result.batch)

    @property
    def passed(self) -> bool:
        return all(item.passed for item in self.items)

    @property
    def differing(self) -> list[int]:
        """Indices of the items that differ from their solo run."""
        return [item.index for item in self.items if not item.passed]

    def message(self) -> str:
        bad = [item for item in self.items if not item.passed]
        if not bad:
            return f"{self.label}: all {len(self.items)} batch items equal the same items generated alone"
        lines = [f"{self.label}: {len(bad)} of {len(self.items)} batch items differ from the same item "
                 "generated alone with its own generator:"]
        for item in bad:
            linf = "" if item.linf is None else f"L_inf {item.linf:.3g} > limit {item.limit:.3g}"
            lines.append(f"  {item.name}: " + "; ".join(part for part in (linf, item.reason) if part))
        lines.append("An item must not depend on the rest of the batch: give each item its own generator "
                     "(repro_generator(seed, batch=n)), never one generator shared or repeated ([g] * n).")
        return "\n".join(lines)

    def assert_passed(self) -> BatchResult:
        """Raise :class:`BatchItemsDiffer` naming the differing items; return self when none differ."""
        __tracebackhide__ = True
        if not self.passed:
            raise BatchItemsDiffer(self)
        return self


def _label(label: str | None) -> str:
    # pytest sets PYTEST_CURRENT_TEST to "path::test (call)" while a test runs: the test's own name.
    if label is not None:
        return label
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return current.rsplit(" (", 1)[0] if current else "batch"


def _limit(value: Any, name: str, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{label}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _array(output: Any, what: str, label: str) -> tuple[np.ndarray, str]:
    try:
        return to_array(output)
    except UnsupportedOutput as exc:
        raise UnsupportedOutput(f"{label}: {what} is not an array: {exc}") from None


def _compare_item(index: int, got: np.ndarray, got_dtype: str, ref: np.ndarray, ref_dtype: str,
                  atol: float, rtol: float, seed: int | None) -> ItemResult:
    if got.shape == (1, *ref.shape):  # run([i]) returns a batch of one
        got = got[0]
    ref64 = ref.astype(np.float64)
    limit = atol + rtol * float(np.abs(ref64).max(initial=0.0)) if np.isfinite(ref64).all() else atol
    if got.shape != ref.shape:
        return ItemResult(index, False, limit, seed=seed,
                          reason=f"shape {got.shape} alone, {ref.shape} in the batch")
    if got_dtype != ref_dtype:
        return ItemResult(index, False, limit, seed=seed, reason=f"dtype {got_dtype} alone, {ref_dtype} in the batch")
    got64 = got.astype(np.float64)
    if not (np.isfinite(got64).all() and np.isfinite(ref64).all()):
        return ItemResult(index, False, limit, seed=seed, reason="NaN or Inf values")
    linf = float(metrics(got64, ref64)["linf"] or 0.0)
    passed = bool((np.abs(got64 - ref64) <= atol + rtol * np.abs(ref64)).all())
    return ItemResult(index, passed, limit, linf=linf, seed=seed)


def batch_matches_items(batch_output: Any, item_outputs: Sequence[Any], *, atol: float = DEFAULT_ATOL,
                        rtol: float = 0.0, seeds: Sequence[int] | None = None,
                        label: str | None = None) -> BatchResult:
    """Compare item i of ``batch_output`` with ``item_outputs[i]``; the result names the items that differ.

    ``item_outputs[i]`` may have a leading axis of 1 (a batch of one). ``seeds`` only name the items in
    messages. Raises :class:`~pytest_repro.convert.UnsupportedOutput` (naming the test) for outputs that
    are not arrays and ``ValueError`` for counts that don't match; differing items are in the result,
    see :meth:`BatchResult.assert_passed`.
    """
    label = _label(label)
    atol, rtol = _limit(atol, "atol", label), _limit(rtol, "rtol", label)
    if isinstance(item_outputs, str | bytes) or not isinstance(item_outputs, Sequence):
        raise TypeError(f"{label}: item_outputs must be a list with one output per batch item, "
                        f"got {type(item_outputs).__name__}")
    batch, batch_dtype = _array(batch_output, "the batch output", label)
    if batch.ndim == 0 or batch.shape[0] != len(item_outputs):
        raise ValueError(f"{label}: the batch output has shape {batch.shape}, expected {len(item_outputs)} items "
                         "along its first axis (one per item output)")
    if seeds is not None and len(seeds) != len(item_outputs):
        raise ValueError(f"{label}: {len(seeds)} seeds for {len(item_outputs)} batch items")
    items = []
    for i, output in enumerate(item_outputs):
        got, got_dtype = _array(output, f"the output of item {i}", label)
        items.append(_compare_item(i, got, got_dtype, batch[i], batch_dtype, atol, rtol,
                                   None if seeds is None else int(seeds[i])))
    return BatchResult(label, tuple(items), batch)


def check_batch_items(run: Callable[[list[int]], Any], size: int, *, batch: Any = None,
                      atol: float = DEFAULT_ATOL, rtol: float = 0.0, seeds: Sequence[int] | None = None,
                      label: str | None = None) -> BatchResult:
    """Run the batch (``run([0, ..., size - 1])``, unless ``batch`` is given), then each item alone
    (``run([i])``), and raise :class:`BatchItemsDiffer` naming the items that differ.

    ``run(items)`` makes the output of those batch items, in that order, each with its own generator.
    Returns the :class:`BatchResult` when every item matches (``.batch`` holds the batch's array).
    """
    __tracebackhide__ = True
    label = _label(label)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"{label}: size must be a whole number of batch items >= 1, got {size!r}")
    if batch is None:
        batch = run(list(range(size)))
    singles = [run([i]) for i in range(size)]
    return batch_matches_items(batch, singles, atol=atol, rtol=rtol, seeds=seeds, label=label).assert_passed()
