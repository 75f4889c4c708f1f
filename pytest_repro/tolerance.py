"""The limits one check is held to, and the L_inf limit they add up to. Standard library only."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Measured across 12 tiny diffusers pipelines (README: "Why the default tolerance..."): every platform
# change (threads, H100 with and without TF32) stayed below L_inf 6.5e-3 and cosine distance 1e-7, every
# seed change moved L_inf >= 6e-2 and cosine >= 1.5e-4. 1e-2 and 1e-5 sit ~10x from each side.
DEFAULT_ATOL = 1e-2
DEFAULT_COSINE = 1e-5

TOLERANCE_KEYS = ("atol", "rtol", "max_linf", "cosine", "bitwise")
OPTIONAL_TOLERANCES = ("max_linf", "cosine")  # the limits that None switches off


@dataclass(frozen=True)
class Tolerance:
    """Limits one check must meet. ``None`` switches a metric's limit off."""

    atol: float = DEFAULT_ATOL  # |actual - expected| <= atol + rtol * |expected|, elementwise
    rtol: float = 0.0
    max_linf: float | None = None  # hard ceiling on L_inf, whatever atol/rtol allow
    cosine: float | None = DEFAULT_COSINE  # ceiling on cosine distance (1 - cos)
    bitwise: bool = True  # same environment fingerprint => the hash must match too

    def merged(self, **overrides: Any) -> Tolerance:
        changes = {k: v for k, v in overrides.items() if k in TOLERANCE_KEYS}
        # itself where nothing changes (most layers of tolerance_for): it is frozen, and replace costs ~5 us
        return dataclasses.replace(self, **changes) if changes else self

    def linf_limit(self, max_abs_expected: float) -> float:
        """The L_inf a check is held to: ``atol + rtol * max|expected|``, or the ceiling when lower.

        The only place this number is computed; the verdict writes it into the result once.
        """
        limit = self.atol + self.rtol * max_abs_expected
        return limit if self.max_linf is None else min(limit, self.max_linf)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Tolerance:
        """A tolerance written by :meth:`to_json`, validated; missing keys take their defaults."""
        from .settings import tolerance_overrides  # validators live with the settings they serve

        if not isinstance(data, dict):
            raise ValueError(f"tolerance must be a table of {', '.join(TOLERANCE_KEYS)}, got {data!r}")
        return cls().merged(**tolerance_overrides(data, "tolerance"))
