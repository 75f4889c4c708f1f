"""Every setting of pytest-repro: declared once, validated by one validator per kind, resolved once.

One setting, one name: ``--repro-x`` on the command line, ``repro_x`` in ini, and (for tolerances)
a ``repro`` marker kwarg or a ``check()`` kwarg, all checked by the same validator. Precedence:
``check()`` > marker > command line > ini > default (tolerances: see :meth:`Settings.tolerance_for`).
The resolved :class:`Settings` is frozen and kept in ``config.stash``.

Imports pytest and the standard library only: ``plugin.py`` imports this at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from .tolerance import DEFAULT_ATOL, DEFAULT_COSINE, Tolerance
from .validators import (  # noqa: F401  (re-exported: settings.number, settings.seed ... are the validators)
    argtype,
    backend_tolerances,
    backend_words,
    boolean,
    number,
    positive_int,
    precision_mode,
    runs,
    seed,
    tolerance_overrides,
)

# Arrays up to this size are stored whole beside the golden; bigger ones keep a strided sample.
DEFAULT_ARRAY_LIMIT = 4 * 1024 * 1024
SAMPLE_SIZE = 4096

# ---- the declarations: --repro-<name> on the command line, repro_<name> in ini ----


class Setting(NamedTuple):  # not a frozen dataclass: its class costs ~0.5 ms of every pytest start
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    kind: str = "value"  # "value", "flag" (--repro-x, ini true/false) or "path"

    @property
    def dest(self) -> str:
        return "repro_" + self.name.replace("-", "_")


_TOL = ("atol", "rtol", "max-linf", "cosine")
SETTINGS = (
    Setting("backend", backend_words, ("cpu",), "cpu, cuda, ascend, auto, mindspore-cpu... or a comma list"),
    Setting("seed", seed, 0, "seed for generators and global RNGs"),
    Setting("deterministic", boolean, True, "full determinism for every repro test"),
    Setting("require-backend", boolean, False, "fail, not skip, a test whose backend is missing here (a device's "
            "CI job must not pass green without its device)", "flag"),
    Setting("golden-dir", str, "golden", "where golden files live", "path"),
    Setting("atol", number, DEFAULT_ATOL, "absolute tolerance on every value"),
    Setting("rtol", number, 0.0, "relative tolerance on every value"),
    Setting("max-linf", number, None, "ceiling on L_inf for every check, whatever else allows (CI gate)"),
    Setting("cosine", number, DEFAULT_COSINE, "ceiling on cosine distance"),
    Setting("report", str, None, "write the JSON results (the source of every report) to this path", "path"),
    Setting("html", str, None, "write the HTML report (golden, output and difference pictures) to this path; "
            "the JSON report goes beside it unless --repro-report says where", "path"),
    Setting("obtained", str, None, "write the golden entries this run would record into this folder (the golden "
            "layout), never into the golden dir: accept them later with python -m pytest_repro accept", "path"),
    Setting("array-limit", positive_int, DEFAULT_ARRAY_LIMIT, "keep arrays up to this many bytes whole"),
    Setting("precision-mode", precision_mode, "must_keep_origin_dtype",
            "Ascend operator precision mode under determinism; 'vendor' leaves the vendor's defaults"),
    Setting("runs", runs, 1, "determinism audit: run each repro test N times in this process on the same seeds "
            "and fail when a rerun's output differs from the first run's (lists nondeterministic ops)"),
    Setting("timing", boolean, False, "time each repro test with deterministic algorithms on and off (and CPU "
            "vs device generators where a device is present); ratios in the JSON results and the summary", "flag"),
)
BY_NAME = {s.name: s for s in SETTINGS}
# What changes golden files is asked for on the command line only, never left switched on in ini.
ACTIONS = (
    ("regen", "write missing goldens and replace failing ones for the selected backend"),
    ("regen-all", "like --repro-regen, and also rewrite goldens that differ within tolerance"),
    ("prune", "after a run over the whole suite, delete goldens (files and entries) that no test used"),
    ("allow-ci-regen", "let --repro-regen or --repro-prune run where $CI is set (CI should use --repro-obtained)"),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("repro", "reproducibility of diffusion pipelines (pytest-repro)")
    for s in SETTINGS:
        default = ",".join(s.default) if isinstance(s.default, tuple) else s.default
        shown = "" if default is None else f" (default {default})"
        parser.addini(s.dest, s.help + shown, default="")
        if s.kind == "flag" or s.name == "deterministic":
            group.addoption(f"--repro-{s.name}", dest=s.dest, action="store_true", default=None, help=s.help)
            group.addoption(f"--repro-no-{s.name}", dest=s.dest, action="store_false", help=f"not {s.help}")
            continue
        group.addoption(f"--repro-{s.name}", dest=s.dest, type=argtype(s.parse, s.name), default=None,
                        help=s.help + shown)
    for name, help_text in ACTIONS:
        group.addoption(f"--repro-{name}", dest="repro_" + name.replace("-", "_"), action="store_true",
                        default=False, help=help_text + " (never in ini)")
    group.addoption("--repro-backend-tolerance", dest="repro_backend_tolerances", action="append", default=[],
                    metavar="'BACKEND: key=value ...'", help="tolerances for one backend, e.g. 'cuda: atol=2e-2'")
    parser.addini("repro_backend_tolerances", "lines of 'BACKEND: key=value ...'", type="linelist", default=[])


def resolve(config: pytest.Config) -> Settings:
    """Command line > ini > default for every setting, each source checked by the setting's validator.

    A path from the command line is relative to the directory pytest was started in (as pytest's own
    ``--junitxml``); a path from ini, or a default, is relative to the ini file's folder, the rootdir.
    """
    cli: dict[str, Any] = {}
    ini: dict[str, Any] = {}
    ini_base = config.inipath.parent if config.inipath is not None else config.rootpath
    for s in SETTINGS:
        if (value := config.getoption(s.dest)) is not None:
            cli[s.name] = str(Path(config.invocation_params.dir, value)) if s.kind == "path" else value
        raw = config.getini(s.dest)
        if raw not in ("", None):
            try:
                ini[s.name] = s.parse(str(raw))
            except ValueError as exc:
                raise pytest.UsageError(f"{s.dest} = {raw!r} in {config.inipath}: {exc}") from None
            if s.kind == "path":
                ini[s.name] = str(Path(ini_base, ini[s.name]))
    value = {s.name: cli.get(s.name, ini.get(s.name, s.default)) for s in SETTINGS}
    value["golden-dir"] = str(Path(config.rootpath, value["golden-dir"]))  # the default is relative to the rootdir
    if value["html"] and not value["report"]:  # the HTML is a view of the JSON report and its arrays
        value["report"] = str(Path(value["html"]).with_suffix(".json"))
    if value["html"] and Path(value["html"]).resolve() == Path(value["report"]).resolve():
        raise pytest.UsageError(f"--repro-html and --repro-report both name {value['html']}; give the HTML "
                                "report its own path (OUT.html)")
    try:
        ini_per_backend = backend_tolerances(config.getini("repro_backend_tolerances"),
                                             f"repro_backend_tolerances in {config.inipath}")
        cli_per_backend = backend_tolerances(config.getoption("repro_backend_tolerances"),
                                             "--repro-backend-tolerance")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    regen_all = bool(config.getoption("repro_regen_all"))
    return Settings(
        backends=value["backend"],
        seed=value["seed"],
        deterministic=value["deterministic"],
        require_backend=value["require-backend"],
        golden_dir=value["golden-dir"],
        regen="all" if regen_all else ("failing" if config.getoption("repro_regen") else None),
        prune=bool(config.getoption("repro_prune")),
        report=value["report"],
        html=value["html"],
        obtained=value["obtained"],
        array_limit=value["array-limit"],
        precision_mode=value["precision-mode"],
        runs=value["runs"],
        timing=value["timing"],
        base_tolerance=Tolerance().merged(**{n.replace("-", "_"): ini[n] for n in _TOL if n in ini}),
        per_backend=ini_per_backend,
        cli_tolerance={n.replace("-", "_"): cli[n] for n in _TOL if n in cli},
        cli_backend_tolerances=cli_per_backend,
        in_use=bool(cli) or bool(ini) or regen_all or bool(config.getoption("repro_regen")),
    )


@dataclass(frozen=True)
class Settings:
    """The run's resolved settings; per-test tolerances come from :meth:`tolerance_for`."""

    backends: tuple[str, ...] = ("cpu",)  # --repro-backend words, in the order given
    seed: int = 0
    deterministic: bool = True
    require_backend: bool = False  # a missing backend fails instead of skipping
    golden_dir: str = "golden"
    regen: str | None = None  # None, "failing" (--repro-regen: missing or failing) or "all" (--repro-regen-all)
    prune: bool = False
    report: str | None = None
    html: str | None = None  # --repro-html (implies a report beside it)
    obtained: str | None = None  # --repro-obtained: where would-be golden entries go
    array_limit: int = DEFAULT_ARRAY_LIMIT
    precision_mode: str = "must_keep_origin_dtype"
    runs: int = 1  # --repro-runs: the determinism audit (a marker's runs= wins per test)
    timing: bool = False  # --repro-timing: the cost of determinism per test
    base_tolerance: Tolerance = field(default_factory=Tolerance)  # defaults, then ini
    per_backend: dict[str, dict[str, Any]] = field(default_factory=dict)  # repro_backend_tolerances (ini)
    cli_tolerance: dict[str, Any] = field(default_factory=dict)  # --repro-atol ...
    cli_backend_tolerances: dict[str, dict[str, Any]] = field(default_factory=dict)  # --repro-backend-tolerance
    in_use: bool = True  # a repro option or ini key was given: the project uses the plugin

    def tolerance_for(self, key: str, overrides: dict[str, Any]) -> Tolerance:
        """default < ini < ini per backend < command line < command line per backend < marker/check().

        Within "per backend", the device word (``cuda``) comes before the framework-device key
        (``torch-cuda``), the more specific. The command line's ``--repro-max-linf`` stays a ceiling:
        nothing after it can raise it.
        """
        from .identity import BackendKey  # loads with the first repro test, not at every pytest start

        key = BackendKey(key)
        tol = self.base_tolerance
        for table in (self.per_backend, None, self.cli_backend_tolerances):
            if table is None:
                tol = tol.merged(**self.cli_tolerance)
                continue
            for word in (key.device, key):
                tol = tol.merged(**table.get(word, {}))
        tol = tol.merged(**overrides)
        ceiling = self.cli_tolerance.get("max_linf")
        if ceiling is not None and (tol.max_linf is None or tol.max_linf > ceiling):
            tol = tol.merged(max_linf=ceiling)
        return tol

    def replay_flags(self) -> str:
        """The flags that replay this run's choices (printed in the report header)."""
        flags = [
            f"--repro-backend={','.join(self.backends)}",
            f"--repro-seed={self.seed}",
            "--repro-deterministic" if self.deterministic else "--repro-no-deterministic",
        ]
        if self.precision_mode != BY_NAME["precision-mode"].default:
            flags.append(f"--repro-precision-mode={self.precision_mode}")
        if self.runs != 1:
            flags.append(f"--repro-runs={self.runs}")
        if self.timing:
            flags.append("--repro-timing")
        for key, value in sorted(self.cli_tolerance.items()):
            flags.append(f"--repro-{key.replace('_', '-')}={value}")
        for backend, values in sorted(self.cli_backend_tolerances.items()):
            pairs = " ".join(f"{k}={v}" for k, v in sorted(values.items()))
            flags.append(f"--repro-backend-tolerance='{backend}: {pairs}'")
        return " ".join(flags)
