"""One validator per kind of value, shared by the command line, ini, the ``repro`` marker and ``check()``.

Each takes text (command line, ini) or a Python value (marker, ``check()``, ``Repro()``) and raises
``ValueError``; the caller adds where the value came from (the option, the ini key and file, the test).
Standard library only.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from .tolerance import OPTIONAL_TOLERANCES, TOLERANCE_KEYS


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


# --repro-runs: each run repeats the whole test; past this a typo (10000 for 10) is likelier than a plan.
MAX_RUNS = 1000


def runs(value: Any) -> int:
    """How many times the determinism audit runs a test: 1 (no audit) to :data:`MAX_RUNS`."""
    result = _whole(value, "a whole number of runs")
    if not 1 <= result <= MAX_RUNS:
        raise ValueError(f"runs must be between 1 and {MAX_RUNS} (each run repeats the whole test; 1 means no "
                         f"audit), got {value!r}")
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
    table: dict[str, dict[str, Any]] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, sep, rest = (part.strip() for part in line.partition(":"))
        if not sep:
            raise ValueError(f"{where}: expected 'BACKEND: key=value ...', got {line!r}")
        from .backends import check_word  # only where a line names a backend: every pytest start comes here

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


def argtype(validator: Callable[[Any], Any], name: str) -> Callable[[str], Any]:
    """A validator as an argparse ``type=``: its message shown as it is, the option named by argparse."""

    def parse(text: str) -> Any:
        try:
            return validator(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse
