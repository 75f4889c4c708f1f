"""``python -m pytest_repro compare A.json B.json``: the same checks, two runs, two machines.

Each run writes its JSON results with ``--repro-report`` (outputs kept beside it in ``*.arrays/``).
Checks are paired by test id and check name; what is left is paired by check name alone, so a
PyTorch test and a MindSpore test that name their check alike (``check(image, name="ddim")``) meet.
The exit code is 1 when a pair drifts beyond the limit, 2 when nothing could be paired.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .checker import dict_diff
from .compare import metrics
from .golden import GoldenError, load_arrays
from .report.json_report import load_report
from .report.terminal import fmt_metric
from .settings import DEFAULT_ATOL, DEFAULT_COSINE


def pair(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[list[tuple[dict, dict]], list, list]:
    """Pair A's records with B's; returns the pairs, A's leftovers and B's leftovers."""
    passes: list[tuple[Callable[[dict], Any], bool]] = [
        (lambda r: (r["test"], r["check"], r["backend"]), False),  # same test, check and backend
        (lambda r: (r["test"], r["check"]), False),  # the same check on another backend
        # An explicit name alone, when only one of B's checks has it: a torch test and a MindSpore
        # test that both call check(..., name="ddim"). "output" is everyone's default: never paired so.
        (lambda r: r["check"] if r.get("named") else None, True),
    ]
    pairs: list[tuple[dict, dict]] = []
    used: set[int] = set()
    left_a = list(a)
    for key, unique in passes:
        index: dict[Any, list[dict]] = {}
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


def _values(report: Path, rec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
    name = rec.get("array_file")
    if not name:
        return None
    try:
        return load_arrays(report.parent / name)
    except GoldenError as exc:
        raise GoldenError(f"{exc} Copy the {Path(name).parent}/ folder along with {report.name}.") from None


def _drift(report_a: Path, a: dict, report_b: Path, b: dict) -> dict[str, Any]:
    """Metrics of A's output against B's (B is the reference, like a golden)."""
    sa, sb = a.get("summary", {}), b.get("summary", {})
    if sa.get("shape") != sb.get("shape"):
        return {"error": f"shape {sa.get('shape')} vs {sb.get('shape')}"}
    if sa.get("dtype") != sb.get("dtype"):
        return {"error": f"dtype {sa.get('dtype')} vs {sb.get('dtype')}"}
    va, vb = _values(report_a, a), _values(report_b, b)
    if va is None or vb is None:
        return {"error": "no kept output (run with --repro-report so outputs are saved beside it)"}
    (xa, ia), (xb, ib) = va, vb
    same_part = ia is None and ib is None or (ia is not None and ib is not None and np.array_equal(ia, ib))
    if not same_part:
        return {"error": "the runs kept different parts of the output (different --repro-array-limit)"}
    out: dict[str, Any] = dict(metrics(xa, xb))
    out["coverage"] = "full" if ia is None else "sample"
    return out


def compare_reports(path_a: Path, path_b: Path, atol: float | None, cosine: float | None = None,
                    out: Any = sys.stdout) -> int:
    """Print one row per paired check; limits default to each A check's own atol and cosine."""
    try:
        report_a, report_b = load_report(path_a), load_report(path_b)
    except ValueError as exc:
        print(f"pytest-repro compare: {exc}", file=sys.stderr)
        return 2
    pairs, only_a, only_b = pair(report_a["results"], report_b["results"])
    if not pairs:
        print(f"pytest-repro compare: no check of {path_a} matches one of {path_b}", file=sys.stderr)
        return 2
    failed = 0
    print(f"A = {path_a}, B = {path_b} (the reference: rel_l2 is relative to B)", file=out)
    head = (f"{'test [check]':<60} {'A':<16} {'B':<16} {'L_inf':>9} {'limit':>9} {'rel_l2':>9} {'cosine':>9} "
            f"{'limit':>9}  status")
    print(head, file=out)
    print("-" * len(head), file=out)
    for a, b in pairs:
        try:
            drift = _drift(Path(path_a), a, Path(path_b), b)
        except GoldenError as exc:
            drift = {"error": str(exc)}
        tol = a.get("tolerance", {})
        linf_limit = atol if atol is not None else tol.get("atol", DEFAULT_ATOL)
        cos_limit = cosine if cosine is not None else tol.get("cosine", DEFAULT_COSINE)
        label = f"{a['test']} [{a['check']}]"
        label = label if len(label) <= 60 else "..." + label[-57:]  # the end names the test
        if "error" in drift:
            failed += 1
            print(f"{label:<60} {a['backend']:<16} {b['backend']:<16} FAIL: {drift['error']}", file=out)
            continue
        ok = drift["linf"] <= linf_limit and (cos_limit is None or drift["cosine"] is None
                                               or drift["cosine"] <= cos_limit)
        failed += not ok
        print(
            f"{label:<60} {a['backend']:<16} {b['backend']:<16} {drift['linf']:>9.2e} {linf_limit:>9.2e} "
            f"{fmt_metric(drift['rel_l2']):>9} {fmt_metric(drift['cosine']):>9} {fmt_metric(cos_limit):>9}  "
            f"{'PASS' if ok else 'FAIL'}"
            + (" (sampled)" if drift["coverage"] == "sample" else ""),
            file=out,
        )
    for side, rest in (("A", only_a), ("B", only_b)):
        for rec in rest:
            print(f"only in {side}: {rec['test']} [{rec['check']}] on {rec['backend']}", file=out)
    env_a, env_b = report_a.get("environment", {}), report_b.get("environment", {})
    changed = [f"{k}: {old} -> {new}" for k, (old, new) in dict_diff(env_a, env_b).items()]
    if changed:
        print("environment A -> B: " + "; ".join(changed), file=out)
    print(f"{len(pairs)} pairs: {len(pairs) - failed} within limit, {failed} beyond", file=out)
    return 1 if failed else 0
