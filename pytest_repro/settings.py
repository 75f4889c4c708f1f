"""Every setting of pytest-repro, parsed and validated once.

One setting, one name: ``--repro-x`` on the command line, ``repro_x`` in ini, and (for
tolerances) a ``repro`` marker kwarg. Precedence: marker > command line > per-backend ini >
ini > default. The resolved :class:`Settings` is frozen and kept in ``config.stash``.

Standard library only: this module is imported by ``plugin.py`` at start-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

# Names a user may give to --repro-backend. ``auto`` resolves per framework when a test runs.
DEVICE_NAMES = ("cpu", "cuda", "ascend")
FRAMEWORKS = ("torch", "mindspore")
# Short names that pick a framework too: ``mindspore-cpu`` == device cpu, framework mindspore.
ALIASES = {f"{fw}-{dev}": (dev, fw) for fw in FRAMEWORKS for dev in DEVICE_NAMES}

# Measured across 12 tiny diffusers pipelines (README: "Why the default tolerance..."): every platform change (threads,
# H100 with and without TF32) stayed below L_inf 6.5e-3 and cosine distance 1e-7, every seed
# change moved L_inf >= 6e-2 and cosine >= 1.5e-4. 1e-2 and 1e-5 sit ~10x from each side.
DEFAULT_ATOL = 1e-2
DEFAULT_COSINE = 1e-5
# Arrays up to this size are stored whole beside the golden; bigger ones keep a strided sample.
DEFAULT_ARRAY_LIMIT = 4 * 1024 * 1024
SAMPLE_SIZE = 4096

TOLERANCE_KEYS = ("atol", "rtol", "max_linf", "cosine", "bitwise")
OPTIONAL_TOLERANCES = ("max_linf", "cosine")  # the limits that None switches off
_PINNED = re.compile(r"[a-z0-9_]+-[a-z0-9_]+")


@dataclass(frozen=True)
class Tolerance:
    """Limits one check must meet. ``None`` switches a metric's limit off."""

    atol: float = DEFAULT_ATOL  # |actual - expected| <= atol + rtol * |expected|, elementwise
    rtol: float = 0.0
    max_linf: float | None = None  # hard ceiling on L_inf, whatever atol/rtol allow
    cosine: float | None = DEFAULT_COSINE  # ceiling on cosine distance (1 - cos)
    bitwise: bool = True  # same environment fingerprint => the hash must match too

    def merged(self, **overrides: Any) -> Tolerance:
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if k in TOLERANCE_KEYS})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_tolerance_kwargs(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate tolerance overrides coming from a marker, ``check()`` or ini; name ``where`` on error."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in TOLERANCE_KEYS:
            raise ValueError(f"{where}: unknown tolerance {key!r}; known: {', '.join(TOLERANCE_KEYS)}")
        if key == "bitwise":
            if not isinstance(value, bool):
                raise ValueError(f"{where}: bitwise must be True or False, got {value!r}")
        elif value is None and key not in OPTIONAL_TOLERANCES:
            raise ValueError(f"{where}: {key} can't be None (only {' and '.join(OPTIONAL_TOLERANCES)} can)")
        elif value is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: {key} must be a number, got {value!r}") from None
            if math.isnan(number) or number < 0:
                raise ValueError(f"{where}: {key} must be a non-negative number, got {value!r}")
            value = number
        out[key] = value
    return out


# ---- argparse type= callables: bad values fail at parse time with the option named ----


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def seed_value(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**32:  # what every framework takes: mindspore.set_seed is 32-bit
        raise argparse.ArgumentTypeError(f"seed must be in [0, 2**32), got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def backend_list(text: str) -> tuple[str, ...]:
    """``cpu``, ``cuda,cpu``, ``auto``, ``mindspore-cpu``: validated names, order kept, no repeats."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a backend name")
    known = ("auto", *DEVICE_NAMES, *ALIASES)
    for name in names:
        # framework-device names outside the built-ins may come from the entry-point group; the
        # plugin checks them against the registry once it is configured.
        if name not in known and not _PINNED.fullmatch(name):
            raise argparse.ArgumentTypeError(f"unknown backend {name!r}; choose from {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def bool_text(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def backend_tolerances(lines: list[str], where: str) -> dict[str, dict[str, Any]]:
    """Parse ``repro_backend_tolerances`` lines: ``cuda: atol=2e-2 cosine=1e-4``."""
    table: dict[str, dict[str, Any]] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        name = name.strip()
        if not sep:
            raise ValueError(f"{where}: expected 'BACKEND: key=value ...', got {line!r}")
        if name not in DEVICE_NAMES and not _PINNED.fullmatch(name):
            known = ", ".join((*DEVICE_NAMES, *ALIASES))
            raise ValueError(f"{where}: unknown backend {name!r} in {line!r}; choose from {known}")
        values: dict[str, Any] = {}
        for pair in rest.split():
            key, eq, value = pair.partition("=")
            if not eq:
                raise ValueError(f"{where}: expected key=value in {line!r}, got {pair!r}")
            if key == "bitwise":
                try:
                    values[key] = bool_text(value)
                except argparse.ArgumentTypeError as exc:
                    raise ValueError(f"{where} ({name}): bitwise: {exc}") from None
            else:
                values[key] = None if value.lower() == "none" else value
        # A second line for the same backend adds to the first, key by key.
        table.setdefault(name, {}).update(check_tolerance_kwargs(values, f"{where} ({name})"))
    return table


@dataclass(frozen=True)
class Settings:
    """The run's resolved settings; per-test tolerances come from :meth:`tolerance_for`."""

    backends: tuple[str, ...] = ("cpu",)
    seed: int = 0
    deterministic: bool = True
    golden_dir: str = "golden"
    regen: bool = False
    report: str | None = None
    array_limit: int = DEFAULT_ARRAY_LIMIT
    base_tolerance: Tolerance = field(default_factory=Tolerance)  # defaults, then ini
    per_backend: dict[str, dict[str, Any]] = field(default_factory=dict)  # repro_backend_tolerances (ini)
    cli_tolerance: dict[str, Any] = field(default_factory=dict)  # --repro-atol ...
    cli_backend_tolerances: dict[str, dict[str, Any]] = field(default_factory=dict)  # --repro-backend-tolerance

    def tolerance_for(self, backend_key: str, marker_kwargs: dict[str, Any]) -> Tolerance:
        """default < ini < ini per backend < command line < command line per backend < marker/check().

        Within "per backend", the device name (``cuda``) comes before the framework-device key
        (``torch-cuda``), the more specific. The command line's ``--repro-max-linf`` stays a ceiling:
        nothing after it can raise it.
        """
        device = backend_key.split("-", 1)[-1]
        tol = self.base_tolerance
        for table in (self.per_backend, None, self.cli_backend_tolerances):
            if table is None:
                tol = tol.merged(**self.cli_tolerance)
                continue
            for name in (device, backend_key):
                if name in table:
                    tol = tol.merged(**table[name])
        tol = tol.merged(**marker_kwargs)
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
        for key, value in sorted(self.cli_tolerance.items()):
            flags.append(f"--repro-{key.replace('_', '-')}={value}")
        for backend, values in sorted(self.cli_backend_tolerances.items()):
            pairs = " ".join(f"{k}={v}" for k, v in sorted(values.items()))
            flags.append(f"--repro-backend-tolerance='{backend}: {pairs}'")
        return " ".join(flags)
