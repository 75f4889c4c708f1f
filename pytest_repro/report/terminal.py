"""The report header (the reproduction recipe) and the drift table in the terminal summary."""

from __future__ import annotations

import os
from typing import Any

from ..backends.base import dist_version
from ..settings import Settings

VERSIONED = ("torch", "diffusers", "numpy", "mindspore", "mindone", "torch-npu")


def versions() -> dict[str, str | None]:
    return {name: dist_version(name) for name in VERSIONED}


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


# Check statuses that fail the run (the plugin sets the exit status from the same tuple).
FAILING = ("fail", "missing", "error")


def fmt_metric(value: Any) -> str:
    return "-" if value is None else f"{value:.2e}"


def limit_of(record: dict[str, Any]) -> float | None:
    """The L_inf limit the check was held to: the comparison's own first row, else atol (or the ceiling)."""
    linf_rows = [row["limit"] for row in record.get("limits", []) if row["metric"].startswith("L_inf")]
    if linf_rows:
        return min(linf_rows)
    tol = record.get("tolerance", {})
    ceiling, atol = tol.get("max_linf"), tol.get("atol")
    return min(atol, ceiling) if ceiling is not None and atol is not None else atol


def rows(results: list[dict[str, Any]]) -> list[list[str]]:
    table = []
    # Sorted: under xdist results arrive in whatever order the workers finish.
    for rec in sorted(results, key=lambda r: (r["test"], r["check"], r["backend"])):
        vs = rec.get("golden_backend") or "-"
        vs = "new" if rec["status"] == "written" else ("same" if vs == rec["backend"] else vs)
        table.append([
            rec["test"], rec["check"], rec["backend"], vs,
            fmt_metric(rec.get("metrics", {}).get("linf")), fmt_metric(limit_of(rec)), rec["status"].upper(),
        ])
    return table


def render_table(results: list[dict[str, Any]]) -> list[str]:
    head = ["test", "check", "backend", "vs golden", "L_inf", "limit", "status"]
    body = rows(results)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return [line(head), line(["-" * w for w in widths]), *map(line, body)]


def totals(results: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rec in results:
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
    return counts


def write_summary(tr: Any, settings: Settings, results: list[dict[str, Any]]) -> None:
    tr.write_sep("=", "repro drift")
    for text in render_table(results):
        tr.write_line(text)
    written = [rec for rec in results if rec["status"] in ("written", "rewritten")]
    if written:
        tr.write_sep("-", "repro goldens written (--repro-regen)")
        for rec in written:
            where = f"{rec['test']} [{rec['check']}] on {rec['backend']}"
            tr.write_line(f"{rec['status']}: {where} -> {', '.join(rec.get('written', [rec['golden_file']]))}")
    counts = totals(results)
    listed = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    tr.write_line(f"repro: {len(results)} check{'s' if len(results) != 1 else ''}: {listed}")
    failing = sum(counts.get(status, 0) for status in FAILING)
    if failing:
        tr.write_line(f"repro: {failing} failed check{'s' if failing != 1 else ''}: the run fails, also where a "
                      "test caught the error itself")
    if settings.report:
        tr.write_line(f"repro: JSON results in {settings.report}")
