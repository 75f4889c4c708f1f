"""``repro_golden.check()``: the workflow only (convert, look up, judge or record, keep the result).

The comparison rule is :func:`~pytest_repro.verdict.judge`, the CPU fallback lives in the store
(:meth:`GoldenFile.lookup`), the failure text is a view of the result (``report/failure.py``).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .backends.base import Backend
from .convert import UnsupportedOutput, to_array
from .environment import fingerprint_diff
from .identity import TestLocation, golden_path, safe_name
from .pitfalls import GeneratorWatch, mismatch, warn
from .report.failure import failure_text, trajectory_failure
from .results import CheckResult, Status
from .settings import SAMPLE_SIZE, Settings, tolerance_overrides
from .store import GoldenError, GoldenFile, locked, save_arrays, sweep_once
from .summary import extremes, sample_indices, sha256, summarize, with_stats
from .trajectory import SUFFIX, Pending, TrajectoryRecorder
from .trajectory_check import judge_trajectory, obtain_trajectory, regen_trajectory
from .verdict import IncomparableArrays, Side, Verdict, judge, same_environment


class ReproCheckFailed(AssertionError):
    """Raised by ``check()`` when an output drifted, is missing its golden, or is malformed."""


class GoldenChecker:
    """The object behind the ``repro_golden`` fixture; one per test."""

    def __init__(self, *, location: TestLocation, backend: Backend, settings: Settings,
                 marker_tolerance: dict[str, Any], seeds: list[int], record: Callable[[CheckResult], None],
                 watch: GeneratorWatch | None = None):
        self.location = location
        self.backend = backend
        self.settings = settings
        self.marker_tolerance = marker_tolerance
        self.seeds = seeds  # filled by repro_generator as the test draws generators
        self._record = record
        self._names: set[str] = set()
        self._trajectories = Pending()
        self.watch = watch  # what the pipeline was given since the last check (generator pitfalls)
        self.audit: Any = None  # audit.Rerun while --repro-runs or --repro-timing repeats the test

    def restart(self) -> None:
        """A rerun of the test (audit.py): its checks take the same names again."""
        self._names.clear()
        self._trajectories = Pending()

    @property
    def path(self) -> Path:
        return self.location.golden_path

    def _name(self, name: str | None) -> str:
        if name is None:
            name = "output"
            n = 2
            while name in self._names:
                name, n = f"output_{n}", n + 1
        elif name.endswith(SUFFIX):  # the name of a trajectory entry: the two would share it
            raise ReproCheckFailed(f"{self.location.nodeid}: check name {name!r} ends in {SUFFIX!r}, which names "
                                   "trajectory entries; choose another name")
        elif name in self._names:  # a clean failure: two checks would share one golden entry
            raise ReproCheckFailed(f"{self.location.nodeid}: check name {name!r} used twice in one test; give "
                                   "each check its own name (check(output, name=...))")
        self._names.add(name)
        return name

    def trajectory(self, name: str | None = None) -> TrajectoryRecorder:
        """A ``callback_on_step_end`` recording each step's latents; the check of that name (by default the next
        check) judges them against the trajectory golden."""
        return self._trajectories.new(name)

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
        recorder = self._trajectories.take(name)
        # (a rerun's recorder is taken, not judged: the audit compares outputs)
        if self.audit is not None and self.audit.again(name, output):
            return None  # a rerun: compared with run 1's output of this check, not with the golden
        overrides = {**self.marker_tolerance, **tolerance_overrides(tolerance, f"{self.location.nodeid}: check()")}
        result = CheckResult(
            test=self.location.golden_id, nodeid=self.location.nodeid, check=name, named=named,
            backend=str(self.backend.key), golden_file=str(self.path),
            tolerance=self.settings.tolerance_for(self.backend.key, overrides),
            seed=list(self.seeds) or [self.settings.seed], fingerprint=self.backend.fingerprint(),
        )
        if self.watch is not None:
            pitfalls, result.generators = self.watch.at_check(name)
            result.pitfalls = [p.to_json() for p in pitfalls]
        array: np.ndarray | None = None
        try:
            try:
                array, dtype = to_array(output)
            except UnsupportedOutput as exc:
                raise self._fail(result, f"{result.nodeid} [{name}]: {exc}") from None
            # The hash only where something is recorded, or where a report keeps a sample of the output (runs
            # compared later tell identical outputs by it); a check against a sample computes it only if the
            # sample is unchanged (verdict.judge). The sums are left to the comparison's pass over the arrays,
            # or to with_stats below.
            sampled = array.nbytes > self.settings.array_limit
            hashed = bool(self.settings.regen) or (sampled and bool(self.settings.report))
            known = extremes(array)  # read once: the summary and the comparison both need them
            result.summary = summarize(array, dtype, hashed, stats=hashed, known=known)
            if self.settings.report:
                try:
                    result.array_file = self._keep_for_report(name, array)
                except GoldenError as exc:  # a full disk or a read-only report folder
                    raise self._fail(result, f"{result.nodeid} [{name}]: {exc}") from None
            if self.settings.regen:
                self._regen(result, array)
                if recorder is not None:
                    regen_trajectory(self, result, recorder)
                return None
            try:
                if recorder is not None:  # first: the output's failure message names the first divergent step
                    result.trajectory = judge_trajectory(self, result, recorder)
                verdict = self._compare(result, array, known)
                if result.trajectory and result.trajectory["status"] != Status.PASS.value:
                    raise self._fail(result, trajectory_failure(result, str(self.path), self.regen_command()),
                                     status=Status(result.trajectory["status"]))
                return verdict
            finally:
                if self.settings.obtained and self._would_record(result):
                    self._write_obtained(result, array)
                if self.settings.obtained and recorder is not None:
                    obtain_trajectory(self, result, recorder)
        finally:
            if array is not None:  # also after a failure before the comparison: the sums belong in the result
                result.summary = with_stats(result.summary, array)
            self._record(result)
            if not result.status.fails_run:  # a failure lists them in its message (and a warning turned error
                # by -W error must not replace the failure)
                warn([p["message"] for p in result.pitfalls])

    def _would_record(self, result: CheckResult) -> bool:
        """What --repro-regen would write: an output with no entry of its own, or one that failed its golden."""
        if not result.summary.get("finite", False) or result.status is Status.ERROR and not result.summary:
            return False
        return result.status in (Status.FAIL, Status.MISSING) or result.golden_backend != str(self.backend.key)

    def _new_entry(self, result: CheckResult, array: np.ndarray,
                   extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any, Any]:
        # A trajectory (extra) is kept whole: its rows are samples already, and a sample of them would lose steps.
        values, index = (array, None) if extra else self._kept(array)
        if "hash" not in result.summary:  # a check summarizes for its comparison; what is recorded is complete
            result.summary = summarize(array, result.summary["dtype"])
        entry = {"summary": result.summary, "seed": result.seed, "fingerprint": result.fingerprint,
                 "kept": "full" if index is None else f"sample of {index.size}", **(extra or {})}
        if result.generators:  # what drew the noise, so a run from another kind can be told apart
            entry["generators"] = result.generators
        return entry, values, index

    def _write_obtained(self, result: CheckResult, array: np.ndarray) -> None:
        """--repro-obtained: the entry regen would write, in the same layout under another folder."""
        path = golden_path(Path(self.settings.obtained or ""), self.location.golden_id)
        entry, values, index = self._new_entry(result, array)
        try:
            with locked(path):  # xdist workers running two backends of one test share the file
                written = GoldenFile.load(path, self.location.golden_id).set_entry(
                    result.check, self.backend.key, entry, values, index)
        except GoldenError as exc:  # the run's own verdict stands; say why nothing was obtained
            result.reasons = [*result.reasons, f"--repro-obtained: {exc}"]
            return
        result.obtained = [str(p) for p in written]

    @staticmethod
    def _fail(result: CheckResult, message: str, status: Status = Status.ERROR) -> ReproCheckFailed:
        result.status = status
        result.reasons = result.reasons or [message]
        result.message = message
        return ReproCheckFailed(message)

    def _load(self, result: CheckResult) -> GoldenFile:
        __tracebackhide__ = True
        try:
            golden = GoldenFile.load(self.path, self.location.golden_id)
        except GoldenError as exc:
            raise self._fail(result, str(exc)) from None
        owner = golden.data.get("test")
        if isinstance(owner, str) and owner and owner != self.location.golden_id:
            # Two ids that differ only in case share one file where the file system ignores case.
            raise self._fail(result, (
                f"{self.path} holds the golden of {owner}, not of {self.location.golden_id}: two test ids that "
                "differ only in case share one file on this file system (macOS, Windows); rename one of the tests"))
        return golden

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
        sweep_once(folder)  # what a killed run left there
        save_arrays(path, *self._kept(array), compress=False)
        return f"{folder.name}/{path.name}"

    def _regen(self, result: CheckResult, array: np.ndarray, extra: dict[str, Any] | None = None) -> None:
        __tracebackhide__ = True
        key = self.backend.key
        if not result.summary["finite"]:
            raise self._fail(result, f"{result.nodeid} [{result.check}]: refusing to record an output with NaN or "
                                     f"Inf values as the golden on {key}")
        new_entry, values, index = self._new_entry(result, array, extra)
        result.golden_backend = str(key)
        try:
            sweep_once(self.path.parent)
            # Files that can't be read are never replaced (restore or delete them); a bad entry is.
            state = _stored(self._load(result), result.check, key, new_entry, values, index)
            if state == "unchanged":
                result.status = Status.UNCHANGED
                return
            if state == "differs" and not self._moved(result, array, new_entry["kept"]):
                result.status = Status.UNCHANGED  # within tolerance: kept, no git churn
                result.reasons = ["differs within tolerance: kept (--repro-regen-all rewrites it)"]
                return
            with locked(self.path):
                # re-read: another backend of this test may have written meanwhile
                golden = GoldenFile.load(self.path, self.location.golden_id)
                written = golden.set_entry(result.check, key, new_entry, values, index)
        except GoldenError as exc:
            raise self._fail(result, str(exc)) from None
        result.status = Status.WRITTEN if state == "missing" else Status.REWRITTEN
        result.written = [str(p) for p in written]

    def _moved(self, result: CheckResult, array: np.ndarray, kept: str) -> bool:
        """Judge the output against the entry regen would replace; record how far it moved.

        ``kept``: what the new entry keeps ("full", "sample of N"). ``False`` when the output stays within
        tolerance and only ``--repro-regen`` (not ``-all``) was asked.
        """
        probe = CheckResult(test=result.test, nodeid=result.nodeid, check=result.check, backend=result.backend,
                            tolerance=result.tolerance, seed=result.seed, summary=result.summary,
                            fingerprint=result.fingerprint)
        try:
            self._compare(probe, array)
            within = True
        except ReproCheckFailed:
            within = False
        try:  # the abs-sum it had, for the regen summary's "old -> new"
            stored = GoldenFile.load(self.path, self.location.golden_id).entry(result.check, self.backend.key)
            old = stored["summary"].get("abs_sum") if stored else None
        except (GoldenError, TypeError, KeyError):
            stored, old = None, None
        result.metrics = {**probe.metrics, "golden_abs_sum": old}
        same_record = stored is not None and stored.get("seed") == result.seed and stored.get("kept") == kept
        # Kept only when the output moved within tolerance and the entry still describes it (seeds, what is kept).
        return (self.settings.regen == "all" or not within or probe.golden_backend != result.backend
                or not same_record)

    def _compare(self, result: CheckResult, array: np.ndarray, read: tuple[float, float] | None = None) -> Verdict:
        """Judge ``array`` (``read``: its extremes, where read already) against this test's golden."""
        __tracebackhide__ = True
        key = self.backend.key
        golden = self._load(result)
        try:
            entry, golden_key = golden.lookup(result.check, key)
            stored, index, stored_extremes = (golden.load_kept(result.check, golden_key) if entry is not None
                                              else (None, None, None))
        except GoldenError as exc:
            raise self._fail(result, str(exc)) from None
        if entry is None:
            known = golden.backends(result.check)
            where = f"; it has entries for {', '.join(known)}" if known else ""
            raise self._fail(result, (
                f"no golden for {result.label} on backend {key} in {self.path}{where}.\n"
                f"Record it with: {self.regen_command()}"
            ), status=Status.MISSING)
        try:
            verdict = judge(
                Side(result.summary, array.reshape(-1), extremes=read),
                Side(entry["summary"], stored, index, stored_extremes), result.tolerance,
                same_environment(golden_key, entry.get("fingerprint"), key, result.fingerprint),
            )
        except (UnsupportedOutput, IncomparableArrays) as exc:
            raise self._fail(result, f"{result.nodeid} [{result.check}]: {exc}") from None
        result.golden_backend = str(golden_key)
        if verdict.summary is not None:
            result.summary = verdict.summary
        recorded = entry.get("generators")
        if isinstance(recorded, list) and recorded and result.generators and set(recorded) != set(result.generators):
            result.pitfalls.insert(0, mismatch(result.nodeid, [str(k) for k in recorded], result.generators).to_json())
        result.fingerprint_diff = fingerprint_diff(entry.get("fingerprint"), result.fingerprint)
        result.judged(verdict)
        if not verdict.passed:
            message = failure_text(result, str(self.path), entry, self.regen_command())
            raise self._fail(result, message, status=Status.FAIL)
        return verdict


# What --repro-regen compares besides the arrays: every field of the new entry but the fingerprint (the same
# bytes from another machine confirm the golden, they don't move it: its fingerprint keeps bitwise checks where
# it was recorded). A trajectory entry adds its per-step record.
IGNORED = ("fingerprint",)


def _stored(golden: GoldenFile, check: str, key: str, entry: dict[str, Any], values: np.ndarray,
            index: np.ndarray | None) -> str:
    """``missing``, ``unchanged``, or ``differs`` (also for a malformed entry or array: regen replaces it).

    Unchanged means the whole stored entry is valid and holds this output: shape, dtype, every summary
    field, seeds, how much is kept, and the arrays themselves; equal bytes alone are not enough (``a`` and
    ``a[None]`` share them).
    """
    try:
        stored = golden.entry(check, key)
        if stored is None:
            return "missing"
        stored_values, stored_index = golden.load_array(check, key)
    except GoldenError:
        return "differs"
    compared = [k for k in entry if k not in IGNORED]
    plain = json.loads(json.dumps({k: entry[k] for k in compared}))  # as it reads back from the file
    same = all(stored.get(k) == plain[k] for k in compared)
    return "unchanged" if same and _same(stored_values, values) and _same(stored_index, index) else "differs"


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.dtype == b.dtype and a.shape == b.shape and sha256(a) == sha256(b)
