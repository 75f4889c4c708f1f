"""The ``repro`` marker: read once per test, validated by the settings' own validators."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from .identity import DEFAULT_FRAMEWORK
from .settings import runs, tolerance_overrides
from .tolerance import TOLERANCE_KEYS

MARKER_KEYS = (*TOLERANCE_KEYS, "backends", "framework", "runs", "deterministic")


@dataclass(frozen=True)
class Marker:
    tolerance: dict[str, Any] = field(default_factory=dict)  # validated overrides
    backends: tuple[str, ...] | None = None  # words or keys the test may run on
    framework: str = DEFAULT_FRAMEWORK
    runs: int | None = None  # the determinism audit's runs for this test (None: --repro-runs)
    deterministic: bool | None = None  # None: --repro-deterministic / ini
    error: str | None = None  # a bad runs=: fails this test alone at setup, the session goes on


NO_MARKER = Marker()  # frozen: one shared value for every test without the marker


def framework_of(item: pytest.Item) -> str:
    """The test's framework from the raw marker (before validation: used while parametrizing)."""
    marks = [m.kwargs.get("framework") for m in item.iter_markers("repro")]
    return next((f for f in marks if isinstance(f, str)), DEFAULT_FRAMEWORK)


def read_marker(item: pytest.Item) -> Marker:
    """The item's ``repro`` marker kwargs (closest marker wins), validated; a UsageError names the test."""
    marks = list(item.iter_markers("repro"))
    if not marks:  # most tests: nothing to import, validate or build
        return NO_MARKER
    from .backends import check_word, frameworks  # stdlib only

    kwargs: dict[str, Any] = {}
    for mark in reversed(marks):
        if mark.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.repro takes keyword arguments only")
        kwargs.update(mark.kwargs)
    if not kwargs:
        return Marker()
    where = f"{item.nodeid}: @pytest.mark.repro"
    unknown = set(kwargs) - set(MARKER_KEYS)
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: unknown @pytest.mark.repro argument(s) {sorted(unknown)}; "
                                f"known: {', '.join(MARKER_KEYS)}")
    framework = kwargs.get("framework", DEFAULT_FRAMEWORK)
    if framework not in frameworks():
        raise pytest.UsageError(f"{where} framework={framework!r}; choose from {', '.join(frameworks())}")
    allowed = kwargs.get("backends")
    if isinstance(allowed, str):
        allowed = [allowed]
    deterministic = kwargs.get("deterministic")
    if deterministic is not None and not isinstance(deterministic, bool):
        raise pytest.UsageError(f"{where} deterministic={deterministic!r}: expected True or False")
    count, error = kwargs.get("runs"), None
    if count is not None:
        try:
            count = runs(count)
        except ValueError as exc:  # one test's audit is wrong, not the session: only that test fails
            count, error = None, f"{where}(runs={kwargs['runs']!r}): {exc}"
    try:
        tolerance = tolerance_overrides({k: v for k, v in kwargs.items() if k in TOLERANCE_KEYS}, where)
        for word in allowed or ():
            check_word(word, f"{where} backends=[{word!r}]", allow_auto=False)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    return Marker(tolerance, None if allowed is None else tuple(allowed), framework, count, deterministic, error)
