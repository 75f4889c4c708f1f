"""Options, ini keys and the ``repro`` marker: declared, parsed and validated in one place.

Imports pytest, the standard library and the stdlib-only ``settings`` (plugin.py imports this at
start-up). ``--repro-x`` on the command line is ``repro_x`` in ini, always.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import settings as st

MARKER_DOC = (
    "repro(atol=, rtol=, max_linf=, cosine=, bitwise=, backends=[...], framework='torch'): "
    "tolerances and backends for this test's golden checks"
)
MARKER_KEYS = (*st.TOLERANCE_KEYS, "backends", "framework")

# (option name, argparse type, help): --repro-<name> on the command line, repro_<name> in ini.
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


def _dest(name: str) -> str:
    return "repro_" + name.replace("-", "_")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("repro", "reproducibility of diffusion pipelines (pytest-repro)")
    for name, kind, help_text in _VALUED:
        group.addoption(f"--repro-{name}", dest=_dest(name), type=kind, default=None, help=help_text)
        parser.addini(_dest(name), help_text, default="")
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


def _ini(config: pytest.Config, name: str, kind: Any) -> Any:
    """The ini value of ``repro_<name>`` parsed with the option's own type, or ``None`` if unset."""
    raw = config.getini(_dest(name))
    if raw == "" or raw is None:
        return None
    try:
        return kind(str(raw))
    except Exception as exc:
        raise pytest.UsageError(f"{_dest(name)} = {raw!r} in {config.inipath}: {exc}") from None


def resolve(config: pytest.Config) -> st.Settings:
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


def read_marker(item: pytest.Item) -> dict[str, Any]:
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
