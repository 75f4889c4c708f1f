"""The result model (standard library only): one :class:`CheckResult` per ``check()``, one :class:`RunReport` per run.

The JSON report (``--repro-report``) is :meth:`RunReport.to_json`; the terminal table, the exit
status, JUnit properties and ``python -m pytest_repro compare`` all read these objects, never a view.

Report schema, format 2 (format 1, pytest-repro 0.1's, still loads)::

    {"format": 2, "tool": "pytest-repro 0.1.0",
     "settings": {...the resolved Settings..., "replay": "pytest --repro-..."},
     "environment": {"python": ..., "platform": ..., "torch": ..., "diffusers": ...},
     "totals": {"pass": 3, "fail": 1, ...},
     "results": [CheckResult.to_json(), ...]}

A result: ``test`` (golden id), ``nodeid``, ``check``, ``named``, ``backend``, ``golden_backend``
(the entry compared with: the backend's own or its CPU fallback), ``golden_file``, ``status``
(:class:`Status`), ``tolerance`` (atol, rtol, max_linf, cosine, bitwise), ``seed`` (seeds drawn),
``summary`` (shape, dtype, size, hash, abs_sum...), ``fingerprint``, ``fingerprint_diff``
(``{field: [golden, now]}``), ``metrics`` (linf, mean_abs, rel_l2, cosine, abs_sum, abs_sum_delta),
``limits`` (rows of metric, value, limit, ok), ``limit`` (the L_inf the check was held to),
``worst`` (index, actual, expected, diff), ``coverage`` (full, sample, summary), ``bitwise``,
``reasons``, ``message`` (the failure text), ``array_file`` (the output beside the report), ``written``
(files regen wrote), ``obtained`` (files ``--repro-obtained`` wrote), ``trajectory`` (optional, ``{}`` when the
test recorded none: ``check`` (the entry, ``output@trajectory``), ``status``, ``steps``, ``golden_steps``,
``step`` and ``timestep`` (per step), ``linf`` (per step), ``limit``, ``first_divergent_step`` (a step number or
null), ``problem`` (why it could not be judged), ``golden_backend``), ``pitfalls`` (``{kind, message}``
rows: generator misuse seen in what the pipeline was given), ``generators`` (the kinds of generator that
fed the output: ``torch-cpu``, ``torch-cuda``, ``numpy``; empty where none was seen), ``runs`` (the
determinism audit: ``n``, ``max_linf_between_runs``, ``differing_runs``, ``nondeterministic_ops``) and
``timing`` (``deterministic_s``, ``default_s``, ``deterministic_ratio``...). These five are optional:
older reports lack them.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .tolerance import Tolerance

if TYPE_CHECKING:  # numpy-free at import: the plugin reads results in every session
    from .verdict import Verdict

REPORT_FORMAT = 2


class LimitRow(NamedTuple):
    """One metric against its limit, in the order a failure message lists them."""

    metric: str
    value: float
    limit: float | None
    ok: bool


class Status(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"  # drifted beyond a limit
    MISSING = "missing"  # no golden entry to compare with
    ERROR = "error"  # the check could not be made (bad output, damaged golden)
    WRITTEN = "written"  # --repro-regen recorded a new entry
    REWRITTEN = "rewritten"  # --repro-regen replaced an entry
    UNCHANGED = "unchanged"  # --repro-regen found the entry already equal

    @property
    def fails_run(self) -> bool:
        """The one rule for what makes pytest exit non-zero (and JUnit show a failure)."""
        return self in (Status.FAIL, Status.MISSING, Status.ERROR)

    def __str__(self) -> str:
        return self.value


@dataclass
class CheckResult:
    test: str
    nodeid: str
    check: str
    backend: str
    status: Status = Status.ERROR
    named: bool = False
    golden_backend: str | None = None
    golden_file: str = ""
    tolerance: Tolerance = field(default_factory=Tolerance)
    seed: list[int] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    fingerprint_diff: dict[str, list[Any]] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    limits: list[LimitRow] = field(default_factory=list)
    limit: float | None = None
    worst: list[dict[str, Any]] = field(default_factory=list)
    coverage: str | None = None
    bitwise: bool | None = None
    reasons: list[str] = field(default_factory=list)
    message: str | None = None
    array_file: str | None = None
    written: list[str] = field(default_factory=list)
    obtained: list[str] = field(default_factory=list)  # --repro-obtained: the files this check wrote there
    # repro_golden.trajectory(): steps, linf per step, limit, first_divergent_step... (trajectory.py); {} if none
    trajectory: dict[str, Any] = field(default_factory=dict)
    pitfalls: list[dict[str, str]] = field(default_factory=list)  # {kind, message}: see pitfalls.py
    generators: list[str] = field(default_factory=list)  # kinds that fed the output (torch-cpu, numpy...)
    runs: dict[str, Any] | None = None  # --repro-runs: n, max_linf_between_runs, differing_runs, nondeterministic_ops
    timing: dict[str, Any] | None = None  # --repro-timing: the test's seconds and ratios (the same for each check)

    @property
    def label(self) -> str:
        return f"{self.test} [{self.check}]"

    @property
    def vs_golden(self) -> str:
        """Which entry it was compared with: ``same``, another key (the CPU fallback), ``new`` or ``-``."""
        if self.status is Status.WRITTEN or self.written:  # written, then failed by the audit's reruns: new too
            return "new"
        if self.golden_backend is None:
            return "-"
        return "same" if self.golden_backend == self.backend else self.golden_backend

    def judged(self, verdict: Verdict) -> CheckResult:
        """Take the verdict's metrics, limits and status (pass or fail)."""
        for name in ("metrics", "limits", "limit", "worst", "coverage", "bitwise", "reasons"):
            setattr(self, name, getattr(verdict, name))
        self.status = Status.PASS if verdict.passed else Status.FAIL
        return self

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["status"] = self.status.value
        data["tolerance"] = self.tolerance.to_json()
        data["limits"] = [row._asdict() for row in self.limits]
        return data

    @classmethod
    def from_json(cls, data: Any, where: str = "result") -> CheckResult:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: a result must be a table, got {type(data).__name__}")
        missing = [k for k in ("test", "check", "backend", "status") if k not in data]
        if missing:
            raise ValueError(f"{where}: result lacks {', '.join(missing)}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        try:
            values["status"] = Status(data["status"])
            values["tolerance"] = Tolerance.from_json(data.get("tolerance") or {})
            values["limits"] = [LimitRow(**row) for row in data.get("limits") or []]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {data.get('test')} [{data.get('check')}]: {exc}") from None
        values.setdefault("nodeid", data["test"])
        return cls(**values)


def _upgrade_v1(record: dict[str, Any]) -> dict[str, Any]:
    """Format 1 results had no ``limit``: it was re-derived from the L_inf rows, or atol and the ceiling."""
    if "limit" not in record:
        rows = [r["limit"] for r in record.get("limits") or [] if str(r.get("metric", "")).startswith("L_inf")]
        tol = record.get("tolerance") or {}
        atol, ceiling = tol.get("atol"), tol.get("max_linf")
        fallback = min(atol, ceiling) if atol is not None and ceiling is not None else atol
        record = {**record, "limit": min(rows) if rows else fallback}
    return record


@dataclass
class RunReport:
    results: list[CheckResult]
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    tool: str = ""

    @property
    def totals(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def failing(self) -> list[CheckResult]:
        return [r for r in self.results if r.status.fails_run]

    def sorted_results(self) -> list[CheckResult]:
        # Under xdist results arrive in whatever order the workers finish.
        return sorted(self.results, key=lambda r: (r.test, r.check, r.backend))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "tool": self.tool,
            "settings": self.settings,
            "environment": self.environment,
            "totals": self.totals,
            "results": [r.to_json() for r in self.results],
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> RunReport:
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ValueError(f"{where}: not a pytest-repro report (no 'results' list); write one with --repro-report")
        fmt = data.get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
            raise ValueError(f"{where}: no valid report format ({fmt!r})")
        if fmt > REPORT_FORMAT:
            raise ValueError(f"{where}: report format {fmt} is newer than this pytest-repro reads "
                             f"(up to {REPORT_FORMAT}); upgrade pytest-repro to read it")
        records = data["results"] if fmt > 1 else [_upgrade_v1(r) if isinstance(r, dict) else r
                                                   for r in data["results"]]
        results = [CheckResult.from_json(r, f"{where} (format {fmt}), result {i}") for i, r in enumerate(records)]
        return cls(results, data.get("settings") or {}, data.get("environment") or {}, data.get("tool") or "")

    @classmethod
    def load(cls, path: Path) -> RunReport:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable pytest-repro report ({exc})") from None
        return cls.from_json(data, str(path))

    def write(self, path: Path) -> None:
        from .store import atomic_write

        text = json.dumps(self.to_json(), indent=2, sort_keys=True, default=str)
        atomic_write(Path(path), (text + "\n").encode("utf-8"))
