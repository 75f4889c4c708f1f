"""Trajectory goldens: the latents of every denoising step, to name the first step that drifted.

``repro_golden.trajectory(name=None)`` returns a :class:`TrajectoryRecorder`, a callable with diffusers'
``callback_on_step_end`` signature ``(pipe, step, timestep, callback_kwargs) -> callback_kwargs``
(mindone.diffusers pipelines call it the same way). Per step it keeps the summary of
``callback_kwargs["latents"]`` and :data:`STEP_SAMPLE` evenly strided values of it. The next ``check()``
of the test (or the one of the recorder's name) judges the run's steps against the trajectory entry,
``<check>@trajectory`` in the same golden file: an ordinary entry whose array is (steps, sample) and
which also holds each step's summary, so a golden diff in a pull request shows which step moved.

A recorder never raises inside the pipeline (a traceback from deep in a denoising loop helps nobody): what
goes wrong is kept in :attr:`TrajectoryRecorder.problem` and ``check()`` fails naming the test.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .convert import UnsupportedOutput, to_array
from .summary import abs_diff, sample_indices, summarize
from .tolerance import Tolerance

SUFFIX = "@trajectory"  # the entry of check "output" is "output@trajectory"; "@" is kept in array file names
STEP_SAMPLE = 256  # latent values kept per step: ~1 KB a step in float32, enough to see where a step moved
PER_STEP = ("shape", "dtype", "hash", "abs_sum", "mean", "std", "min", "max")  # no corners: one line a step


def entry_name(check: str) -> str:
    return check + SUFFIX


NEVER_CALLED = ("the pipeline never called repro_golden.trajectory(): pass it to the pipeline as "
                "callback_on_step_end=repro_golden.trajectory() before check(); a pipeline whose __call__ has no "
                "callback_on_step_end (diffusers' DDIM, DDPM, PNDM, DiT, LDM) records through its scheduler: "
                "with repro_golden.trajectory().on_scheduler(pipe.scheduler): pipe(...)")


class TrajectoryRecorder:
    """Records each step's latents; a ``callback_on_step_end`` for diffusers and mindone.diffusers."""

    def __init__(self, name: str | None):
        self.name = name
        self.steps: list[int] = []
        self.timesteps: list[float | None] = []
        self.summaries: list[dict[str, Any]] = []
        self.samples: list[np.ndarray] = []
        self.problem: str | None = None

    def __repr__(self) -> str:
        return f"<repro trajectory {self.name or '(next check)'}: {len(self.steps)} steps>"

    def __call__(self, pipe: Any, step: Any, timestep: Any, callback_kwargs: Any) -> Any:
        if self.problem is None:
            self.problem = self._record(step, timestep, callback_kwargs)
        return callback_kwargs  # unchanged: recording never alters the run

    def _record(self, step: Any, timestep: Any, callback_kwargs: Any) -> str | None:
        latents = callback_kwargs.get("latents") if isinstance(callback_kwargs, Mapping) else None
        if latents is None:
            got = sorted(map(str, callback_kwargs)) if isinstance(callback_kwargs, Mapping) else \
                type(callback_kwargs).__name__
            return (f"the pipeline passed no 'latents' to callback_on_step_end at step {step} (it passed {got}); "
                    "pass callback_on_step_end_tensor_inputs=['latents'] to the pipeline")
        try:
            array, dtype = to_array(latents)
        except UnsupportedOutput as exc:
            return f"the latents of step {step} can't be recorded: {exc}"
        flat = np.ascontiguousarray(array).reshape(-1)
        sample = flat[sample_indices(flat.size, STEP_SAMPLE)].copy()
        if self.samples and (sample.size != self.samples[0].size or sample.dtype != self.samples[0].dtype):
            return (f"the latents changed from {self.summaries[0]['shape']} {self.summaries[0]['dtype']} at the "
                    f"first step to {list(array.shape)} {dtype} at step {step}: a trajectory needs one shape")
        summary = summarize(array, dtype)
        self.steps.append(_whole(step, len(self.steps)))
        self.timesteps.append(_float(timestep))
        self.summaries.append({k: summary[k] for k in PER_STEP if k in summary})
        self.samples.append(sample)
        return None

    @contextlib.contextmanager
    def on_scheduler(self, scheduler: Any) -> Iterator[TrajectoryRecorder]:
        """Record through ``scheduler.step`` instead, for pipelines without ``callback_on_step_end``.

        diffusers 0.42's DDIM, DDPM, PNDM, DiT and LDM pipelines take no callback; each of their steps calls
        ``scheduler.step`` once, whose ``prev_sample`` is the step's latents (with classifier-free guidance,
        DiT's doubled batch). Inside the block every call is recorded; afterwards the scheduler is as it was.
        """
        original = scheduler.__dict__.get("step")
        step = scheduler.step
        count = itertools.count()

        def recording(model_output: Any, timestep: Any, *args: Any, **kwargs: Any) -> Any:
            out = step(model_output, timestep, *args, **kwargs)
            latents = out[0] if isinstance(out, tuple) else getattr(out, "prev_sample", None)
            self(None, next(count), timestep, {"latents": latents} if latents is not None else {})
            return out

        scheduler.step = recording
        try:
            yield self
        finally:
            if original is None:
                del scheduler.step
            else:
                scheduler.step = original

    def array(self) -> np.ndarray:
        """The kept values, one row per step: what the golden's array holds."""
        return np.stack(self.samples)

    def record(self) -> dict[str, Any]:
        """The entry's ``trajectory`` field: what each step was (readable in a golden diff)."""
        return {"steps": len(self.steps), "step": list(self.steps), "timestep": list(self.timesteps),
                "sample": int(self.samples[0].size) if self.samples else 0, "per_step": list(self.summaries)}


class Pending:
    """A test's recorders not yet judged: a check takes the one of its name, else the oldest unnamed one."""

    def __init__(self) -> None:
        self._recorders: list[TrajectoryRecorder] = []

    def new(self, name: str | None) -> TrajectoryRecorder:
        recorder = TrajectoryRecorder(name)
        self._recorders.append(recorder)
        return recorder

    def take(self, check: str) -> TrajectoryRecorder | None:
        for wanted in (check, None):
            for recorder in self._recorders:
                if recorder.name == wanted:
                    self._recorders.remove(recorder)
                    return recorder
        return None


def _whole(step: Any, default: int) -> int:
    try:
        return int(step)
    except (TypeError, ValueError):
        return default


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):  # a tensor of several values, or something else
        return None
    return number if np.isfinite(number) else None


def judge_steps(actual: np.ndarray, golden: np.ndarray, steps: list[int], tol: Tolerance) -> dict[str, Any]:
    """L_inf per step against the golden's rows, the limit, and the first step beyond it (``None`` if none).

    The limit is the check's own L_inf limit (:meth:`Tolerance.linf_limit` of the golden's largest value).
    A different number of steps or of values per step is a ``problem``, not a drift.
    """
    n, m = actual.shape[0], golden.shape[0] if golden.ndim == 2 else 0
    verdict: dict[str, Any] = {"steps": n, "golden_steps": m, "step": list(steps), "linf": [], "limit": None,
                               "first_divergent_step": None, "problem": None}
    if golden.ndim != 2 or m != n:
        verdict["problem"] = f"golden has {m} steps, this run {n}"
        return verdict
    if golden.shape[1] != actual.shape[1]:
        verdict["problem"] = (f"the golden keeps {golden.shape[1]} latent values a step, this run {actual.shape[1]}: "
                              "the latents' shape changed")
        return verdict
    with np.errstate(all="ignore"):
        linf = [float(abs_diff(a, e).max(initial=0.0)) for a, e in zip(actual, golden, strict=True)]
        scale = float(np.abs(golden.astype(np.float64)).max(initial=0.0))
    limit = tol.linf_limit(scale)
    verdict["linf"], verdict["limit"] = linf, limit
    # NaN compares as "not above": a NaN step is divergent too
    verdict["first_divergent_step"] = next((s for s, v in zip(steps, linf, strict=True) if not v <= limit), None)
    return verdict


def diverged(trajectory: dict[str, Any]) -> bool:
    return trajectory.get("first_divergent_step") is not None or bool(trajectory.get("problem"))
