"""The plain API: one reproducible run outside pytest (scripts, notebooks, other runners).

::

    from pytest_repro import Repro

    with Repro("notebooks/ddim.ipynb::ddim", backend="cpu") as repro:
        image = pipe(generator=repro.generator(0), output_type="np").images
        repro.check(image)          # against golden/notebooks/ddim/ddim.json, like the fixture

On entry it selects the backend, seeds the framework and switches determinism on; on exit it
switches determinism back. The ``repro_*`` fixtures and :class:`~pytest_repro.testcase.ReproTestCase`
are thin layers on this class, so a check behaves the same in every runner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import settings as st
from .identity import DEFAULT_FRAMEWORK, TestLocation
from .marker import Marker
from .pitfalls import GeneratorWatch
from .results import CheckResult
from .selection import BackendUnavailable, select_backend

__all__ = ["BackendUnavailable", "Repro", "ReproUsageError"]

_active: list[Repro] = []  # the run in progress: one at a time, since determinism is process-wide


class ReproUsageError(RuntimeError):
    """A run used out of order: entered twice, nested, or asked for a generator before entering."""


class Repro:
    """One test's worth of reproducibility: a backend, seeded generators, determinism, golden checks."""

    def __init__(self, test: str, *, backend: str = "cpu", framework: str = DEFAULT_FRAMEWORK, seed: int = 0,
                 deterministic: bool = True, golden_dir: str | Path = "golden", regen: bool | str = False,
                 settings: st.Settings | None = None, marker: Marker | None = None,
                 location: TestLocation | None = None,
                 record: Callable[[CheckResult], None] | None = None, **tolerance: Any):
        if settings is None:
            settings = st.Settings(backends=(st.backend_words(backend)[0],), seed=st.seed(seed),
                                   deterministic=st.boolean(deterministic), golden_dir=str(golden_dir),
                                   regen="all" if regen == "all" else ("failing" if regen else None))
        if marker is not None and marker.deterministic is not None:  # the marker wins over options and ini
            settings = dataclasses.replace(settings, deterministic=marker.deterministic)
        self.settings = settings
        self.word = settings.backends[0]
        if marker is None:
            where = f"{test}: Repro()"
            try:
                marker = Marker(st.tolerance_overrides(tolerance, where), None, framework)
            except ValueError as exc:
                raise ReproUsageError(str(exc)) from None
        self.marker = marker
        self.location = location or TestLocation.of(test, None, Path(settings.golden_dir))
        self.results: list[CheckResult] = []
        self._record = record
        self._state = "new"
        self._determinism: Any = None
        self.backend: Any = None
        self.golden: Any = None
        self.seeds: list[int] = []
        self.watch: GeneratorWatch | None = None  # the generators this run hands out or sees (pitfalls.py)

    # ---- the context manager ----

    def __enter__(self) -> Repro:
        nodeid = self.location.nodeid
        if self._state != "new":
            raise ReproUsageError(f"{nodeid}: this Repro was already used; make a new one for each run")
        if _active:
            raise ReproUsageError(f"{nodeid}: Repro runs can't nest: {_active[-1].location.nodeid} is still "
                                  "running (determinism and seeds are process-wide); finish it first")
        self._state = "entered"
        backend = select_backend(self.word, self.marker, nodeid)  # BackendUnavailable says why not
        backend.precision_mode = self.settings.precision_mode
        reason = backend.setup()
        if reason is not None:
            raise BackendUnavailable(reason)
        backend.seed_all(self.settings.seed)
        self._determinism = backend.deterministic(self.settings.deterministic)
        self._determinism.__enter__()
        self.backend = backend
        self.watch = GeneratorWatch(nodeid, backend.framework).__enter__()
        _active.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._state != "entered":
            return
        self._state = "done"
        if self in _active:
            _active.remove(self)
        try:
            if self._determinism is not None:
                self._determinism.__exit__(*exc)
        finally:
            if self.watch is not None:  # the pipelines' noise helper goes back, whatever happened
                self.watch.__exit__(*exc)

    def _require(self, what: str) -> None:
        if self.backend is None or self._state != "entered":
            raise ReproUsageError(f"{self.location.nodeid}: {what} needs a running Repro: use it inside `with`")

    # ---- what a test uses ----

    def generator(self, seed: int | None = None, batch: int | None = None) -> Any:
        """A seeded generator of the backend's framework; ``batch=n``: n distinct ones (seed, seed+1...)."""
        self._require("generator()")
        nodeid = self.location.nodeid
        try:
            base = self.settings.seed if seed is None else st.seed(seed)
            count = 1 if batch is None else st.positive_int(batch)
        except ValueError as exc:
            raise ValueError(f"{nodeid}: repro_generator: {exc}") from None
        if base + count > 2**32:  # the range every framework takes (mindspore.set_seed is 32-bit)
            raise ValueError(f"{nodeid}: repro_generator seeds must stay below 2**32, got {base}..{base + count - 1}")
        if batch is None:
            self.seeds.append(base)
            gens: Any = self.backend.generator(base)
        else:
            self.seeds.extend(range(base, base + count))
            gens = [self.backend.generator(base + i) for i in range(count)]
        if self.watch is not None:
            self.watch.handed_out(gens)
        return gens

    def checker(self) -> Any:
        """The golden checker of this run (what the ``repro_golden`` fixture gives)."""
        self._require("check()")
        if self.golden is None:
            from .check import GoldenChecker

            self.golden = GoldenChecker(location=self.location, backend=self.backend, settings=self.settings,
                                        marker_tolerance=self.marker.tolerance, seeds=self.seeds,
                                        record=self._keep, watch=self.watch)
        return self.golden

    def check(self, output: Any, name: str | None = None, **tolerance: Any) -> Any:
        """Compare ``output`` with its golden (or record it with ``regen=True``); see ``repro_golden.check``."""
        __tracebackhide__ = True
        return self.checker().check(output, name, **tolerance)

    def trajectory(self, name: str | None = None) -> Any:
        """A ``callback_on_step_end`` recording each step's latents; see ``repro_golden.trajectory``."""
        return self.checker().trajectory(name)

    def deterministic(self) -> Any:
        """A block with full determinism, even when this run was made with ``deterministic=False``."""
        self._require("deterministic()")
        return self.backend.deterministic(True)

    def audit(self, call: Callable[[], Any], runs: int = 2, timing: bool = False) -> None:
        """The determinism audit (``--repro-runs``) of ``call``, the code that makes and checks the outputs.

        ``call()`` runs ``runs`` times on the same seeds (the framework reseeded, fresh generators); the first
        run checks against the golden, the others against the first. Raises ``ReproCheckFailed`` naming the
        check, the run and the L_inf when a rerun differs. ``timing=True`` adds ``--repro-timing``'s seconds
        to each result's ``timing``.
        """
        __tracebackhide__ = True
        self._require("audit()")
        try:
            count = st.runs(runs)
        except ValueError as exc:
            raise ValueError(f"{self.location.nodeid}: audit(): {exc}") from None
        from .audit import repeat
        from .check import ReproCheckFailed

        problem = repeat(self, call, count, timing=st.boolean(timing))
        if problem is not None:
            raise ReproCheckFailed(problem)

    def _keep(self, result: CheckResult) -> None:
        self.results.append(result)
        if self._record is not None:
            self._record(result)
