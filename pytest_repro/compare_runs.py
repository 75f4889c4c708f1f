"""``python -m pytest_repro compare A.json B.json``: the same checks, two runs, two machines.

Each run writes its JSON results with ``--repro-report`` (outputs kept beside it in ``*.arrays/``).
A pair is judged by the same rule as an in-run check (:func:`~pytest_repro.verdict.judge`) under A's
own tolerance (``--atol`` / ``--cosine`` override it), with B as the reference. Checks are paired by
test, check and backend, then by test and check, then by an explicit check name alone, so a PyTorch
test and a MindSpore test that name their check alike (``check(image, name="ddim")``) meet.
The exit code is 1 when a pair drifts beyond its limits, 2 when nothing could be paired.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .environment import fingerprint_diff
from .report import fmt_metric
from .results import CheckResult, RunReport
from .store import GoldenError, load_arrays
from .verdict import Side, Verdict, judge, same_environment

Pair = tuple[CheckResult, CheckResult]


def pair(a: list[CheckResult], b: list[CheckResult]) -> tuple[list[Pair], list[CheckResult], list[CheckResult]]:
    """Pair A's results with B's; returns the pairs, A's leftovers and B's leftovers."""
    passes: list[tuple[Callable[[CheckResult], Any], bool]] = [
        (lambda r: (r.test, r.check, r.backend), False),  # same test, check and backend
        (lambda r: (r.test, r.check), False),  # the same check on another backend
        # An explicit name alone, when only one of B's checks has it: a torch test and a MindSpore
        # test that both call check(..., name="ddim"). "output" is everyone's default: never paired so.
        (lambda r: r.check if r.named else None, True),
    ]
    pairs: list[Pair] = []
    used: set[int] = set()
    left_a = list(a)
    for key, unique in passes:
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
            else:
                still.append(rec)
        left_a = still
    return pairs, left_a, [r for r in b if id(r) not in used]


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


def compare_reports(path_a: Path, path_b: Path, atol: float | None, cosine: float | None = None,
                    out: Any = sys.stdout) -> int:
    """Print one row per paired check; limits default to each A check's own tolerance."""
    try:
        report_a, report_b = RunReport.load(path_a), RunReport.load(path_b)
    except ValueError as exc:
        print(f"pytest-repro compare: {exc}", file=sys.stderr)
        return 2
    pairs, only_a, only_b = pair(report_a.results, report_b.results)
    if not pairs:
        print(f"pytest-repro compare: no check of {path_a} matches one of {path_b}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("atol", atol), ("cosine", cosine)) if v is not None}
    failed = 0
    print(f"A = {path_a}, B = {path_b} (the reference: rel_l2 is relative to B)", file=out)
    head = (f"{'test [check]':<60} {'A':<16} {'B':<16} {'L_inf':>9} {'limit':>9} {'rel_l2':>9} {'cosine':>9} "
            f"{'limit':>9}  status")
    print(head, file=out)
    print("-" * len(head), file=out)
    for a, b in pairs:
        label = a.label if len(a.label) <= 60 else "..." + a.label[-57:]  # the end names the test
        try:
            v = judge_pair(Path(path_a), a, Path(path_b), b, overrides)
        except GoldenError as exc:
            failed += 1
            print(f"{label:<60} {a.backend:<16} {b.backend:<16} FAIL: {exc}", file=out)
            continue
        failed += not v.passed
        cos_limit = a.tolerance.merged(**overrides).cosine
        status = "PASS" if v.passed else "FAIL: " + "; ".join(v.reasons)
        print(
            f"{label:<60} {a.backend:<16} {b.backend:<16} {fmt_metric(v.metrics.get('linf')):>9} "
            f"{fmt_metric(v.limit):>9} {fmt_metric(v.metrics.get('rel_l2')):>9} "
            f"{fmt_metric(v.metrics.get('cosine')):>9} {fmt_metric(cos_limit):>9}  {status}"
            + (" (sampled)" if v.coverage == "sample" else ""),
            file=out,
        )
    for side, rest in (("A", only_a), ("B", only_b)):
        for rec in rest:
            print(f"only in {side}: {rec.label} on {rec.backend}", file=out)
    changed = [f"{k}: {old} -> {new}" for k, (old, new) in
               fingerprint_diff(report_a.environment, report_b.environment).items()]
    if changed:
        print("environment A -> B: " + "; ".join(changed), file=out)
    print(f"{len(pairs)} pairs: {len(pairs) - failed} within limit, {failed} beyond", file=out)
    return 1 if failed else 0
