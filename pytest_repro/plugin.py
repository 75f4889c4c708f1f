"""pytest-repro's entry point (``-p no:repro`` turns it off).

Declares options, the marker, thin fixtures and the hooks that collect results. It imports only
pytest, the standard library and the stdlib-only ``settings``: numpy, torch, mindspore and diffusers
are imported inside the fixture or hook that needs them (a subprocess test checks this).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import settings as st

SETTINGS_KEY = pytest.StashKey[st.Settings]()
SEEDS_KEY = pytest.StashKey[list]()
MARKER_KEY = pytest.StashKey[dict]()
FAILING = ("fail", "missing", "error")  # check statuses that make the run exit non-zero
MARKER_DOC = (
    "repro(atol=, rtol=, max_linf=, cosine=, bitwise=, backends=[...], framework='torch'): "
    "tolerances and backends for this test's golden checks"
)
MARKER_KEYS = (*st.TOLERANCE_KEYS, "backends", "framework")

# (option, ini name, argparse type, help). The ini name is always the option's with repro_ prefix.
_VALUED = [
    ("backend", st.backend_list, "cpu, cuda, ascend, auto, mindspore-cpu... or a comma list (default cpu)"),
    ("seed", st.seed_value, "seed for generators and global RNGs (default 0)"),
    ("golden-dir", str, "where golden files live (default: golden/ under the rootdir)"),
    ("atol", st.non_negative_float, f"absolute tolerance on every value (default {st.DEFAULT_ATOL:g})"),
    ("rtol", st.non_negative_float, "relative tolerance on every value (default 0)"),
    ("max-linf", st.non_negative_float, "ceiling on L_inf for every check, whatever else allows (CI gate)"),
    ("cosine", st.non_negative_float, f"ceiling on cosine distance (default {st.DEFAULT_COSINE:g})"),
    ("report", str, "write the JSON results (the source of every report) to this path"),
    ("array-limit", st.positive_int, f"keep arrays up to this many bytes whole (default {st.DEFAULT_ARRAY_LIMIT})"),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("repro", "reproducibility of diffusion pipelines (pytest-repro)")
    for name, kind, help_text in _VALUED:
        dest = "repro_" + name.replace("-", "_")
        group.addoption(f"--repro-{name}", dest=dest, type=kind, default=None, help=help_text)
        parser.addini(dest, help_text, default="")
    group.addoption("--repro-deterministic", dest="repro_deterministic", action="store_true", default=None,
                    help="full determinism for every repro test (the default)")
    group.addoption("--repro-no-deterministic", dest="repro_deterministic", action="store_false",
                    help="leave the framework's determinism settings as they are")
    parser.addini("repro_deterministic", "true/false: full determinism for every repro test", default="")
    group.addoption("--repro-regen", action="store_true", default=False,
                    help="write missing or differing goldens for the selected backend (never in ini)")
    group.addoption("--repro-backend-tolerance", dest="repro_backend_tolerances", action="append", default=[],
                    metavar="'BACKEND: key=value ...'", help="tolerances for one backend, e.g. 'cuda: atol=2e-2'")
    parser.addini("repro_backend_tolerances", "lines of 'BACKEND: key=value ...'", type="linelist", default=[])


def _dest(name: str) -> str:
    return "repro_" + name.replace("-", "_")


def _ini(config: pytest.Config, name: str, kind: Any) -> Any:
    """The ini value of ``repro_<name>`` parsed with the option's own type, or ``None`` if unset."""
    raw = config.getini(_dest(name))
    if raw == "" or raw is None:
        return None
    try:
        return kind(str(raw))
    except Exception as exc:
        raise pytest.UsageError(f"{_dest(name)} = {raw!r} in {config.inipath}: {exc}") from None


def _resolve(config: pytest.Config) -> st.Settings:
    """Command line > ini > default, each ini value validated with the option's own type."""

    def value(name: str, kind: Any, default: Any) -> Any:
        for found in (config.getoption(_dest(name)), _ini(config, name, kind)):
            if found is not None:
                return found
        return default

    tolerances = [name for name, *_ in _VALUED if name.replace("-", "_") in st.TOLERANCE_KEYS]
    ini_tol = {n.replace("-", "_"): v for n in tolerances if (v := _ini(config, n, st.non_negative_float)) is not None}
    cli_tol = {n.replace("-", "_"): v for n in tolerances if (v := config.getoption(_dest(n))) is not None}
    try:
        ini_per_backend = st.backend_tolerances(config.getini("repro_backend_tolerances"),
                                                f"repro_backend_tolerances in {config.inipath}")
        cli_per_backend = st.backend_tolerances(config.getoption("repro_backend_tolerances"),
                                                "--repro-backend-tolerance")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    backends = value("backend", st.backend_list, ("cpu",))
    _check_registered(backends)
    return st.Settings(
        backends=backends,
        seed=value("seed", st.seed_value, 0),
        deterministic=value("deterministic", st.bool_text, True),
        golden_dir=str(Path(config.rootpath, value("golden-dir", str, "golden"))),
        regen=bool(config.getoption("repro_regen")),
        report=value("report", str, None),
        array_limit=value("array-limit", st.positive_int, st.DEFAULT_ARRAY_LIMIT),
        base_tolerance=st.Tolerance().merged(**ini_tol),
        per_backend=ini_per_backend,
        cli_tolerance=cli_tol,
        cli_backend_tolerances=cli_per_backend,
    )


def _check_registered(names: tuple[str, ...]) -> None:
    """A framework-pinned name (``mindspore-gpu``) must be a registered backend, entry points included."""
    from .backends import registry  # stdlib only: reads entry points, imports no backend

    known = registry()
    unknown = [name for name in names if "-" in name and name not in known]
    if unknown:
        raise pytest.UsageError(
            f"--repro-backend: no backend registered as {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    settings = _resolve(config)
    config.stash[SETTINGS_KEY] = settings
    config.pluginmanager.register(ReproLedger(config), "repro-ledger")
    if settings.deterministic:
        # cuBLAS reads this when CUDA starts, which may be before any repro fixture runs.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # see backends/_torch.py


def pytest_report_header(config: pytest.Config) -> list[str]:
    from .report.terminal import header_lines

    return header_lines(config.stash[SETTINGS_KEY])


def _read_marker(item: pytest.Item) -> dict[str, Any]:
    """The item's ``repro`` marker kwargs (closest marker wins), validated, tolerances converted."""
    kwargs: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers("repro"))):
        if mark.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.repro takes keyword arguments only")
        kwargs.update(mark.kwargs)
    where = f"{item.nodeid}: @pytest.mark.repro"
    unknown = set(kwargs) - set(MARKER_KEYS)
    if unknown:
        raise pytest.UsageError(
            f"{item.nodeid}: unknown @pytest.mark.repro argument(s) {sorted(unknown)}; known: {', '.join(MARKER_KEYS)}"
        )
    try:
        kwargs.update(st.check_tolerance_kwargs({k: v for k, v in kwargs.items() if k in st.TOLERANCE_KEYS}, where))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    from .backends import registry  # stdlib only

    known = registry()
    frameworks = sorted({key.split("-", 1)[0] for key in known})
    if kwargs.get("framework", "torch") not in frameworks:
        raise pytest.UsageError(f"{where} framework={kwargs['framework']!r}; choose from {', '.join(frameworks)}")
    allowed = kwargs.get("backends")
    if isinstance(allowed, str):
        allowed = kwargs["backends"] = [allowed]
    devices = {key.split("-", 1)[1] for key in known}
    for name in allowed or ():
        if name not in devices and name not in known:
            known_names = ", ".join(sorted(devices))
            raise pytest.UsageError(f"{where} backends=[{name!r}] names no backend; known: {known_names}")
    return kwargs


def _marker(item: pytest.Item) -> dict[str, Any]:
    if MARKER_KEY not in item.stash:
        error = None
        try:
            item.stash[MARKER_KEY] = _read_marker(item)
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
            item.stash[MARKER_KEY] = _read_marker(item)
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
