"""Every setting of pytest-repro: declared once, validated by one validator per kind, resolved once.

One setting, one name: ``--repro-x`` on the command line, ``repro_x`` in ini, and (for tolerances)
a ``repro`` marker kwarg or a ``check()`` kwarg, all checked by the same validator. Precedence:
``check()`` > marker > command line > ini > default (tolerances: see :meth:`Settings.tolerance_for`).
The resolved :class:`Settings` is frozen and kept in ``config.stash``.

Imports pytest and the standard library only: ``plugin.py`` imports this at start-up.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .identity import BackendKey
from .tolerance import DEFAULT_ATOL, DEFAULT_COSINE, OPTIONAL_TOLERANCES, TOLERANCE_KEYS, Tolerance

# Arrays up to this size are stored whole beside the golden; bigger ones keep a strided sample.
DEFAULT_ARRAY_LIMIT = 4 * 1024 * 1024
SAMPLE_SIZE = 4096

# ---- one validator per kind of value: text from the command line or ini, values from Python ----
# Each raises ValueError; callers add where the value came from (option, ini key and file, test).


def number(value: Any) -> float:
    """A non-negative number (``inf`` allowed, NaN and booleans not)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None
    if math.isnan(result) or result < 0:
        raise ValueError(f"expected a non-negative number, got {value!r}")
    return result


def _whole(value: Any, what: str) -> int:
    """An int, or text that spells one; never a float or a bool (``2.0`` seeds nothing reliably)."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"expected {what}, got {value!r}")


def seed(value: Any) -> int:
    result = _whole(value, "an integer seed")
    if not 0 <= result < 2**32:  # what every framework takes: mindspore.set_seed is 32-bit
        raise ValueError(f"seed must be an integer in [0, 2**32), got {value!r}")
    return result


def positive_int(value: Any) -> int:
    result = _whole(value, "a whole number")
    if result <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return result


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def backend_words(text: str) -> tuple[str, ...]:
    """``cpu``, ``cuda,cpu``, ``auto``, ``mindspore-cpu``: known names, order kept, no repeats."""
    from .backends import check_word  # stdlib only: reads the registry, imports no backend

    words = [part.strip() for part in str(text).split(",") if part.strip()]
    if not words:
        raise ValueError("expected a backend name")
    return tuple(dict.fromkeys(check_word(w) for w in words))


def precision_mode(text: str) -> str:
    from .backends.precision import precision_mode_value  # stdlib only

    return precision_mode_value(str(text).strip())


def tolerance_overrides(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Tolerance kwargs from a marker, ``check()``, ini or a report, validated and converted."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in TOLERANCE_KEYS:
            raise ValueError(f"{where}: unknown tolerance {key!r}; known: {', '.join(TOLERANCE_KEYS)}")
        if value is None and key not in OPTIONAL_TOLERANCES:
            raise ValueError(f"{where}: {key} can't be None (only {' and '.join(OPTIONAL_TOLERANCES)} can)")
        if key == "bitwise" and not isinstance(value, bool):
            raise ValueError(f"{where}: bitwise must be True or False, got {value!r}")
        try:
            out[key] = value if value is None or key == "bitwise" else number(value)
        except ValueError as exc:
            raise ValueError(f"{where}: {key}: {exc}") from None
    return out


def backend_tolerances(lines: list[str], where: str) -> dict[str, dict[str, Any]]:
    """``repro_backend_tolerances`` lines (``cuda: atol=2e-2 cosine=1e-4``) by backend word."""
    from .backends import check_word

    table: dict[str, dict[str, Any]] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, sep, rest = (part.strip() for part in line.partition(":"))
        if not sep:
            raise ValueError(f"{where}: expected 'BACKEND: key=value ...', got {line!r}")
        check_word(word, f"{where} ({line!r})", allow_auto=False)
        values: dict[str, Any] = {}
        for pair in rest.split():
            key, eq, value = pair.partition("=")
            if not eq:
                raise ValueError(f"{where}: expected key=value in {line!r}, got {pair!r}")
            try:
                values[key] = boolean(value) if key == "bitwise" else (None if value.lower() == "none" else value)
            except ValueError as exc:
                raise ValueError(f"{where} ({word}): bitwise: {exc}") from None
        # A second line for the same backend adds to the first, key by key.
        table.setdefault(word, {}).update(tolerance_overrides(values, f"{where} ({word})"))
    return table


# ---- the declarations: --repro-<name> on the command line, repro_<name> in ini ----


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str

    @property
    def dest(self) -> str:
        return "repro_" + self.name.replace("-", "_")


_TOL = ("atol", "rtol", "max-linf", "cosine")
SETTINGS = (
    Setting("backend", backend_words, ("cpu",), "cpu, cuda, ascend, auto, mindspore-cpu... or a comma list"),
    Setting("seed", seed, 0, "seed for generators and global RNGs"),
    Setting("deterministic", boolean, True, "full determinism for every repro test"),
    Setting("golden-dir", str, "golden", "where golden files live, relative to the rootdir"),
    Setting("atol", number, DEFAULT_ATOL, "absolute tolerance on every value"),
    Setting("rtol", number, 0.0, "relative tolerance on every value"),
    Setting("max-linf", number, None, "ceiling on L_inf for every check, whatever else allows (CI gate)"),
    Setting("cosine", number, DEFAULT_COSINE, "ceiling on cosine distance"),
    Setting("report", str, None, "write the JSON results (the source of every report) to this path"),
    Setting("html", str, None, "write the HTML report (golden, output and difference pictures) to this path; "
            "the JSON report goes beside it unless --repro-report says where"),
    Setting("array-limit", positive_int, DEFAULT_ARRAY_LIMIT, "keep arrays up to this many bytes whole"),
    Setting("precision-mode", precision_mode, "must_keep_origin_dtype",
            "Ascend operator precision mode under determinism; 'vendor' leaves the vendor's defaults"),
)
BY_NAME = {s.name: s for s in SETTINGS}


def argtype(validator: Callable[[Any], Any], name: str) -> Callable[[str], Any]:
    """A validator as an argparse ``type=``: its message shown as it is, the option named by argparse."""

    def parse(text: str) -> Any:
        try:
            return validator(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("repro", "reproducibility of diffusion pipelines (pytest-repro)")
    for s in SETTINGS:
        default = ",".join(s.default) if isinstance(s.default, tuple) else s.default
        shown = "" if default is None else f" (default {default})"
        parser.addini(s.dest, s.help + shown, default="")
        if s.name == "deterministic":  # a switch both ways: --repro-deterministic / --repro-no-deterministic
            group.addoption("--repro-deterministic", dest=s.dest, action="store_true", default=None, help=s.help)
            group.addoption("--repro-no-deterministic", dest=s.dest, action="store_false",
                            help="leave the framework's determinism settings as they are")
            continue
        group.addoption(f"--repro-{s.name}", dest=s.dest, type=argtype(s.parse, s.name), default=None,
                        help=s.help + shown)
    group.addoption("--repro-regen", dest="repro_regen", action="store_true", default=False,
                    help="write missing or differing goldens for the selected backend (never in ini)")
    group.addoption("--repro-backend-tolerance", dest="repro_backend_tolerances", action="append", default=[],
                    metavar="'BACKEND: key=value ...'", help="tolerances for one backend, e.g. 'cuda: atol=2e-2'")
    parser.addini("repro_backend_tolerances", "lines of 'BACKEND: key=value ...'", type="linelist", default=[])


def resolve(config: pytest.Config) -> Settings:
    """Command line > ini > default for every setting, each source checked by the setting's validator."""
    cli: dict[str, Any] = {}
    ini: dict[str, Any] = {}
    for s in SETTINGS:
        if (value := config.getoption(s.dest)) is not None:
            cli[s.name] = value
        raw = config.getini(s.dest)
        if raw not in ("", None):
            try:
                ini[s.name] = s.parse(str(raw))
            except ValueError as exc:
                raise pytest.UsageError(f"{s.dest} = {raw!r} in {config.inipath}: {exc}") from None
    value = {s.name: cli.get(s.name, ini.get(s.name, s.default)) for s in SETTINGS}
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
    return Settings(
        backends=value["backend"],
        seed=value["seed"],
        deterministic=value["deterministic"],
        golden_dir=str(Path(config.rootpath, value["golden-dir"])),
        regen=bool(config.getoption("repro_regen")),
        report=value["report"],
        html=value["html"],
        array_limit=value["array-limit"],
        precision_mode=value["precision-mode"],
        base_tolerance=Tolerance().merged(**{n.replace("-", "_"): ini[n] for n in _TOL if n in ini}),
        per_backend=ini_per_backend,
        cli_tolerance={n.replace("-", "_"): cli[n] for n in _TOL if n in cli},
        cli_backend_tolerances=cli_per_backend,
    )


@dataclass(frozen=True)
class Settings:
    """The run's resolved settings; per-test tolerances come from :meth:`tolerance_for`."""

    backends: tuple[str, ...] = ("cpu",)  # --repro-backend words, in the order given
    seed: int = 0
    deterministic: bool = True
    golden_dir: str = "golden"
    regen: bool = False
    report: str | None = None
    html: str | None = None  # --repro-html (implies a report beside it)
    array_limit: int = DEFAULT_ARRAY_LIMIT
    precision_mode: str = "must_keep_origin_dtype"
    base_tolerance: Tolerance = field(default_factory=Tolerance)  # defaults, then ini
    per_backend: dict[str, dict[str, Any]] = field(default_factory=dict)  # repro_backend_tolerances (ini)
    cli_tolerance: dict[str, Any] = field(default_factory=dict)  # --repro-atol ...
    cli_backend_tolerances: dict[str, dict[str, Any]] = field(default_factory=dict)  # --repro-backend-tolerance

    def tolerance_for(self, key: str, overrides: dict[str, Any]) -> Tolerance:
        """default < ini < ini per backend < command line < command line per backend < marker/check().

        Within "per backend", the device word (``cuda``) comes before the framework-device key
        (``torch-cuda``), the more specific. The command line's ``--repro-max-linf`` stays a ceiling:
        nothing after it can raise it.
        """
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
        for key, value in sorted(self.cli_tolerance.items()):
            flags.append(f"--repro-{key.replace('_', '-')}={value}")
        for backend, values in sorted(self.cli_backend_tolerances.items()):
            pairs = " ".join(f"{k}={v}" for k, v in sorted(values.items()))
            flags.append(f"--repro-backend-tolerance='{backend}: {pairs}'")
        return " ".join(flags)
