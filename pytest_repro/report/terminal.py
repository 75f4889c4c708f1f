"""The report header (the reproduction recipe) and the drift table: views of the settings and results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..environment import versions
from ..results import RunReport
from ..settings import Settings
from . import fmt_metric, ratio_text, runs_text, status_text


def replay_command() -> str:
    """``pytest``, or what started this run when it wasn't plain pytest (``python -m pytest_repro suite``)."""
    return os.environ.get("PYTEST_REPRO_COMMAND", "pytest")


def header_lines(settings: Settings) -> list[str]:
    found = ", ".join(f"{k} {v}" for k, v in versions().items() if v)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return [
        f"repro: backend={','.join(settings.backends)} seed={settings.seed} "
        f"deterministic={'on' if settings.deterministic else 'off'} golden={settings.golden_dir}"
        + (" REGEN (goldens of the selected backend will be written)" if settings.regen else ""),
        f"repro replay: {replay_command()} {settings.replay_flags()}",
        f"repro versions: {found}; OMP_NUM_THREADS={threads}",
    ]


def _table(head: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    line = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()  # noqa: E731
    return [line(head), line(["-" * w for w in widths]), *map(line, body)]


def render_table(report: RunReport) -> list[str]:
    audited = any(r.runs for r in report.results)  # the runs column only where --repro-runs was asked
    head = ["test", "check", "backend", "vs golden", "L_inf", "limit", *(["runs"] if audited else []), "status"]
    body = [
        [r.test, r.check, r.backend, r.vs_golden, fmt_metric(r.metrics.get("linf")), fmt_metric(r.limit),
         *([runs_text(r.runs)] if audited else []),
         status_text(r)]
        for r in report.sorted_results()
    ]
    return _table(head, body)


def _seconds(value: object) -> str:
    return f"{value:.3g}s" if isinstance(value, (int, float)) else "-"


def render_timing(report: RunReport) -> list[str]:
    """--repro-timing: one row per test and backend (every check of a test carries the same timing)."""
    rows: dict[tuple[str, str], dict] = {}
    for r in report.sorted_results():
        if r.timing:
            rows.setdefault((r.nodeid, r.backend), r.timing)
    if not rows:
        return []
    head = ["test", "backend", "deterministic", "default", "ratio", "cpu gen", "device gen", "ratio"]
    body = []
    for (nodeid, backend), t in rows.items():
        gens = t.get("generators") or {}
        body.append([nodeid, backend, _seconds(t.get("deterministic_s")), _seconds(t.get("default_s")),
                     ratio_text(t.get("deterministic_ratio")), _seconds(gens.get("cpu_s")),
                     _seconds(gens.get("device_s")), ratio_text(gens.get("device_ratio"))])
    notes = sorted({str(t.get("skipped") or (t.get("generators") or {}).get("skipped")) for t in rows.values()
                    if t.get("skipped") or (t.get("generators") or {}).get("skipped")})
    return _table(head, body) + [f"skipped: {note}" for note in notes]


def render_ops(report: RunReport) -> list[str]:
    """The determinism audit's nondeterministic ops, per test."""
    seen: dict[str, list[str]] = {}
    for r in report.sorted_results():
        ops = (r.runs or {}).get("nondeterministic_ops") or []
        if ops:
            seen.setdefault(f"{r.nodeid} on {r.backend}", ops)
    return [f"{test}: {', '.join(ops)}" for test, ops in seen.items()]


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def write_summary(tr: Any, settings: Settings, report: RunReport) -> None:
    tr.write_sep("=", "repro drift")
    for text in render_table(report):
        tr.write_line(text)
    timing = render_timing(report)
    if timing:
        tr.write_sep("-", "repro cost of determinism (--repro-timing; fastest of the interleaved calls)")
        for text in timing:
            tr.write_line(text)
    ops = render_ops(report)
    if ops:
        tr.write_sep("-", "repro nondeterministic ops used (--repro-runs, PyTorch warn-only)")
        for text in ops:
            tr.write_line(text)
    root = Path(getattr(getattr(tr, "config", None), "rootpath", Path.cwd()))
    # A golden the audit's reruns then failed (status fail) was written all the same: it is listed too.
    written = [r for r in report.results if r.status.value in ("written", "rewritten") or r.written]
    paths = [r for r in report.results if r.trajectory.get("status") in ("written", "rewritten")]
    if written or paths:
        tr.write_sep("-", "repro goldens written (--repro-regen)")
        for r in written:  # one line per check: what moved, and the golden file relative to the rootdir
            moved = ""
            if r.status.value == "rewritten" and r.metrics:
                old, new = r.metrics.get("golden_abs_sum"), r.metrics.get("abs_sum")
                moved = f" (moved: L_inf {fmt_metric(r.metrics.get('linf'))}, abs-sum {old} -> {new})"
            what = r.status.value if r.status.value in ("written", "rewritten") else "written, then failed"
            tr.write_line(f"{what}: {r.label} on {r.backend}{moved} -> {_relative(r.golden_file, root)}")
        for r in paths:  # the trajectory entries, each beside its output's
            tr.write_line(f"{r.trajectory['status']}: {r.test} [{r.trajectory.get('check')}] "
                          f"({r.trajectory.get('steps')} steps) on {r.backend} -> {_relative(r.golden_file, root)}")
    kept = [r for r in report.results if r.status.value == "unchanged" and r.reasons]
    if kept:
        tr.write_line(f"repro: {len(kept)} golden{'s' if len(kept) != 1 else ''} differ within tolerance and were "
                      "kept (--repro-regen-all rewrites them)")
    obtained = sorted({p for r in report.results for p in r.obtained if p.endswith(".json")})
    if obtained:
        tr.write_line(f"repro: {len(obtained)} obtained golden file{'s' if len(obtained) != 1 else ''} in "
                      f"{_relative(settings.obtained or '', root)}; apply them with: python -m pytest_repro accept "
                      f"{_relative(settings.obtained or '', root)}")
    totals = report.totals
    listed = ", ".join(f"{n} {status}" for status, n in totals.items())
    tr.write_line(f"repro: {len(report.results)} check{'s' if len(report.results) != 1 else ''}: {listed}")
    failing = len(report.failing)
    if failing:
        tr.write_line(f"repro: {failing} failed check{'s' if failing != 1 else ''}: the run fails, also where a "
                      "test caught the error itself")
    if settings.report:
        tr.write_line(f"repro: JSON results in {_relative(settings.report, root)}")
