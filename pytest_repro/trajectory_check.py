"""How ``check()`` judges and records a trajectory (``trajectory.py``) beside the output it checks.

The trajectory entry goes through the checker's own workflow (``GoldenChecker._regen``): the same
tolerance, the same "missing / unchanged / moved within tolerance" rules of --repro-regen, the same
atomic writes, the same CPU fallback when a device has no entry of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .identity import golden_path
from .results import CheckResult, Status
from .store import GoldenError, GoldenFile, locked
from .summary import summarize
from .trajectory import NEVER_CALLED, TrajectoryRecorder, diverged, entry_name, judge_steps

if TYPE_CHECKING:
    from .check import GoldenChecker


def _base(result: CheckResult, recorder: TrajectoryRecorder) -> dict[str, Any]:
    record = recorder.record()
    return {"check": entry_name(result.check), "status": Status.ERROR.value, "steps": record["steps"],
            "step": record["step"], "timestep": record["timestep"], "golden_steps": None, "golden_backend": None,
            "linf": [], "limit": None, "first_divergent_step": None, "problem": None}


def judge_trajectory(checker: GoldenChecker, result: CheckResult, recorder: TrajectoryRecorder) -> dict[str, Any]:
    """The run's steps against the trajectory golden: the value of ``CheckResult.trajectory``; never raises."""
    out = _base(result, recorder)
    problem = recorder.problem or (None if recorder.steps else NEVER_CALLED)
    if problem:
        return {**out, "problem": problem}
    name = out["check"]
    try:
        golden = GoldenFile.load(checker.path, checker.location.golden_id)
        entry, key = golden.lookup(name, checker.backend.key)
        stored = golden.load_array(name, key)[0] if entry is not None else None
    except GoldenError as exc:
        return {**out, "problem": str(exc)}
    if entry is None or stored is None:
        return {**out, "status": Status.MISSING.value,
                "problem": f"no trajectory golden {name!r} on backend {checker.backend.key} in {checker.path}"}
    verdict = judge_steps(recorder.array(), stored, recorder.steps, result.tolerance)
    return {**out, **verdict, "golden_backend": str(key),
            "status": (Status.FAIL if diverged(verdict) else Status.PASS).value}


def regen_trajectory(checker: GoldenChecker, result: CheckResult, recorder: TrajectoryRecorder) -> None:
    """--repro-regen: record the trajectory entry beside the output's (already recorded), by the output's rules."""
    __tracebackhide__ = True
    out = _base(result, recorder)
    result.trajectory = out
    problem = recorder.problem or (None if recorder.steps else NEVER_CALLED)
    if problem:
        out["problem"] = problem
        raise checker._fail(result, f"{result.nodeid} [{result.check}]: its trajectory can't be recorded: {problem}")
    array = recorder.array()
    probe = CheckResult(test=result.test, nodeid=result.nodeid, check=out["check"], backend=result.backend,
                        tolerance=result.tolerance, seed=result.seed, fingerprint=result.fingerprint,
                        summary=summarize(array, str(array.dtype)))
    try:
        checker._regen(probe, array, {"trajectory": recorder.record()})
    except AssertionError:  # a step with NaN or Inf, a golden file that can't be written: the check fails
        out["problem"] = probe.message
        raise checker._fail(result, f"{result.nodeid} [{result.check}]: its trajectory can't be recorded: "
                                    f"{probe.message}") from None
    finally:
        out.update(status=probe.status.value, golden_backend=probe.golden_backend)
        result.written = [*result.written, *probe.written]


def obtain_trajectory(checker: GoldenChecker, result: CheckResult, recorder: TrajectoryRecorder) -> None:
    """--repro-obtained: the trajectory entry regen would write, where it failed or had none (``accept`` applies it)."""
    if result.trajectory.get("status") not in (Status.FAIL.value, Status.MISSING.value) or recorder.problem:
        return
    array = recorder.array()
    if not summarize(array, str(array.dtype))["finite"]:
        return
    path = golden_path(Path(checker.settings.obtained or ""), checker.location.golden_id)
    entry = {"summary": summarize(array, str(array.dtype)), "seed": result.seed, "fingerprint": result.fingerprint,
             "kept": "full", "trajectory": recorder.record()}
    try:
        with locked(path):
            written = GoldenFile.load(path, checker.location.golden_id).set_entry(
                entry_name(result.check), checker.backend.key, entry, array, None)
    except GoldenError as exc:  # the run's verdict stands; say why nothing was obtained
        result.reasons = [*result.reasons, f"--repro-obtained (trajectory): {exc}"]
        return
    result.obtained = [*result.obtained, *(str(p) for p in written if str(p) not in result.obtained)]
