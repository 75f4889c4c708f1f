"""pytest-repro's entry point (``-p no:repro`` turns it off).

Thin fixtures and the hooks that collect results; options and the marker live in ``options.py``.
It imports only pytest, the standard library and the stdlib-only ``settings`` and ``options``:
numpy, torch, mindspore and diffusers are imported inside the fixture or hook that needs them (a
subprocess test checks this).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import settings as st
from .options import MARKER_DOC, add_options, read_marker, resolve

SETTINGS_KEY = pytest.StashKey[st.Settings]()
SEEDS_KEY = pytest.StashKey[list]()
MARKER_KEY = pytest.StashKey[dict]()
def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    settings = resolve(config)
    config.stash[SETTINGS_KEY] = settings
    config.pluginmanager.register(ReproLedger(config), "repro-ledger")
    if settings.deterministic:
        # cuBLAS reads this when CUDA starts, which may be before any repro fixture runs.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # see backends/_torch.py


def pytest_report_header(config: pytest.Config) -> list[str]:
    from .report.terminal import header_lines

    return header_lines(config.stash[SETTINGS_KEY])


def _marker(item: pytest.Item) -> dict[str, Any]:
    if MARKER_KEY not in item.stash:
        error = None
        try:
            item.stash[MARKER_KEY] = read_marker(item)
        except pytest.UsageError as exc:
            error = str(exc)
        if error is not None:  # only on xdist workers (see below); outside the except: one message, not two
            pytest.fail(error, pytrace=False)
    return item.stash[MARKER_KEY]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Validate every marker before anything runs: a typo must not pass silently. An xdist worker
    # can't stop the session with a usage error (the controller reports a crash): there the test
    # fails at setup with the same message.
    worker = hasattr(config, "workerinput")
    for item in items:
        try:
            item.stash[MARKER_KEY] = read_marker(item)
        except pytest.UsageError:
            if not worker:
                raise


@pytest.hookimpl(trylast=True)  # last, so the backend id is the last part of the test id
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "repro_backend" not in metafunc.fixturenames:
        return
    from .backends import key_for  # stdlib only

    # Names that select the same backend for this test's framework run once (cpu,torch-cpu).
    # The raw marker: a bad one is reported as a usage error once collection is done.
    marks = [m.kwargs.get("framework") for m in metafunc.definition.iter_markers("repro")]
    framework = next((f for f in marks if f is not None), "torch")
    by_key: dict[str, str] = {}
    for name in metafunc.config.stash[SETTINGS_KEY].backends:
        key = None if name == "auto" else key_for(name, framework)  # auto resolves only when the test runs
        by_key.setdefault(key or name, name)
    backends = list(by_key.values())
    if len(backends) > 1:
        metafunc.parametrize("repro_backend", backends, indirect=True, ids=backends)


def _golden_id(request: pytest.FixtureRequest) -> str:
    """The node id without the backend parameter, so every backend shares one golden file."""
    nodeid = request.node.nodeid
    # The parameter belongs to repro_backend, not to the fixture asking: read it from the callspec.
    callspec = getattr(request.node, "callspec", None)
    name = callspec.params.get("repro_backend") if callspec is not None else None
    if isinstance(name, str):
        if nodeid.endswith(f"[{name}]"):
            return nodeid[: -len(name) - 2]
        if nodeid.endswith(f"-{name}]"):
            return nodeid[: -len(name) - 2] + "]"
    return nodeid


@pytest.fixture
def repro_settings(request: pytest.FixtureRequest) -> st.Settings:
    """The run's resolved settings (frozen)."""
    return request.config.stash[SETTINGS_KEY]


@pytest.fixture
def repro_backend(request: pytest.FixtureRequest, repro_settings: st.Settings) -> Iterator[Any]:
    """The backend this test runs on: ``.key``, ``.framework``, ``.device`` (for ``.to()``).

    Skips with the reason when the backend is not available here or the test's marker excludes it.
    Seeds the framework's global RNGs and, unless --repro-no-deterministic, switches determinism on.
    """
    from .selection import select_backend

    name = getattr(request, "param", repro_settings.backends[0])
    backend = select_backend(name, _marker(request.node), request.node.nodeid)
    reason = backend.setup()
    if reason is not None:
        pytest.skip(reason)
    backend.seed_all(repro_settings.seed)
    request.node.stash[SEEDS_KEY] = []
    with backend.deterministic(repro_settings.deterministic):
        yield backend


@pytest.fixture
def repro_deterministic(repro_backend: Any) -> Iterator[Any]:
    """Full determinism for this one test (even under --repro-no-deterministic), restored afterwards."""
    with repro_backend.deterministic(True):
        yield repro_backend


@pytest.fixture
def repro_generator(request: pytest.FixtureRequest, repro_backend: Any, repro_settings: st.Settings) -> Any:
    """``repro_generator(seed=None, batch=None)``: a seeded generator of the backend's framework.

    PyTorch: a CPU ``torch.Generator`` even on CUDA. MindSpore: ``np.random.Generator(PCG64(seed))``.
    With ``batch=n``: a list of n distinct generators seeded seed, seed+1, ... (never one repeated).
    """
    seeds = request.node.stash[SEEDS_KEY]

    def make(seed: int | None = None, batch: int | None = None) -> Any:
        base = repro_settings.seed if seed is None else seed
        count = 1 if batch is None else batch
        if not isinstance(base, int) or isinstance(base, bool) or base < 0:
            raise ValueError(f"{request.node.nodeid}: repro_generator seed must be a non-negative int, got {seed!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"{request.node.nodeid}: repro_generator batch must be a positive int, got {batch!r}")
        if base + count > 2**32:  # the range every framework takes (mindspore.set_seed is 32-bit)
            last = base + count - 1
            raise ValueError(f"{request.node.nodeid}: repro_generator seeds must stay below 2**32, got {base}..{last}")
        if batch is None:
            seeds.append(base)
            return repro_backend.generator(base)
        seeds.extend(range(base, base + batch))
        return [repro_backend.generator(base + i) for i in range(batch)]

    return make


@pytest.fixture
def repro_golden(request: pytest.FixtureRequest, repro_backend: Any, repro_settings: st.Settings) -> Any:
    """``repro_golden.check(output, name=None, **tolerance)`` against ``golden/`` for this backend."""
    from .checker import GoldenChecker

    node = request.node
    return GoldenChecker(
        test_id=_golden_id(request),
        nodeid=node.nodeid,
        backend=repro_backend,
        settings=repro_settings,
        marker_tolerance={k: v for k, v in _marker(node).items() if k in st.TOLERANCE_KEYS},
        seeds=node.stash.setdefault(SEEDS_KEY, []),
        record=lambda rec: node.user_properties.append(("repro", rec)),
    )


class ReproLedger:
    """Collects check records for the session and renders the views of them at the end."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Records travel on the report's user_properties, so xdist brings workers' results home too.
        if report.when == "teardown":
            self.results.extend(rec for key, rec in report.user_properties if key == "repro")  # type: ignore[misc]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):  # an xdist worker: the controller writes the report
            return
        from .report.terminal import FAILING  # stdlib only

        # A failed check fails the run even when the test caught the ReproCheckFailed it raised.
        if session.exitstatus == pytest.ExitCode.OK and any(r["status"] in FAILING for r in self.results):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        settings = self.config.stash[SETTINGS_KEY]
        if settings.report:
            from .report.json_report import write_report

            write_report(Path(settings.report), settings, self.results)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results:
            from .report.terminal import write_summary

            write_summary(terminalreporter, self.config.stash[SETTINGS_KEY], self.results)
