"""The HTML report's trajectory panel: L_inf per denoising step as an inline SVG bar chart.

Inline SVG, not a PNG: a few dozen bars need no plotting library, stay sharp, and the page's
Content-Security-Policy allows them (an element of the page, not a resource). Read from the result's
``trajectory`` field only, so a report rendered on another machine draws the same chart.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

WIDTH, HEIGHT = 520, 160
LEFT, RIGHT, TOP, BOTTOM = 58, 10, 12, 34
OK, BAD, LIMIT = "#1f77b4", "#d62728", "#555"


def _finite(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else math.inf


def steps_svg(trajectory: dict[str, Any]) -> str:
    """The chart, or ``""`` where there are no per-step values (not judged, or a malformed field)."""
    linf = trajectory.get("linf") or []
    steps = trajectory.get("step") or list(range(len(linf)))
    limit = trajectory.get("limit")
    if not linf or len(steps) != len(linf) or not isinstance(limit, int | float):
        return ""
    values = [_finite(v) for v in linf]
    top = max([v for v in values if math.isfinite(v)] + [float(limit), 1e-30]) * 1.15
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(values)
    first = trajectory.get("first_divergent_step")

    def y(v: float) -> float:
        return TOP + plot_h * (1 - min(v, top) / top)

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#bbb"/>']
    label_every = max(1, math.ceil(len(values) / 20))
    for i, (step, v) in enumerate(zip(steps, values, strict=True)):
        x = LEFT + i * slot + slot * 0.15
        colour = OK if v <= limit else BAD
        title = f"step {step}: L_inf {v:.3g}" + (" (first divergent)" if step == first else "")
        parts.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{slot * 0.7:.1f}" height="{TOP + plot_h - y(v):.1f}"'
                     f' fill="{colour}"><title>{escape(title)}</title></rect>')
        if i % label_every == 0 or step == first:
            bold = ' font-weight="bold"' if step == first else ""
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 13}" font-size="10" '
                         f'text-anchor="middle"{bold}>{escape(str(step))}</text>')
    ly = y(float(limit))
    parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{ly:.1f}" y2="{ly:.1f}" stroke="{LIMIT}" '
                 f'stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{LEFT - 4}" y="{ly + 3:.1f}" font-size="10" text-anchor="end">limit {limit:.2g}</text>')
    parts.append(f'<text x="{LEFT - 4}" y="{TOP + 9}" font-size="10" text-anchor="end">{top:.2g}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" font-size="11" text-anchor="middle">'
                 "denoising step</text>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'aria-label="L_inf per step" font-family="system-ui,sans-serif">{"".join(parts)}</svg>')


def steps_section(trajectory: dict[str, Any]) -> str:
    """The card's trajectory block: what was found, the chart, and why it could not be judged where so."""
    if not trajectory:
        return ""
    first = trajectory.get("first_divergent_step")
    n = trajectory.get("steps")
    status = escape(str(trajectory.get("status", "?")))
    if first is not None:
        # as the failure text says it: the step's number, then its place ("step 2" is the third of 0..3)
        steps = trajectory.get("step") or []
        place = f" (step {steps.index(first) + 1} of {escape(str(n))})" if first in steps else f" of {escape(str(n))}"
        head = f"first divergent step <b>{escape(str(first))}</b>{place}"
    elif trajectory.get("linf"):
        head = f"all {escape(str(n))} steps within the limit"
    else:
        head = f"{escape(str(n))} steps recorded"
    problem = trajectory.get("problem")
    note = f"<ul class='notes'><li>{escape(str(problem))}</li></ul>" if problem else ""
    return (f'<div class="trajectory"><p><b>Trajectory</b> <code>{escape(str(trajectory.get("check", "")))}</code> '
            f"({status}): {head}; L_inf per step against the check's limit</p>{steps_svg(trajectory)}{note}</div>")
