"""``python -m pytest_repro compare RUN.json ... REF.json``: one gate over the reports of many runners.

Each runner writes its JSON results with ``--repro-report`` (outputs kept beside it in ``*.arrays/``).
The last report is the reference (B in ``compare A.json B.json``; ``--reference`` picks another).
Every other runner's checks are paired with the reference's and judged by the same rule as an in-run
check (:func:`~pytest_repro.verdict.judge`) under the runner's own tolerance (``--atol`` / ``--cosine``
override it). Checks pair by test, check and backend, then by test and check, then by an explicit check
name alone, so a PyTorch test and a MindSpore test that name their check alike (``check(image,
name="ddim")``) meet; a looser pairing is shown. The matrix shows each runner against its own golden
and against the reference. Exit 1 on any drift (in a runner or against the reference) or, with
``--strict``, any check missing on a runner; exit 2 on an unreadable report or when nothing pairs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .environment import fingerprint_diff
from .report import fmt_metric
from .results import CheckResult, RunReport
from .store import GoldenError, load_arrays
from .verdict import Side, Verdict, judge, same_environment

Pair = tuple[CheckResult, CheckResult]
PASSES: list[tuple[str, Callable[[CheckResult], Any], bool]] = [
    ("same", lambda r: (r.test, r.check, r.backend), False),  # same test, check and backend
    ("other backend", lambda r: (r.test, r.check), False),  # the same check on another backend
    # An explicit name alone, when only one of B's checks has it: a torch test and a MindSpore
    # test that both call check(..., name="ddim"). "output" is everyone's default: never paired so.
    ("check name", lambda r: r.check if r.named else None, True),
]


def pair(a: list[CheckResult], b: list[CheckResult]) -> tuple[list[Pair], list[CheckResult], list[CheckResult]]:
    """Pair A's results with B's; returns the pairs, A's leftovers and B's leftovers."""
    pairs, only_a, only_b, _ = _pair(a, b)
    return pairs, only_a, only_b


def _pair(a: list[CheckResult], b: list[CheckResult]) -> tuple[list[Pair], list, list, list[str]]:
    pairs: list[Pair] = []
    how: list[str] = []
    used: set[int] = set()
    left_a = list(a)
    for name, key, unique in PASSES:
        index: dict[Any, list[CheckResult]] = {}
        for r in b:
            if id(r) not in used and key(r) is not None:
                index.setdefault(key(r), []).append(r)
        still = []
        for rec in left_a:
            candidates = index.get(key(rec)) if key(rec) is not None else None
            if candidates and (len(candidates) == 1 or not unique):
                other = candidates.pop(0)
                used.add(id(other))
                pairs.append((rec, other))
                how.append(name)
            else:
                still.append(rec)
        left_a = still
    return pairs, left_a, [r for r in b if id(r) not in used], how


def _side(report: Path, result: CheckResult) -> Side:
    if not result.array_file:
        raise GoldenError(f"{report}: {result.label} kept no output (run with --repro-report so outputs are saved)")
    try:
        values, index = load_arrays(report.parent / result.array_file)
    except GoldenError as exc:
        folder = Path(result.array_file).parent
        raise GoldenError(f"{exc} Copy the {folder}/ folder along with {report.name}.") from None
    return Side(result.summary, values, index)


def judge_pair(report_a: Path, a: CheckResult, report_b: Path, b: CheckResult,
               overrides: dict[str, Any]) -> Verdict:
    """A's output against B's, under A's tolerance: the in-run rule, B in the golden's place."""
    tol = a.tolerance.merged(**overrides)
    same = same_environment(b.backend, b.fingerprint, a.backend, a.fingerprint)
    return judge(_side(report_a, a), _side(report_b, b), tol, same)


@dataclass
class Cell:
    """One runner's check: its own verdict against its golden, and its verdict against the reference."""

    result: CheckResult
    reference: CheckResult | None = None
    how: str = "same"
    verdict: Verdict | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        if self.result.status.fails_run:
            return True
        return self.reference is not None and (self.error is not None or not (self.verdict and self.verdict.passed))


@dataclass
class Runner:
    path: Path
    report: RunReport
    cells: list[Cell] = field(default_factory=list)
    unpaired: list[CheckResult] = field(default_factory=list)  # the reference's checks this runner lacks


def compare(paths: list[Path], overrides: dict[str, Any], reference: int = -1) -> list[Runner]:
    """Load every report (a ``ValueError`` names a bad one), pair each runner with the reference, judge.

    Returns the runners, the reference first.
    """
    runners = [Runner(Path(p), RunReport.load(Path(p))) for p in paths]
    runners.insert(0, runners.pop(reference))
    ref = runners[0]
    ref.cells = [Cell(r) for r in ref.report.results]
    for runner in runners[1:]:
        pairs, only_runner, only_ref, how = _pair(runner.report.results, ref.report.results)
        for (a, b), kind in zip(pairs, how, strict=True):
            cell = Cell(a, b, kind)
            try:
                cell.verdict = judge_pair(runner.path, a, ref.path, b, overrides)
            except GoldenError as exc:  # never "pass" for a pair that could not be compared
                cell.error = str(exc)
            runner.cells.append(cell)
        runner.cells += [Cell(r, None, "unpaired") for r in only_runner]
        runner.unpaired = only_ref
    return runners


def _cell_text(cell: Cell) -> str:
    own = f"{cell.result.status.value.upper():<9} {fmt_metric(cell.result.metrics.get('linf')):>9}"
    if cell.how == "unpaired":
        return f"{own}   not in the reference"
    if cell.reference is None:
        return f"{own}   (reference)"
    if cell.error is not None:
        return f"{own}   ERROR: {cell.error}"
    v = cell.verdict
    assert v is not None
    status = "PASS" if v.passed else "FAIL"
    text = (f"{own}   {status:<5} {fmt_metric(v.metrics.get('linf')):>9} {fmt_metric(v.limit):>9} "
            f"{fmt_metric(v.metrics.get('cosine')):>9}" + (" sampled" if v.coverage == "sample" else ""))
    if cell.how != "same":
        text += f"   [vs {cell.reference.label} on {cell.reference.backend}, paired by {cell.how}]"
    if not v.passed:
        text += "   " + "; ".join(v.reasons)
    if cell.reference.seed != cell.result.seed:
        text += f"   seeds differ: {cell.result.seed} vs {cell.reference.seed} (another image, not a drift)"
    return text


def render(runners: list[Runner], strict: bool) -> list[str]:
    ref = runners[0]
    lines = [f"reference: {ref.path}; runners: {', '.join(str(r.path) for r in runners[1:])}",
             f"{'test [check]':<56} {'runner':<22} {'backend':<16} {'vs golden':<19}   "
             f"{'vs reference: L_inf':<25} {'limit':>9} {'cosine':>9}"]
    lines.append("-" * len(lines[-1]))
    rows: dict[tuple[str, str], list[tuple[Runner, Cell]]] = {}
    for runner in runners:
        for cell in runner.cells:
            rows.setdefault((cell.result.test, cell.result.check), []).append((runner, cell))
    for (test, check), cells in sorted(rows.items()):
        label = f"{test} [{check}]"
        label = label if len(label) <= 56 else "..." + label[-53:]  # the end names the test
        for runner, cell in cells:
            lines.append(f"{label:<56} {runner.path.name:<22} {cell.result.backend:<16} {_cell_text(cell)}")
            label = ""
    for runner in runners[1:]:
        for rec in runner.unpaired:
            lines.append(f"missing on {runner.path.name}: {rec.label} on {rec.backend}"
                         + (" (fails under --strict)" if strict else ""))
        env = fingerprint_diff(runner.report.environment, ref.report.environment)
        if env:
            lines.append(f"environment {runner.path.name} -> {ref.path.name}: "
                         + "; ".join(f"{k}: {old} -> {new}" for k, (old, new) in env.items()))
        diffs: dict[str, list[Any]] = {}
        for cell in runner.cells:
            if cell.reference is not None:
                for k, v in fingerprint_diff(cell.result.fingerprint, cell.reference.fingerprint).items():
                    diffs.setdefault(k, v)
        if diffs:
            lines.append(f"fingerprint {runner.path.name} -> {ref.path.name}: "
                         + "; ".join(f"{k}: {old} -> {new}" for k, (old, new) in diffs.items()))
    return lines


def _vs_reference(c: Cell) -> str:
    if c.how == "unpaired":
        return "not in the reference"
    if c.reference is None:
        return "(reference)"
    if c.error is not None or c.verdict is None:
        return f"ERROR: {c.error}"
    v = c.verdict
    return f"{'PASS' if v.passed else 'FAIL'} {fmt_metric(v.metrics.get('linf'))} / {fmt_metric(v.limit)}"


def markdown_matrix(runners: list[Runner], strict: bool, html: str | None = None) -> str:
    """The matrix as Markdown for ``$GITHUB_STEP_SUMMARY``: failing rows first, the rest folded."""
    from .report.markdown import cell, html_note, run_link

    rows: list[tuple[bool, str]] = []
    for runner in runners:
        for c in runner.cells:
            own = f"{c.result.status.value.upper()} {fmt_metric(c.result.metrics.get('linf'))}"
            line = (f"| {'**FAIL**' if c.failed else 'pass'} | {cell(c.result.label, code=True)} | "
                    f"{cell(runner.path.name)} | {cell(c.result.backend)} | {cell(own)} | {cell(_vs_reference(c))} |")
            rows.append((c.failed, line))
        for rec in runner.unpaired:
            rows.append((strict, f"| {'**MISSING**' if strict else 'missing'} | {cell(rec.label, code=True)} | "
                                 f"{cell(runner.path.name)} | {cell(rec.backend)} | - | not on this runner |"))
    head = ["| gate | test [check] | runner | backend | vs golden | vs reference (L_inf / limit) |",
            "|---|---|---|---|---|---|"]
    failing = [line for bad, line in rows if bad]
    passing = [line for bad, line in rows if not bad]
    text = [f"## pytest-repro gate: {len(failing)} failing of {len(rows)} (reference {cell(runners[0].path.name)})",
            "", *head, *failing]
    if passing:
        text += ["", f"<details><summary>{len(passing)} within the limits</summary>", "", *head, *passing,
                 "", "</details>"]
    return "\n".join([*text, "", html_note(html, run_link()), ""])


def compare_reports(paths: list[Path], atol: float | None = None, cosine: float | None = None,
                    strict: bool = False, reference: Path | None = None, out: Any = sys.stdout,
                    markdown: Path | None = None, html: Path | None = None) -> int:
    """Print the matrix; 0 within every limit, 1 on drift (or a missing check under ``strict``), 2 on bad input."""
    paths = [Path(p) for p in paths]
    if reference is not None and Path(reference) not in paths:
        paths.append(Path(reference))
    if len(paths) < 2:
        print("pytest-repro compare: give at least two reports (the reference last)", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("atol", atol), ("cosine", cosine)) if v is not None}
    at = -1 if reference is None else paths.index(Path(reference))
    try:
        runners = compare(paths, overrides, at)
    except ValueError as exc:
        print(f"pytest-repro compare: {exc}", file=sys.stderr)
        return 2
    paired = sum(c.reference is not None for r in runners[1:] for c in r.cells)
    if not paired:
        others = ", ".join(str(r.path) for r in runners[1:])
        print(f"pytest-repro compare: no check of {others} matches one of {runners[0].path}", file=sys.stderr)
        return 2
    for line in render(runners, strict):
        print(line, file=out)
    if markdown is not None:  # appended: $GITHUB_STEP_SUMMARY collects every step's summary
        with open(markdown, "a", encoding="utf-8") as f:
            f.write(markdown_matrix(runners, strict, str(html) if html else None))
    if html is not None:  # each runner's checks drawn from its own report: golden, output, difference
        from .report.html import write_html

        write_html([r.path for r in runners], Path(html))
        print(f"HTML report of every runner: {html}", file=out)
    failed = sum(c.failed for r in runners for c in r.cells)
    missing = sum(len(r.unpaired) + sum(c.how == "unpaired" for c in r.cells) for r in runners[1:])
    print(f"{paired} pairs against {runners[0].path}: {failed} failing check{'s' if failed != 1 else ''}, "
          f"{missing} without a partner", file=out)
    return 1 if failed or (strict and missing) else 0
