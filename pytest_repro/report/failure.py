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
        # Every value equals the golden's, yet the bits differ: zeros that changed sign, or an entry whose hash
        # contradicts its own array.
        reasons = [r for r in reasons if not r.startswith("bitwise change")]
        reasons.insert(0, "every value equals the golden's, yet the bits differ: a zero changed sign (-0.0 vs "
                          "0.0), or the golden's hash does not match its own array (hand-edited or damaged?). "
                          "Record it again if the new bits are right")
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
    lines += trajectory_lines(result.trajectory)
    lines.append(f"  to accept this output: {accept}")
    return "\n".join(lines)


TABLE_ROWS = 12  # a longer trajectory shows its start, the rows around the first divergent step and its end


def trajectory_lines(trajectory: dict[str, Any]) -> list[str]:
    """The trajectory's verdict: the first divergent step and a small table of L_inf per step."""
    if not trajectory:
        return []
    lines = []
    if trajectory.get("problem"):
        lines.append(f"  trajectory: {trajectory['problem']}")
    linf, steps, limit = trajectory.get("linf") or [], trajectory.get("step") or [], trajectory.get("limit")
    if not linf or len(steps) != len(linf) or limit is None:
        return lines
    first = trajectory.get("first_divergent_step")
    if first is None:
        lines.append(f"  trajectory: all {len(linf)} steps within L_inf {limit:.3g}")
    else:
        at = steps.index(first)
        lines.append(f"  trajectory: first divergent step {first} (step {at + 1} of {len(linf)}): L_inf "
                     f"{linf[at]:.3g} > limit {limit:.3g}")
    timesteps = trajectory.get("timestep") or [None] * len(linf)
    lines.append(f"    {'step':>6}{'timestep':>10}{'L_inf':>12}")
    last = -1
    for i in _shown_rows(len(linf), None if first is None else steps.index(first)):
        if i != last + 1:
            lines.append(f"    {'...':>6}")
        t = "-" if i >= len(timesteps) or timesteps[i] is None else f"{timesteps[i]:g}"
        mark = "  <- first divergent" if steps[i] == first else ("  FAIL" if not linf[i] <= limit else "")
        lines.append(f"    {steps[i]:>6}{t:>10}{linf[i]:>12.3g}{mark}")
        last = i
    return lines


def _shown_rows(n: int, first: int | None) -> list[int]:
    if n <= TABLE_ROWS:
        return list(range(n))
    centre = first if first is not None else n // 2
    return sorted({0, 1, 2, *range(max(0, centre - 3), min(n, centre + 4)), n - 2, n - 1})


def trajectory_failure(result: CheckResult, golden_path: str, accept: str) -> str:
    """The failure text of a check whose output passed but whose trajectory did not."""
    t = result.trajectory
    what = {"missing": "has no trajectory golden", "error": "could not check its trajectory"}.get(
        t.get("status", ""), "has a trajectory that drifted from its golden")
    vs = "" if t.get("golden_backend") in (None, result.backend) else f" (compared with {t['golden_backend']})"
    lines = [f"{result.label} on {result.backend} {what}{vs} in {golden_path} (the output itself passed)",
             *trajectory_lines(t)]
    if t.get("status") != "error" or t.get("golden_steps") is not None:
        lines.append(f"  to record this trajectory: {accept}")
    return "\n".join(lines)
