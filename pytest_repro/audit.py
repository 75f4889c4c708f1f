"""The determinism audit (``--repro-runs=N``) and the timing runs (``--repro-timing``) of one test.

The test's function is called again in this process with the same fixture values. Before each rerun the
framework is reseeded, the generators the test draws are fresh ones on the same seeds (``repro_generator``
makes a new one per call), and the checker's names start over. Run 1 checks against the golden as always;
in runs 2..N each ``check()`` compares its output with run 1's output of the same check instead, and under
determinism they must be bitwise equal. The audit runs PyTorch warn-only so that it can answer its
question (do the outputs move?) instead of stopping at the first op without a deterministic kernel, and
list every such op; the test still fails when it used one, as it would without the audit.

Check results are held back until the runs are over, then go out once each, with ``runs`` (and
``timing``) filled in. Imports the standard library and pytest; numpy inside.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from .nondeterminism import remedy, warn_only
from .results import CheckResult, Status


class Rerun:
    """What the golden checker asks while a test is repeated (``checker.audit``): is this a rerun?"""

    def __init__(self) -> None:
        self.run = 1
        self.label: str | None = None  # a timing run's name: measured against run 1, never failing
        self.first: dict[str, Any] = {}  # run 1's output of each check
        self.seen: set[str] = set()  # checks made in the current rerun
        self.linf: dict[str, float | None] = {}  # largest L_inf between a rerun and run 1, per check
        self.differing: dict[str, list[int]] = {}  # the reruns whose output differs, per check
        self.lines: list[str] = []  # what differs, as the failure lists it
        self.by_label: dict[str, float | None] = {}  # timing runs: largest L_inf vs run 1, per label
        self.completed = 0  # the runs whose call returned: fewer than asked where one raised

    def again(self, name: str, output: Any) -> bool:
        """Called by ``check()``: ``True`` when this is a rerun (compared here, not with the golden)."""
        import numpy as np

        from .convert import UnsupportedOutput, to_array

        try:
            array = to_array(output)[0]
        except UnsupportedOutput:
            return self.run > 1  # run 1's check reports it; a rerun can't compare what it can't read
        if self.run == 1:
            self.first[name] = np.array(array, copy=True)  # the test may reuse the output's memory
            return False
        self.seen.add(name)
        first = self.first.get(name)
        linf = None if first is None else distance(first, array)
        if self.label is not None:
            old = self.by_label.get(self.label, 0.0)
            self.by_label[self.label] = None if linf is None or old is None else max(old, linf)
            return True
        if first is None:
            self.lines.append(f"[{name}] run {self.run} made this check; run 1 did not")
        elif linf != 0.0 or first.tobytes() != array.tobytes():
            self._differs(name, linf, "L_inf " + ("n/a (shape or dtype differs)" if linf is None else f"{linf:.3g}"))
        return True

    def _differs(self, name: str, linf: float | None, what: str) -> None:
        self.differing.setdefault(name, []).append(self.run)
        old = self.linf.get(name, 0.0)
        self.linf[name] = None if linf is None or old is None else max(old, linf)
        self.lines.append(f"[{name}] run {self.run} vs run 1: {what}")

    def start(self, run: int, label: str | None = None) -> None:
        self.finish()
        self.run, self.label, self.seen = run, label, set()

    def finish(self) -> None:
        """A check run 1 made that the rerun just over did not make."""
        if self.run > 1 and self.label is None:
            for name in self.first.keys() - self.seen:
                self._differs(name, None, "no such check in this run")

    def summary(self, check: str, runs: int, ops: list[str]) -> dict[str, Any]:
        out = {"n": runs, "max_linf_between_runs": self.linf.get(check, 0.0),
               "differing_runs": self.differing.get(check, []), "nondeterministic_ops": list(ops)}
        if self.completed < runs:  # a run raised: the ones after it never ran, so "same" would be a claim
            out["completed"] = self.completed
        return out


def distance(a: Any, b: Any) -> float | None:
    """L_inf between two runs' outputs (NaN where both are NaN counts as equal); ``None`` if incomparable."""
    import numpy as np

    if a.shape != b.shape or a.dtype != b.dtype:
        return None
    if a.size == 0:
        return 0.0
    x, y = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(x - y)
    diff[np.isnan(x) & np.isnan(y)] = 0.0
    diff[np.isnan(diff)] = np.inf
    return float(diff.max())


def call_repeated(item: pytest.Function, run: Any, runs: int) -> bool:
    """``pytest_pyfunc_call`` for a repro test under --repro-runs>1 or --repro-timing (``True``: called)."""
    args = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
    repeat_or_fail(run, lambda: item.obj(**args), runs)
    return True


def repeat_or_fail(run: Any, call: Callable[[], Any], runs: int) -> None:
    """:func:`repeat` in a test (a function, or a TestCase method): its failure text fails the test."""
    problem = repeat(run, call, runs, timing=run.settings.timing)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def repeat(run: Any, call: Callable[[], Any], runs: int, timing: bool = False) -> str | None:
    """Call ``call`` ``runs`` times inside the entered :class:`~pytest_repro.Repro` ``run`` (and time it);
    the failure text when a rerun differed or a nondeterministic op ran, else ``None``."""
    checker = run.checker()
    start = Start(run)
    rerun = Rerun()
    checker.audit = rerun
    held: list[CheckResult] = []
    record, run._record = run._record, held.append  # results go out once, with the audit's findings
    ops: list[str] = []
    seconds: dict[str, Any] | None = None
    try:
        with warn_only(run.backend.framework, ops) if runs > 1 else contextlib.nullcontext():
            began = time.perf_counter()
            call()
            first_s = time.perf_counter() - began
            rerun.completed = 1
            for k in range(2, runs + 1):
                _fresh(run, checker, rerun, start, k)
                _in_run(call, k, runs)
                rerun.completed = k
            rerun.finish()
            if timing:
                from .timing import measure

                seconds = measure(run, call, lambda k, label: _fresh(run, checker, rerun, start, k, label), first_s,
                                  first=runs + 1)
                seconds["linf_vs_first_run"] = dict(rerun.by_label)
    finally:
        checker.audit = None
        run._record = record
        for result in held:
            _annotate(result, rerun, runs, ops, seconds)
            if record is not None:
                record(result)
    return failure(run.location.nodeid, runs, rerun, ops) if runs > 1 and (rerun.lines or ops) else None


class Start:
    """The global RNG states just before run 1: Python's, numpy's (where loaded) and the framework's.

    A rerun starts from them, not from a fresh seed: a fixture or ``setUp`` that drew random numbers or
    reseeded (``torch.manual_seed(42)``) ran once, before run 1 alone, and reseeding would start the
    reruns elsewhere and call a deterministic test nondeterministic.
    """

    def __init__(self, run: Any) -> None:
        import random

        self.numpy = sys.modules.get("numpy")  # not loaded yet: nothing drew from its global RNG
        self.states = (random.getstate(), None if self.numpy is None else self.numpy.random.get_state(),
                       run.backend.rng_state())

    def restore(self, run: Any) -> None:
        import random

        python, numpy, framework = self.states
        run.backend.seed_all(run.settings.seed)  # every device as the fixture left it (CUDA before it started)
        if framework is not None:  # then what run 1 started from, where the backend can tell
            run.backend.set_rng_state(framework)
        random.setstate(python)
        if numpy is not None and self.numpy is not None:
            self.numpy.random.set_state(numpy)


def _in_run(call: Callable[[], Any], k: int, runs: int) -> None:
    """``call()`` for rerun ``k``: what it raises says which run, since the test passed the run before."""
    try:
        call()
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python 3.11+; pytest prints the notes under the error
            exc.add_note(f"pytest-repro: raised in run {k} of {runs} of the determinism audit (--repro-runs); "
                         "the runs before it got past this point")
        raise


def _fresh(run: Any, checker: Any, rerun: Rerun, start: Start, k: int, label: str | None = None) -> None:
    """The state run 1 started from: its RNG states, no seeds drawn yet, no check names used."""
    rerun.start(k, label)
    run.seeds.clear()  # the checker shares this list; run 1's results hold their own copies
    start.restore(run)
    checker.restart()


def _annotate(result: CheckResult, rerun: Rerun, runs: int, ops: list[str], timing: dict[str, Any] | None) -> None:
    result.timing = timing
    if runs == 1:
        return
    result.runs = rerun.summary(result.check, runs, ops)
    differing = result.runs["differing_runs"]
    if differing:
        linf = result.runs["max_linf_between_runs"]
        reason = (f"determinism audit: run(s) {', '.join(map(str, differing))} of {runs} differ from run 1 "
                  f"(L_inf between runs {'n/a' if linf is None else f'{linf:.3g}'})")
        result.status = Status.FAIL
        result.reasons = [*result.reasons, reason]
        head = result.message or f"{result.nodeid} [{result.check}]:"
        result.message = f"{head}\n{reason}" if result.message else f"{head} {reason}"


def failure(nodeid: str, runs: int, rerun: Rerun, ops: list[str]) -> str:
    lines = [f"{nodeid}: determinism audit, {runs} runs on the same seeds in one process"]
    if rerun.lines:
        lines.append("the outputs differ between runs:")
        lines += [f"  {line}" for line in rerun.lines]
    else:
        lines.append("the outputs were bitwise equal in every run")
    if ops:
        lines.append("ops with no deterministic implementation in PyTorch used by this test (warn-only mode):")
        lines += [f"  {op}" for op in ops]
        lines.append(f"Remedy: {remedy(ops[0])}.")
    return "\n".join(lines)
