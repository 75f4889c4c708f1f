"""Line plots of signals, flattened arrays and samples: matplotlib when installed, else Pillow.

A long line is drawn as its envelope (the minimum and maximum of each of ``POINTS`` bins), so a
single drifting value among millions still shows. matplotlib is the ``html`` extra; without it the
same panels are drawn with Pillow's ImageDraw (plainer, same content).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

POINTS = 800  # bins of a line's envelope
MAX_PANELS = 4
WIDTH, PANEL_HEIGHT, DPI = 640, 130, 80
COLOURS = {"golden": "#7f7f7f", "output": "#1f77b4"}
DIFF = "#d62728"


@dataclass
class Series:
    name: str
    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def is_line(self) -> bool:
        return self.lo is self.hi


@dataclass
class Panel:
    label: str
    series: list[Series]


def envelope(y: np.ndarray, x: np.ndarray | None = None, points: int = POINTS) -> Series:
    """``y`` (at positions ``x``) as a line, or as the min/max band of ``points`` bins when longer."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    finite = y[np.isfinite(y)]
    top, bottom = (float(finite.max()), float(finite.min())) if finite.size else (0.0, 0.0)
    y = np.nan_to_num(y, nan=0.0, posinf=top, neginf=bottom)
    x = np.arange(y.size) if x is None else np.asarray(x).reshape(-1)
    if y.size <= points:
        return Series("", x, y, y)
    starts = np.linspace(0, y.size, points + 1).astype(np.int64)[:-1]
    return Series("", x[starts], np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts))


def envelope_panels(lines: list[tuple[str, np.ndarray]], notes: list[str],
                    x: np.ndarray | None = None) -> list[Panel]:
    """One panel per row of the (rows, values) arrays in ``lines``, each array a named series in it."""
    rows = lines[0][1].shape[0]
    if rows > MAX_PANELS:
        notes.append(f"first {MAX_PANELS} of {rows} channels plotted")
    panels = []
    for r in range(min(rows, MAX_PANELS)):
        series = []
        for name, values in lines:
            s = envelope(values[r], x)
            s.name = name
            series.append(s)
        panels.append(Panel(f"channel {r}" if rows > 1 else "", series))
    return panels


def line_plot(panels: list[Panel], colour_of: str | None = None) -> tuple[bytes, int]:
    """The panels stacked in one PNG, and the CSS width to show it at."""
    return (_matplotlib(panels, colour_of) or _pillow(panels, colour_of)), WIDTH


def _colour(series: Series, colour_of: str | None) -> str:
    return DIFF if colour_of == "diff" else COLOURS.get(series.name, DIFF)


def _matplotlib(panels: list[Panel], colour_of: str | None) -> bytes | None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(WIDTH / DPI, (PANEL_HEIGHT * len(panels) + 20) / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        for s in panel.series:
            if s.is_line:
                ax.plot(s.x, s.lo, linewidth=0.9, color=_colour(s, colour_of), label=s.name)
            else:
                ax.fill_between(s.x, s.lo, s.hi, color=_colour(s, colour_of), alpha=0.55, linewidth=0,
                                step="post", label=s.name)
        ax.set_ylabel(panel.label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _pillow(panels: list[Panel], colour_of: str | None) -> bytes:
    from PIL import Image, ImageDraw

    left, right, top, bottom = 64, 8, 14, 6
    image = Image.new("RGB", (WIDTH, PANEL_HEIGHT * len(panels)), "white")
    draw = ImageDraw.Draw(image)
    for p, panel in enumerate(panels):
        y0 = p * PANEL_HEIGHT + top
        height, width = PANEL_HEIGHT - top - bottom, WIDTH - left - right
        draw.rectangle((left, y0, left + width, y0 + height), outline="#999999")
        xs = np.concatenate([s.x for s in panel.series]).astype(np.float64)
        ys = np.concatenate([np.concatenate([s.lo, s.hi]) for s in panel.series])
        x_lo, x_hi = float(xs.min()), float(xs.max())
        y_lo, y_hi = float(ys.min()), float(ys.max())
        x_span, y_span = (x_hi - x_lo) or 1.0, (y_hi - y_lo) or 1.0
        draw.text((2, y0), f"{y_hi:.3g}", fill="black")
        draw.text((2, y0 + height - 10), f"{y_lo:.3g}", fill="black")
        draw.text((2, y0 + height // 2 - 5), panel.label, fill="black")
        legend_x = left + 4
        for s in panel.series:
            colour = _colour(s, colour_of)
            # 3 pixels inside the frame: a value at either end must not hide under it
            px = left + 3 + (s.x.astype(np.float64) - x_lo) / x_span * (width - 6)
            lo = y0 + 3 + (y_hi - s.lo) / y_span * (height - 6)
            hi = y0 + 3 + (y_hi - s.hi) / y_span * (height - 6)
            if s.is_line and s.x.size > 1:
                draw.line(list(zip(px.tolist(), lo.tolist(), strict=True)), fill=colour, width=1)
            else:
                for x, a, b in zip(px.tolist(), lo.tolist(), hi.tolist(), strict=True):
                    draw.line([(x, a), (x, b)], fill=colour)
            draw.text((legend_x, y0 - top + 1), s.name, fill=colour)
            legend_x += 8 * len(s.name) + 16
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
