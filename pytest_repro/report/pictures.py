"""Pictures of one check (golden, output, their difference) as PNG bytes, drawn with Pillow.

The kind of picture follows the output's shape (:func:`kind_of`): an image, a batch as a grid (like
diffusers' ``make_image_grid``), video frames as strips, latents as a grid of channels, a 2-D array as
a heatmap, audio and anything else as line plots (``plots.py``). Sampled outputs (only a strided sample
kept) are plotted at their flat positions. Sizes are capped; what is left out is said in a note.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .arrays import Kept, Sides, aligned, largest_diff
from .plots import envelope_panels, line_plot

if TYPE_CHECKING:  # Pillow is imported where a picture is drawn: the page renders (with a note) without it
    from PIL.Image import Image as PILImage

CHANNELS = (1, 3, 4)  # a last axis of this size is colour (grey, RGB, RGBA)
MIN_SIDE = 4  # fewer pixels than this a side is not an image
MAX_LINES = 16  # a 2-D/3-D array with at most this many rows of >= 16 values is a set of signals
MAX_ITEMS, MAX_ROWS, MAX_FRAMES, MAX_CHANNELS = 16, 4, 12, 8
MAX_TILE = 384  # a tile is downsampled to this many pixels a side
MIN_TILE = 160  # a smaller tile is enlarged by a whole factor (nearest neighbour: pixels stay square)
MAX_SHOWN = 960  # CSS width a wider picture is shown at
HEAT = ("#000004", "#b73779", "#fcfdbf")  # black, middle, white of the difference heatmap (magma-like)
GAP = "#9e9e9e"  # between and behind tiles


@dataclass
class Picture:
    title: str
    png: bytes
    width: int  # CSS pixels to show it at
    caption: str = ""


def kind_of(shape: tuple[int, ...]) -> str:
    """``image``, ``batch``, ``batch-chw``, ``video``, ``latents``, ``heatmap``, ``signal``, ``flat`` or ``scalar``."""
    nd, last = len(shape), (shape[-1] if shape else 0)

    def big(*sides: int) -> bool:
        return all(s >= MIN_SIDE for s in sides)

    if math.prod(shape) <= 1:
        return "scalar"
    if last in CHANNELS and nd in (3, 4, 5) and big(*shape[-3:-1]):
        return {3: "image", 4: "batch", 5: "video"}[nd]
    if nd == 4 and shape[1] == 3 and big(*shape[2:]):
        return "batch-chw"
    if nd == 1 or (nd in (2, 3) and math.prod(shape[:-1]) <= MAX_LINES and last >= 16):
        return "signal"
    if nd in (3, 4) and big(*shape[-2:]):
        return "latents"
    if nd == 2 and big(*shape):
        return "heatmap"
    return "flat"


def _spread(n: int, cap: int) -> list[int]:
    """Up to ``cap`` evenly spread positions of ``n`` (first and last included)."""
    return list(range(n)) if n <= cap else sorted({round(i * (n - 1) / (cap - 1)) for i in range(cap)})


def tiles(array: np.ndarray, kind: str, notes: list[str]) -> list[list[np.ndarray]]:
    """Rows of 2-D tiles (h, w) or colour tiles (h, w, c) of an array of ``kind``; caps noted."""
    if kind == "batch-chw":
        array, kind = array.transpose(0, 2, 3, 1), "batch"
    if kind == "image":
        return [[array]]
    if kind == "batch":
        n = array.shape[0]
        if n > MAX_ITEMS:
            notes.append(f"first {MAX_ITEMS} of {n} images shown")
        items = [array[i] for i in range(min(n, MAX_ITEMS))]
        cols = len(items) if len(items) <= 4 else math.ceil(math.sqrt(len(items)))  # one row for a few
        return [items[r:r + cols] for r in range(0, len(items), cols)]
    if kind in ("video", "latents"):
        array = array[None] if array.ndim == 3 else array  # (C, h, w): one item
        rows, cols = array.shape[0], array.shape[1]
        col_cap = MAX_FRAMES if kind == "video" else MAX_CHANNELS
        what = "frames" if kind == "video" else "channels"
        if rows > MAX_ROWS:
            notes.append(f"first {MAX_ROWS} of {rows} batch items shown")
        if cols > col_cap:
            notes.append(f"{col_cap} of {cols} {what} shown, evenly spread")
        return [[array[r, c] for c in _spread(cols, col_cap)] for r in range(min(rows, MAX_ROWS))]
    return [[array]]  # heatmap


def _unit(tile: np.ndarray, lo: float, hi: float, uint8: bool) -> np.ndarray:
    x = np.nan_to_num(tile.astype(np.float32), nan=0.0, posinf=hi, neginf=lo)
    if uint8:
        return x / 255.0
    return np.clip((x - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(x)


def value_range(arrays: list[np.ndarray], kind: str) -> tuple[float, float, str]:
    """One range for every side, so the golden and the output are shown alike; and how it was chosen."""
    finite = [a[np.isfinite(a)] if a.dtype.kind == "f" else a for a in arrays]
    lo = min((float(f.min()) for f in finite if f.size), default=0.0)
    hi = max((float(f.max()) for f in finite if f.size), default=1.0)
    if kind in ("latents", "heatmap"):
        return lo, hi, f"grey scale from {lo:.3g} (black) to {hi:.3g} (white)"
    # An image a little outside its range (a drift past a clamp) is clipped, not rescaled: the rest keeps its colours.
    if lo >= -0.1 and hi <= 1.1:
        return 0.0, 1.0, "" if lo >= 0 and hi <= 1 else "values outside [0, 1] clipped"
    if lo >= -1.1 and hi <= 1.1:
        return -1.0, 1.0, "values in [-1, 1] shown as (x + 1) / 2" + ("" if lo >= -1 and hi <= 1 else ", clipped")
    return lo, hi, f"values scaled from [{lo:.3g}, {hi:.3g}] to [0, 1]"


def _pil(unit: np.ndarray) -> PILImage:
    from PIL import Image

    if unit.ndim == 3 and unit.shape[-1] == 1:
        unit = unit[..., 0]
    data = np.round(unit * 255).astype(np.uint8)
    image = Image.fromarray(data, "L" if data.ndim == 2 else {3: "RGB", 4: "RGBA"}[data.shape[-1]])
    if max(image.size) > MAX_TILE:
        image.thumbnail((MAX_TILE, MAX_TILE), Image.Resampling.BOX)
    return image


def _heat(diff: np.ndarray, scale: float) -> PILImage:
    """|diff| (h, w) as a heatmap: black 0, white at ``scale`` and beyond; downsampled by block maximum."""
    from PIL import Image, ImageOps

    step = math.ceil(max(diff.shape) / MAX_TILE)
    if step > 1:  # the maximum of each block: one drifting pixel must stay visible
        h, w = (math.ceil(n / step) * step for n in diff.shape)
        padded = np.zeros((h, w), diff.dtype)
        padded[: diff.shape[0], : diff.shape[1]] = diff
        diff = padded.reshape(h // step, step, w // step, step).max(axis=(1, 3))
    grey = Image.fromarray(np.round(np.clip(diff / scale, 0, 1) * 255).astype(np.uint8), "L")
    return ImageOps.colorize(grey, black=HEAT[0], mid=HEAT[1], white=HEAT[2])


def grid_png(images: list[list[PILImage]]) -> tuple[bytes, int]:
    """Rows of PIL images pasted into one PNG, 2 grey pixels apart, and its CSS width.

    Grey, not white: white is the heatmap's colour for "at the limit or beyond".
    """
    from PIL import Image

    cells = [im for row in images for im in row]
    cw, ch = max(im.size[0] for im in cells), max(im.size[1] for im in cells)
    factor = max(1, math.ceil(MIN_TILE / max(cw, ch)))
    if factor > 1:
        images = [[im.resize((im.size[0] * factor, im.size[1] * factor), Image.Resampling.NEAREST)
                   for im in row] for row in images]
        cw, ch = cw * factor, ch * factor
    cols = max(len(row) for row in images)
    gap = 2
    canvas = Image.new("RGB", (cols * cw + (cols - 1) * gap, len(images) * ch + (len(images) - 1) * gap), GAP)
    for r, row in enumerate(images):
        for c, im in enumerate(row):
            canvas.paste(im.convert("RGB"), (c * (cw + gap), r * (ch + gap)))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), min(canvas.size[0], MAX_SHOWN)


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _image_pictures(sides: Sides, kind: str, limit: float | None, notes: list[str]) -> list[Picture]:
    """Golden, output and the |difference| heatmap of whole arrays of an image-like kind."""
    shown = [(name, kept) for name, kept in (("golden", sides.golden), ("output", sides.output))
             if kept is not None and kept.whole]
    lo, hi, how = value_range([k.values for _, k in shown], kind)
    uint8 = all(k.values.dtype == np.uint8 for _, k in shown)
    if uint8:
        how = ""
    pictures = []
    for name, kept in shown:
        rows = tiles(kept.values, kind, notes if name == "output" else [])
        png, width = grid_png([[_pil(_unit(t, lo, hi, uint8)) for t in row] for row in rows])
        title = f"golden ({sides.golden_key})" if name == "golden" else "output"
        pictures.append(Picture(title, png, width, f"{_shape(kept.shape)} {kept.values.dtype}. {how}".strip()))
    if len(shown) == 2 and sides.golden is not None and sides.output is not None:
        pictures.append(_diff_picture(sides.output, sides.golden, kind, limit))
    return pictures


def _diff_picture(output: Kept, golden: Kept, kind: str, limit: float | None) -> Picture:
    """In the values' own units, as the verdict measured them: the limit is the heatmap's white."""
    top = largest_diff(output.values, golden.values)
    scale = limit or top
    colour = kind in ("image", "batch", "video", "batch-chw")
    rows = [[np.abs(o.astype(np.float32) - g.astype(np.float32)) for o, g in zip(ro, rg, strict=True)]
            for ro, rg in zip(tiles(output.values, kind, []), tiles(golden.values, kind, []), strict=True)]
    rows = [[np.nan_to_num(d.max(axis=-1) if colour and d.ndim == 3 else d, nan=np.inf) for d in row] for row in rows]
    png, width = grid_png([[_heat(d, scale or 1.0) for d in row] for row in rows])
    beyond = int(sum(int((d > scale).sum()) for row in rows for d in row)) if scale else 0
    caption = (f"black 0, white {scale:.2e}" + (" = the L_inf limit" if limit else " = the largest")
               + f"; largest {top:.2e}" + (f"; {beyond} shown values beyond the limit" if limit and beyond else ""))
    title = "|output - golden|" + (", max over colour" if colour else "")
    return Picture(title, png, width, caption)


def _plot_pictures(sides: Sides, kind: str) -> list[Picture]:
    """Signals (and anything else, flattened): golden and output overlaid, then their difference."""
    series = [(name, kept) for name, kept in (("golden", sides.golden), ("output", sides.output))
              if kept is not None and kept.whole]
    lines = [(name, k.values.reshape(-1, k.shape[-1]) if kind == "signal" and k.values.ndim > 1
              else k.values.reshape(1, -1)) for name, k in series]
    notes: list[str] = []
    png, width = line_plot(envelope_panels(lines, notes))
    pictures = [Picture("golden and output" if len(lines) == 2 else lines[0][0], png, width, "; ".join(notes))]
    if len(lines) == 2:
        diff = [("output - golden", lines[1][1].astype(np.float64) - lines[0][1].astype(np.float64))]
        png, width = line_plot(envelope_panels(diff, []), colour_of="diff")
        pictures.append(Picture("output - golden", png, width))
    if kind == "flat":
        shape = series[0][1].shape
        pictures[0].caption = f"flattened from shape {shape}. " + pictures[0].caption
    return pictures


def _sample_pictures(sides: Sides, notes: list[str]) -> list[Picture]:
    assert sides.output is not None and sides.golden is not None
    pair = aligned(sides.output, sides.golden)
    if pair is None:
        notes.append("the golden and the output kept different samples: no comparison drawn")
        return []
    a, e, index = pair
    x = index if index is not None else np.arange(a.size)
    size = math.prod(sides.output.shape)
    lines = [("golden", e.reshape(1, -1)), ("output", a.reshape(1, -1))]
    png, width = line_plot(envelope_panels(lines, [], x=x))
    dpng, dwidth = line_plot(envelope_panels([("output - golden", (a.astype(np.float64) - e).reshape(1, -1))],
                                             [], x=x), colour_of="diff")
    caption = f"{a.size} sampled values of {size} (x: flat index into shape {sides.output.shape})"
    return [Picture("sampled values: golden and output", png, width, caption),
            Picture("sampled output - golden", dpng, dwidth, caption)]


def draw(sides: Sides, limit: float | None) -> tuple[list[Picture], list[str]]:
    """Every picture of one check, and notes on what could not be drawn or was left out."""
    notes: list[str] = []
    try:
        import PIL  # noqa: F401
    except ImportError:
        return [], ["no pictures: Pillow is not installed (pip install 'pytest-repro[html]')"]
    out, gold = sides.output, sides.golden
    present = [k for k in (out, gold) if k is not None]
    if not present:
        return [], notes
    shape = present[0].shape
    if out is not None and gold is not None and out.shape != gold.shape:
        notes.append(f"shape changed: golden {gold.shape}, output {out.shape}: no difference drawn")
        apart: list[Picture] = []
        for only in (Sides(golden=gold, golden_key=sides.golden_key), Sides(output=out)):
            apart += draw(only, limit)[0]
        return apart, notes
    kind = kind_of(shape)
    if kind == "scalar":
        values = ", ".join(f"{name} {k.values.reshape(-1)[0].item() if k.values.size else 'empty'}"
                           for name, k in (("golden", gold), ("output", out)) if k is not None)
        return [], [f"a single value or none: nothing to draw ({values})"]
    for name, k in (("golden", gold), ("output", out)):
        if k is not None and k.values.dtype.kind in "fc" and not np.isfinite(k.values).all():
            notes.append(f"{name} has NaN or Inf values: drawn as 0 (NaN) and the range ends (Inf)")
    pictures: list[Picture] = []
    if any(k.whole for k in present):
        whole = Sides(out if out is not None and out.whole else None,
                      gold if gold is not None and gold.whole else None, sides.golden_key)
        if kind in ("signal", "flat"):
            pictures += _plot_pictures(whole, kind)
        else:
            pictures += _image_pictures(whole, kind, limit, notes)
    if out is not None and gold is not None and not (out.whole and gold.whole):
        notes.append("the golden or the output keeps only a strided sample (the array was over the array "
                     "limit): it can't be drawn whole, its sampled values are plotted")
        pictures += _sample_pictures(sides, notes)
    elif any(not k.whole for k in present):
        notes.append("only a strided sample was kept: shown as a plot")
        k = present[0]
        png, width = line_plot(envelope_panels([("output" if k is out else "golden", k.values.reshape(1, -1))],
                                               [], x=k.index))
        pictures.append(Picture("sampled values", png, width, f"x: flat index into shape {k.shape}"))
    return pictures, notes
