"""The report header (the reproduction recipe) and the drift table: views of the settings and results."""

from __future__ import annotations

import os
from typing import Any

from ..environment import versions
from ..results import RunReport
from ..settings import Settings
from . import fmt_metric


def header_lines(settings: Settings) -> list[str]:
    found = ", ".join(f"{k} {v}" for k, v in versions().items() if v)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return [
        f"repro: backend={','.join(settings.backends)} seed={settings.seed} "
        f"deterministic={'on' if settings.deterministic else 'off'} golden={settings.golden_dir}"
        + (" REGEN (goldens of the selected backend will be written)" if settings.regen else ""),
        f"repro replay: pytest {settings.replay_flags()}",
        f"repro versions: {found}; OMP_NUM_THREADS={threads}",
    ]


def render_table(report: RunReport) -> list[str]:
    head = ["test", "check", "backend", "vs golden", "L_inf", "limit", "status"]
    body = [
        [r.test, r.check, r.backend, r.vs_golden, fmt_metric(r.metrics.get("linf")), fmt_metric(r.limit),
         r.status.value.upper() + (" (sampled)" if r.coverage == "sample" else "")]
        for r in report.sorted_results()
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    line = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()  # noqa: E731
    return [line(head), line(["-" * w for w in widths]), *map(line, body)]


def write_summary(tr: Any, settings: Settings, report: RunReport) -> None:
    tr.write_sep("=", "repro drift")
    for text in render_table(report):
        tr.write_line(text)
    written = [r for r in report.results if r.status.value in ("written", "rewritten")]
    if written:
        tr.write_sep("-", "repro goldens written (--repro-regen)")
        for r in written:
            tr.write_line(f"{r.status}: {r.label} on {r.backend} -> {', '.join(r.written or [r.golden_file])}")
    totals = report.totals
    listed = ", ".join(f"{n} {status}" for status, n in totals.items())
    tr.write_line(f"repro: {len(report.results)} check{'s' if len(report.results) != 1 else ''}: {listed}")
    failing = len(report.failing)
    if failing:
        tr.write_line(f"repro: {failing} failed check{'s' if failing != 1 else ''}: the run fails, also where a "
                      "test caught the error itself")
    if settings.report:
        tr.write_line(f"repro: JSON results in {settings.report}")
