"""The failure text of one check: a view of its :class:`~pytest_repro.results.CheckResult`."""

from __future__ import annotations

from typing import Any

from ..results import CheckResult


def failure_text(result: CheckResult, golden_path: str, golden: dict[str, Any], accept: str) -> str:
    """Each metric against its limit, the worst indices, what differs, and the command that accepts it.

    ``golden`` is the entry the output was compared with (its seeds and abs-sum are shown beside ours).
    """
    key = result.backend
    vs = "" if result.golden_backend in (None, key) else f" (no {key} entry: compared with {result.golden_backend})"
    reasons = list(result.reasons)
    seeds_differ = golden.get("seed") is not None and golden.get("seed") != result.seed
    if seeds_differ:  # another image, not a drift: say so first, and not that the run is unreproducible
        lines = [f"{result.label} on {key} drew other seeds than its golden{vs} in {golden_path}",
                 f"  - seeds differ: the golden drew {golden['seed']}, this run drew {result.seed}: another seed is "
                 "another image, not a drift (pass the golden's seeds, or record this one)"]
        reasons = []  # every metric below follows from the other seed
    else:
        lines = [f"{result.label} on {key} drifted from its golden{vs} in {golden_path}"]
    if result.pitfalls:  # seen in what the pipeline was given: the likely cause, so first
        lines.append("  likely cause, generator pitfalls seen in what the pipeline was given:")
        lines += [f"    * {p.get('message')}" for p in result.pitfalls]
    if result.coverage == "full" and result.metrics.get("linf") == 0 and any(
            r.startswith("bitwise change") for r in reasons):
        # Every value equals the golden's array, yet the hashes differ: the entry contradicts itself.
        reasons = [r for r in reasons if not r.startswith("bitwise change")]
        reasons.insert(0, "the golden is inconsistent: its hash does not match its own array, which equals this "
                          "output value for value (hand-edited or damaged?); restore it from version control or "
                          "record it again")
    lines += [f"  - {reason}" for reason in reasons]
    if result.limits:
        lines.append(f"  {'metric':<26}{'value':>12}{'limit':>12}")
        for row in result.limits:
            shown = "-" if row.limit is None else f"{row.limit:.3g}"
            lines.append(f"  {row.metric:<26}{row.value:>12.3g}{shown:>12}  {'ok' if row.ok else 'FAIL'}")
    for metric in ("mean_abs", "rel_l2"):
        extra = result.metrics.get(metric)
        if extra is not None:
            lines.append(f"  {metric:<26}{extra:>12.3g}")
    if "abs_sum" in result.metrics:
        lines.append(f"  abs-sum {result.metrics['abs_sum']:.7g} (golden {golden.get('summary', {}).get('abs_sum')})")
    if result.worst:
        lines.append("  worst (index: output vs golden): " + "; ".join(
            f"{tuple(w['index'])} {w['actual']:.6g} vs {w['expected']:.6g}" for w in result.worst))
    if result.fingerprint_diff:
        lines.append("  environment differs from the golden's: " + ", ".join(
            f"{k}: {old!r} -> {new!r}" for k, (old, new) in result.fingerprint_diff.items()))
    lines.append(f"  to accept this output: {accept}")
    return "\n".join(lines)
