"""``repro_golden.check()``: the workflow only (convert, look up, judge or record, keep the result).

The comparison rule is :func:`~pytest_repro.verdict.judge`, the CPU fallback lives in the store
(:meth:`GoldenFile.lookup`), the failure text is a view of the result (``report/failure.py``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .backends.base import Backend
from .convert import UnsupportedOutput, to_array
from .environment import fingerprint_diff
from .identity import TestLocation, safe_name
from .report.failure import failure_text
from .results import CheckResult, Status
from .settings import SAMPLE_SIZE, Settings, tolerance_overrides
from .store import GoldenError, GoldenFile, locked, save_arrays
from .summary import sample_indices, summarize
from .verdict import Side, Verdict, judge, same_environment


class ReproCheckFailed(AssertionError):
    """Raised by ``check()`` when an output drifted, is missing its golden, or is malformed."""


class GoldenChecker:
    """The object behind the ``repro_golden`` fixture; one per test."""

    def __init__(self, *, location: TestLocation, backend: Backend, settings: Settings,
                 marker_tolerance: dict[str, Any], seeds: list[int], record: Callable[[CheckResult], None]):
        self.location = location
        self.backend = backend
        self.settings = settings
        self.marker_tolerance = marker_tolerance
        self.seeds = seeds  # filled by repro_generator as the test draws generators
        self._record = record
        self._names: set[str] = set()

    @property
    def path(self) -> Path:
        return self.location.golden_path

    def _name(self, name: str | None) -> str:
        if name is None:
            name = "output"
            n = 2
            while name in self._names:
                name, n = f"output_{n}", n + 1
        elif name in self._names:
            raise ValueError(f"{self.location.nodeid}: check name {name!r} used twice in one test; "
                             "give each check its own")
        self._names.add(name)
        return name

    def regen_command(self) -> str:
        return (f"pytest --repro-regen --repro-backend={self.backend.key.word} "
                f"{shlex.quote(self.location.golden_id)}")

    def check(self, output: Any, name: str | None = None, **tolerance: Any) -> Verdict | None:
        """Compare ``output`` with the golden for this test and backend, within tolerance.

        Tolerance kwargs (atol, rtol, max_linf, cosine, bitwise) override the marker and options.
        Returns the verdict (``None`` when --repro-regen recorded the output instead).
        """
        __tracebackhide__ = True
        named = name is not None
        name = self._name(name)
        overrides = {**self.marker_tolerance, **tolerance_overrides(tolerance, f"{self.location.nodeid}: check()")}
        result = CheckResult(
            test=self.location.golden_id, nodeid=self.location.nodeid, check=name, named=named,
            backend=str(self.backend.key), golden_file=str(self.path),
            tolerance=self.settings.tolerance_for(self.backend.key, overrides),
            seed=list(self.seeds) or [self.settings.seed], fingerprint=self.backend.fingerprint(),
        )
        try:
            try:
                array, dtype = to_array(output)
            except UnsupportedOutput as exc:
                raise self._fail(result, f"{result.nodeid} [{name}]: {exc}") from None
            result.summary = summarize(array, dtype)
            if self.settings.report:
                result.array_file = self._keep_for_report(name, array)
            if self.settings.regen:
                self._regen(result, array)
                return None
            return self._compare(result, array)
        finally:
            self._record(result)

    @staticmethod
    def _fail(result: CheckResult, message: str, status: Status = Status.ERROR) -> ReproCheckFailed:
        result.status = status
        result.reasons = result.reasons or [message]
        result.message = message
        return ReproCheckFailed(message)

    def _load(self, result: CheckResult) -> GoldenFile:
        __tracebackhide__ = True
        try:
            return GoldenFile.load(self.path, self.location.golden_id)
        except GoldenError as exc:
            raise self._fail(result, str(exc)) from None

    def _kept(self, array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The whole array if it is small enough, else an evenly strided sample and its indices."""
        if array.nbytes <= self.settings.array_limit:
            return array, None
        index = sample_indices(array.size, SAMPLE_SIZE)
        return array.reshape(-1)[index], index

    def _keep_for_report(self, name: str, array: np.ndarray) -> str:
        """Save the output beside the JSON report, so two runs on two machines can be compared."""
        report = Path(self.settings.report or "")
        folder = report.with_name(report.stem + ".arrays")
        path = folder / (safe_name(f"{self.location.golden_id}.{name}.{self.backend.key}") + ".npz")
        save_arrays(path, *self._kept(array), compress=False)
        return f"{folder.name}/{path.name}"

    def _regen(self, result: CheckResult, array: np.ndarray) -> None:
        __tracebackhide__ = True
        key = self.backend.key
        if not result.summary["finite"]:
            raise self._fail(result, f"{result.nodeid} [{result.check}]: refusing to record an output with NaN or "
                                     f"Inf values as the golden on {key}")
        golden = self._load(result)
        try:
            entry = golden.entry(result.check, key)
        except GoldenError as exc:
            raise self._fail(result, str(exc)) from None
        result.golden_backend = str(key)
        if entry is not None and entry["summary"]["hash"] == result.summary["hash"] and _array_intact(golden, entry):
            result.status = Status.UNCHANGED
            return
        values, index = self._kept(array)
        new_entry = {"summary": result.summary, "seed": result.seed, "fingerprint": result.fingerprint,
                     "kept": "full" if index is None else f"sample of {index.size}"}
        with locked(self.path):
            golden = GoldenFile.load(self.path, self.location.golden_id)  # re-read: another backend may have written
            written = golden.set_entry(result.check, key, new_entry, values, index)
        result.status = Status.WRITTEN if entry is None else Status.REWRITTEN
        result.written = [str(p) for p in written]

    def _compare(self, result: CheckResult, array: np.ndarray) -> Verdict:
        __tracebackhide__ = True
        key = self.backend.key
        golden = self._load(result)
        try:
            entry, golden_key = golden.lookup(result.check, key)
            loaded = golden.load_array(entry) if entry is not None and result.summary["size"] else None
        except GoldenError as exc:
            raise self._fail(result, str(exc)) from None
        if entry is None:
            known = golden.backends(result.check)
            where = f"; it has entries for {', '.join(known)}" if known else ""
            raise self._fail(result, (
                f"no golden for {result.label} on backend {key} in {self.path}{where}.\n"
                f"Record it with: {self.regen_command()}"
            ), status=Status.MISSING)
        stored, index = loaded if loaded is not None else (None, None)
        verdict = judge(
            Side(result.summary, array.reshape(-1)), Side(entry["summary"], stored, index), result.tolerance,
            same_environment(golden_key, entry.get("fingerprint"), key, result.fingerprint),
        )
        result.golden_backend = str(golden_key)
        result.fingerprint_diff = fingerprint_diff(entry.get("fingerprint"), result.fingerprint)
        result.judged(verdict)
        if not verdict.passed:
            message = failure_text(result, str(self.path), entry, self.regen_command())
            raise self._fail(result, message, status=Status.FAIL)
        return verdict


def _array_intact(golden: GoldenFile, entry: dict[str, Any]) -> bool:
    """A missing or mismatched .npz beside an unchanged entry must be rewritten by --repro-regen."""
    try:
        golden.load_array(entry)
    except GoldenError:
        return False
    return True
