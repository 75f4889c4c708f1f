"""The Markdown summary for CI (``$GITHUB_STEP_SUMMARY``): a view of JSON reports.

Appended by the run when ``$GITHUB_STEP_SUMMARY`` is set, or printed by ``python -m pytest_repro markdown``.
Failing checks first, in the open; passing ones folded in a ``<details>`` block; sampled checks labelled;
a line saying where the HTML report is (a link, a path, or how to get one).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..results import CheckResult, RunReport
from . import count, fmt_metric, runner_labels, runs_text, severity, status_text

MAX_ROWS = 300  # GitHub keeps at most 1 MiB of step summary per step


def cell(text: str, code: bool = False) -> str:
    """Table-cell text: pipes escaped (also inside code spans: GitHub splits cells first), no line breaks."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    if code:
        return f"`{text.replace('`', chr(39))}`"
    return text.replace("<", "&lt;").replace(">", "&gt;")


def run_link() -> str | None:
    """This GitHub Actions run's page (where its artifacts are listed), from the variables GitHub sets."""
    parts = [os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


def _rows(entries: list[tuple[str, CheckResult]], many: bool, audited: bool) -> list[str]:
    head = ["status", "test", "check", "backend", *(["report"] if many else []), "vs golden", "L_inf", "limit",
            *(["runs"] if audited else [])]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if h in ("L_inf", "limit") else "---"
                                                            for h in head) + "|"]
    for runner, r in entries:
        status = status_text(r)
        shown = f"**{status}**" if r.status.fails_run else status
        if r.trajectory.get("first_divergent_step") is not None:  # where it went wrong, from the trajectory
            shown += f" (first divergent step {r.trajectory['first_divergent_step']})"
        row = [shown, cell(r.test, code=True), cell(r.check), cell(r.backend), *([cell(runner)] if many else []),
               cell(r.vs_golden), fmt_metric(r.metrics.get("linf")), fmt_metric(r.limit),
               *([cell(runs_text(r.runs))] if audited else [])]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def html_note(html: str | None, link: str | None) -> str:
    if html and link:
        return (f"HTML report (golden, output and difference pictures): {cell(html, code=True)}, in the artifacts "
                f"of [this run]({link}).")
    if html:
        return f"HTML report (golden, output and difference pictures): {cell(html, code=True)}."
    if link:
        return f"HTML report (golden, output and difference pictures): [{cell(link)}]({link})."
    return ("No HTML report was written: `--repro-html PATH`, or `python -m pytest_repro html REPORT.json "
            "-o OUT.html`, draws the golden, the output and their difference for each check.")


def render_markdown(reports: list[tuple[str, RunReport]], html: str | None = None, link: str | None = None) -> str:
    """The drift table of ``reports`` (label, report): failing checks first, passing ones folded."""
    many = len(reports) > 1
    entries = sorted(((label, r) for label, report in reports for r in report.results),
                     key=lambda e: (severity(e[1]), e[1].test, e[1].check, e[1].backend, e[0]))
    audited = any(r.runs for _, r in entries)  # the runs column only where the audit ran, as in the terminal
    failing = [e for e in entries if e[1].status.fails_run]
    rest = [e for e in entries if not e[1].status.fails_run]
    title = (f"{len(failing)} failing of {count(len(entries), 'check')}" if failing
             else f"{count(len(entries), 'check')}, none failing")
    lines = [f"### pytest-repro drift: {title}", ""]
    for label, report in reports:
        totals = ", ".join(f"{n} {s}" for s, n in report.totals.items()) or "no checks"
        replay = report.settings.get("replay")
        lines.append(f"- {cell(label, code=True)}: {totals}" + (f"; replay: {cell(str(replay), code=True)}"
                                                                  if replay else ""))
    lines.append("")
    shown = 0
    if failing:
        lines += _rows(failing[:MAX_ROWS], many, audited) + [""]
        shown = min(len(failing), MAX_ROWS)
    if rest and shown < MAX_ROWS:
        kept = rest[: MAX_ROWS - shown]
        lines += [f"<details><summary>{count(len(rest), 'passing or recorded check')}</summary>", "",
                  *_rows(kept, many, audited), "", "</details>", ""]
        shown += len(kept)
    if shown < len(entries):
        lines += [f"{count(len(entries) - shown, 'more check')} not listed here: see the JSON report.", ""]
    if any(r.coverage == "sample" for _, r in entries):
        lines += ["(sampled): compared over a strided sample of an output bigger than the array limit.", ""]
    lines += [html_note(html, link), ""]
    return "\n".join(lines)


def markdown_of(report_paths: list[Path], html: str | None = None, link: str | None = None) -> str:
    """Load the reports (``ValueError`` names a bad one) and render their summary."""
    paths = [Path(p) for p in report_paths]
    return render_markdown(list(zip(runner_labels(paths), [RunReport.load(p) for p in paths], strict=True)), html, link)


def append_step_summary(report: RunReport, label: str, html: str | None) -> Path | None:
    """Append the run's summary to ``$GITHUB_STEP_SUMMARY`` when it is set; the file written, or None."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as f:
        f.write(render_markdown([(label, report)], html, run_link() if html else None) + "\n")
    return Path(target)
