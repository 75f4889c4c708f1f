"""pytest-repro's entry point (``-p no:repro`` turns it off): thin fixtures and hooks.

Settings are declared and resolved in ``settings.py``, the marker read in ``marker.py``, results
modelled in ``results.py``. This module imports only pytest, the standard library and those
stdlib-only modules: numpy, torch, mindspore and diffusers are imported inside the fixture or hook
that needs them (a subprocess test checks this).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import settings as st
from .ledger import PROPERTY, SETTINGS_KEY, ReproLedger
from .pipelines import repro_pipelines  # noqa: F401  (a fixture: pytest finds it in this module)

if TYPE_CHECKING:
    from .identity import TestLocation
    from .marker import Marker
    from .results import CheckResult

# marker.py, identity.py and testcase.py load when a test needs them: a session without repro tests
# doesn't pay for their classes (a few ms of every pytest start, the --collect-only benchmark).
RUN_KEY = pytest.StashKey[Any]()  # the test's pytest_repro.Repro, which every repro fixture reads
MARKER_KEY = pytest.StashKey["Marker"]()
LOCATION_KEY = pytest.StashKey["TestLocation"]()
FAILED_KEY = pytest.StashKey[list]()  # failure messages of this phase's checks, caught or not
WORD_KEY = pytest.StashKey[str]()  # the --repro-backend word a collected ReproTestCase method runs on
MARKER_DOC = (
    "repro(atol=, rtol=, max_linf=, cosine=, bitwise=, backends=[...], framework='torch', runs=N, "
    "deterministic=True|False): tolerances, backends, determinism audit runs and determinism for this test"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    st.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    settings = st.resolve(config)
    if not settings.in_use and Path(settings.golden_dir).is_dir():
        settings = dataclasses.replace(settings, in_use=True)  # a project with goldens uses the plugin
    if settings.in_use:  # else not even the entry points are read (a few ms of every session)
        try:
            from .backends import check_word  # stdlib only; loads the third-party backends the words select

            # The default too: a backend under another's key must not run. (Where the plugin is unused
            # at start, backends.load still refuses one when a fixture first selects it.)
            for word in settings.backends:
                check_word(word, "--repro-backend")
        except ValueError as exc:  # a broken third-party backend entry point
            raise pytest.UsageError(str(exc)) from None
    if (settings.regen or settings.prune) and os.environ.get("CI") and not config.getoption("repro_allow_ci_regen"):
        asked = "--repro-prune" if settings.prune and not settings.regen else "--repro-regen"
        raise pytest.UsageError(
            f"{asked} refuses to run where $CI is set: goldens written on a CI runner are lost with it. In CI, "
            "write them beside the report with --repro-obtained=DIR, upload DIR, and apply them where the goldens "
            "are kept with: python -m pytest_repro accept DIR. To run it here anyway: --repro-allow-ci-regen")
    config.stash[SETTINGS_KEY] = settings
    config.pluginmanager.register(ReproLedger(config), "repro-ledger")
    if settings.deterministic and settings.in_use:
        # cuBLAS reads this when CUDA starts, which may be before any repro fixture runs. A project that
        # doesn't use the plugin (no repro option, ini key or golden dir) keeps its environment untouched;
        # the fixture still sets it for its own block.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # see backends/_torch.py


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    from .rootdir import reclaim

    reclaim(early_config, args)  # --repro-report PATH must not move the rootdir when PATH exists


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[SETTINGS_KEY]
    if not settings.in_use:  # installed but unused: nothing to say
        return []
    from .report.terminal import header_lines

    return header_lines(settings)


def _marker(item: pytest.Item) -> Marker:
    if MARKER_KEY not in item.stash:
        from .marker import read_marker

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
    seen: dict[int, bool] = {}
    for item in items:
        if not carries_marker(item, seen):  # most tests: _marker reads theirs only if a fixture asks
            continue
        from .marker import read_marker

        try:
            item.stash[MARKER_KEY] = read_marker(item)
        except pytest.UsageError:
            if not worker:
                raise


def carries_marker(node: Any, seen: dict[int, bool]) -> bool:
    """Whether ``node`` or a collector above it has a ``repro`` marker: what ``iter_markers`` walks, with
    each node looked at once per ``seen`` (a module of 1000 tests is asked about once, not 1000 times)."""
    if node is None:
        return False
    if id(node) not in seen:
        seen[id(node)] = any(m.name == "repro" for m in node.own_markers) or carries_marker(node.parent, seen)
    return seen[id(node)]


@pytest.hookimpl(trylast=True)  # last, so the backend id is the last part of the test id
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "repro_backend" not in metafunc.fixturenames:
        return
    from .identity import distinct_words
    from .marker import framework_of

    words = distinct_words(metafunc.config.stash[SETTINGS_KEY].backends, framework_of(metafunc.definition))
    if len(words) > 1:
        metafunc.parametrize("repro_backend", words, indirect=True, ids=words)


def _word(request: pytest.FixtureRequest) -> str:
    """The --repro-backend word this test runs on: its parameter, its TestCase copy, or the only one."""
    param = getattr(request, "param", None)
    if isinstance(param, str):
        return param
    return request.node.stash.get(WORD_KEY, None) or request.config.stash[SETTINGS_KEY].backends[0]


def _location(request: pytest.FixtureRequest) -> TestLocation:
    node = request.node
    if LOCATION_KEY not in node.stash:
        # The parameter belongs to repro_backend, not to the fixture asking: read it from the callspec.
        callspec = getattr(node, "callspec", None)
        param = node.stash.get(WORD_KEY, None) or (callspec.params.get("repro_backend") if callspec else None)
        golden_dir = Path(request.config.stash[SETTINGS_KEY].golden_dir)
        nodeid = node.nodeid
        if nodeid.startswith("::"):  # a test file outside the rootdir: name it by its path from there
            nodeid = os.path.relpath(node.path, request.config.rootpath).replace(os.sep, "/") + nodeid
        from .identity import TestLocation

        node.stash[LOCATION_KEY] = TestLocation.of(nodeid, param if isinstance(param, str) else None, golden_dir)
    return node.stash[LOCATION_KEY]


@pytest.fixture
def repro_settings(request: pytest.FixtureRequest) -> st.Settings:
    """The run's resolved settings (frozen)."""
    return request.config.stash[SETTINGS_KEY]


def _record(node: pytest.Item) -> Any:
    def record(result: CheckResult) -> None:
        # JSON text, so xdist carries it home and JUnit shows a parseable property.
        node.user_properties.append((PROPERTY, json.dumps(result.to_json(), sort_keys=True, default=str)))
        if result.status.fails_run:
            node.stash.setdefault(FAILED_KEY, []).append(result.message or "; ".join(result.reasons))

    return record


@pytest.fixture
def repro_backend(request: pytest.FixtureRequest, repro_settings: st.Settings) -> Iterator[Any]:
    """The backend this test runs on: ``.key``, ``.framework``, ``.device`` (for ``.to()``).

    Skips with the reason when the backend is not available here or the test's marker excludes it.
    Seeds the framework's global RNGs and, unless --repro-no-deterministic, switches determinism on.
    A thin layer on :class:`pytest_repro.Repro`, kept for the other fixtures in the node's stash.
    """
    from .api import Repro
    from .selection import BackendUnavailable

    node = request.node
    run = Repro(node.nodeid, settings=dataclasses.replace(repro_settings, backends=(_word(request),)),
                marker=_marker(node), location=_location(request), record=_record(node))
    try:
        run.__enter__()
    except BackendUnavailable as exc:
        run.__exit__(None, None, None)
        if exc.missing and repro_settings.require_backend:
            pytest.fail(f"{exc} (--repro-require-backend: this job needs its backend)", pytrace=False)
        pytest.skip(str(exc))
    node.stash[RUN_KEY] = run
    try:  # from here on the run is exited whatever happens, a warning turned error included
        if inspect.iscoroutinefunction(getattr(node, "obj", None)) and _asked_runs(run) is not None:
            # Said at setup: what runs a coroutine (anyio, pytest-asyncio, unittest's IsolatedAsyncioTestCase)
            # calls it itself, so the plugin can't call it again.
            node.warn(pytest.PytestWarning(f"{node.nodeid}: --repro-runs and --repro-timing can't repeat an "
                                           "async test; it ran once"))
        yield run.backend
    finally:
        run.__exit__(None, None, None)


@pytest.fixture
def repro_deterministic(repro_backend: Any) -> Iterator[Any]:
    """Full determinism for this one test (even under --repro-no-deterministic), restored afterwards."""
    with repro_backend.deterministic(True):
        yield repro_backend


@pytest.fixture
def repro_generator(request: pytest.FixtureRequest, repro_backend: Any) -> Any:
    """``repro_generator(seed=None, batch=None)``: a seeded generator of the backend's framework.

    PyTorch: a CPU ``torch.Generator`` even on CUDA. MindSpore: ``np.random.Generator(PCG64(seed))``.
    With ``batch=n``: a list of n distinct generators seeded seed, seed+1, ... (never one repeated).
    """
    return request.node.stash[RUN_KEY].generator


@pytest.fixture
def repro_golden(request: pytest.FixtureRequest, repro_backend: Any) -> Any:
    """``repro_golden.check(output, name=None, **tolerance)`` against ``golden/`` for this backend."""
    return request.node.stash[RUN_KEY].checker()


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    # A ReproTestCase runs once per backend: pytest can't parametrize a TestCase, so its collector does.
    # Only a module that imported the mixin can subclass it: until then testcase.py needn't load.
    testcase = sys.modules.get("pytest_repro.testcase")
    return None if testcase is None else testcase.make_collector(collector, name, obj)


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.stash.get(MARKER_KEY, None)
    if marker is not None and marker.error:  # a bad runs= fails its own test; the session goes on
        pytest.fail(marker.error, pytrace=False)


def repeats(item: pytest.Item, run: Any) -> int | None:
    """How many times the audit calls ``item`` (--repro-runs, the marker's runs=; --repro-timing adds its
    own calls); ``None``: once, as without the plugin. Also for a TestCase method (testcase.py)."""
    if run is None or inspect.iscoroutinefunction(getattr(item, "obj", None)):  # its event loop isn't ours
        return None
    return _asked_runs(run)


def _asked_runs(run: Any) -> int | None:
    runs: int = run.marker.runs or run.settings.runs  # the marker's runs= wins over --repro-runs / ini
    return None if runs == 1 and not run.settings.timing else runs


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    run = pyfuncitem.stash.get(RUN_KEY, None)
    runs = repeats(pyfuncitem, run)
    if runs is None:
        return None  # pytest calls it, as without the plugin
    from .audit import call_repeated

    return call_repeated(pyfuncitem, run, runs)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    excinfo = call.excinfo
    if excinfo is not None and excinfo.errisinstance(AttributeError) and "'repro_" in str(excinfo.value) \
            and hasattr(report.longrepr, "addsection"):  # a TestCase asking for what only the mixin gives
        report.longrepr.addsection("pytest-repro", (
            f"{item.nodeid}: self.repro_backend, self.repro_generator, self.repro_golden and "
            "self.repro_deterministic come from the mixin: class MyTests(pytest_repro.ReproTestCase, "
            "unittest.TestCase)"))
    if excinfo is not None and excinfo.errisinstance(RuntimeError) and report.failed:
        from .nondeterminism import explain  # stdlib only

        text = explain(item.nodeid, str(excinfo.value))
        if text is not None:  # an op with no deterministic kernel: the op and the remedy, not a traceback
            report.longrepr = text
    failed = item.stash.get(FAILED_KEY, [])
    if failed:
        item.stash[FAILED_KEY] = []
        if report.passed:  # the test caught the AssertionError: the check still failed, and JUnit must say so
            report.outcome = "failed"
            report.longrepr = "repro: a golden check failed (the test caught the error):\n" + "\n".join(failed)
