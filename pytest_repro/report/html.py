"""The HTML report: one self-contained file (pictures embedded as PNG data), a view of JSON reports.

Rendered at the end of a run (``--repro-html``) or later from any reports (``python -m pytest_repro html``),
so a gate job can draw what the runners sent. Per check and backend: the golden, the output and their
difference side by side, the metrics against their limits and the run's failure text. Failing and
drifting checks come first and open; passing ones are folded. No script, no external resource: the
page's Content-Security-Policy allows inline styles and ``data:`` images only.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass
from html import escape
from pathlib import Path

from ..results import CheckResult, RunReport
from . import count, drift_share, fmt_metric, runner_labels, runs_text, severity, status_text, timing_text
from .steps import steps_section

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:0 16px 48px;color:#1b1b1b}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:17px;margin:26px 0 8px}
code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#f6f6f6;padding:8px;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;margin:6px 0}td,th{border-bottom:1px solid #e3e3e3;padding:3px 10px 3px 0;
text-align:left;vertical-align:top}th{font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;min-width:54px;padding:1px 6px;border-radius:4px;color:#fff;font:600 12px/18px
system-ui,sans-serif;text-align:center}.fail{background:#c62828}.error{background:#6d1b7b}.missing{background:#e65100}
.pass{background:#2e7d32}.drift{background:#9e7c00}.written,.rewritten,.unchanged{background:#1565c0}
details.check{border:1px solid #ddd;border-radius:6px;margin:10px 0;padding:0 12px}
details.check>summary{cursor:pointer;padding:8px 0;list-style-position:outside}
details.check[open]>summary{border-bottom:1px solid #eee;margin-bottom:8px}
.muted{color:#666}.pictures{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure{margin:0}figcaption{font-size:12px;color:#444}figcaption b{color:#1b1b1b}
img{border:1px solid #ccc;display:block;margin-bottom:3px;height:auto}
ul.notes{color:#7a4a00;margin:6px 0;padding-left:20px}.cols{display:flex;flex-wrap:wrap;gap:28px}
"""
HEAD = ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\"><link rel=\"icon\" href=\"data:,\">")


@dataclass
class Rendered:
    text: str
    checks: int
    pictures: int

    @property
    def counts(self) -> str:
        return f"{count(self.checks, 'check')}, {count(self.pictures, 'picture')}"


@dataclass
class Entry:
    """One check of one report, and where its report lies (its arrays are beside it)."""

    runner: str
    report: Path
    result: CheckResult


def ordered(reports: list[tuple[Path, RunReport]]) -> list[Entry]:
    labels = runner_labels([p for p, _ in reports])
    entries = [Entry(label, path, r) for label, (path, report) in zip(labels, reports, strict=True)
               for r in report.results]
    return sorted(entries, key=lambda e: (severity(e.result), e.result.test, e.result.check, e.result.backend,
                                          e.runner))


def _badge(result: CheckResult) -> str:
    status = result.status.value
    drifted = status == "pass" and drift_share(result) > 0
    css = "drift" if drifted else status
    return f'<span class="badge {css}">{escape(status_text(result))}</span>'


def _table(head: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> str:
    th = f"<tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>" if head else ""
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>{th}{body}</table>"


def _runs(reports: list[tuple[Path, RunReport]]) -> str:
    rows = []
    for label, (path, report) in zip(runner_labels([p for p, _ in reports]), reports, strict=True):
        env = ", ".join(f"{k} {v}" for k, v in report.environment.items() if v and k != "platform")
        totals = ", ".join(f"{n} {s}" for s, n in report.totals.items()) or "no checks"
        rows.append([f"<b>{escape(label)}</b><br><span class='muted'>{escape(str(path))}</span>",
                     escape(report.tool or "?"), escape(env) + "<br><span class='muted'>"
                     + escape(str(report.environment.get("platform", ""))) + "</span>",
                     f"<code>{escape(str(report.settings.get('replay', '')))}</code>", escape(totals)])
    return _table(["report", "tool", "environment", "replay", "checks"], rows)


def _index(entries: list[Entry], many: bool) -> str:
    audited = any(e.result.runs for e in entries)  # the runs column only where the audit ran
    rows = []
    for i, e in enumerate(entries):
        r = e.result
        rows.append([_badge(r), f'<a href="#check-{i}"><code>{escape(r.test)}</code></a>', escape(r.check),
                     escape(r.backend), *([escape(e.runner)] if many else []), escape(r.vs_golden),
                     fmt_metric(r.metrics.get("linf")), fmt_metric(r.limit),
                     *([escape(runs_text(r.runs))] if audited else [])])
    head = ["status", "test", "check", "backend", *(["report"] if many else []), "vs golden", "L_inf", "limit"]
    numeric = (len(head) - 2, len(head) - 1)
    return _table([*head, *(["runs"] if audited else [])], rows, numeric=numeric)


def _numbers(r: CheckResult) -> str:
    """Each metric against its limit (the verdict's rows), then the metrics that have none; then the facts."""
    rows = [[escape(row.metric), fmt_metric(row.value), fmt_metric(row.limit), "ok" if row.ok else "<b>FAIL</b>"]
            for row in r.limits]
    rows += [[k, fmt_metric(r.metrics[k]), "", ""] for k in ("mean_abs", "rel_l2", "abs_sum", "abs_sum_delta")
             if k in r.metrics]
    metrics = _table(["metric", "value", "limit", ""], rows, numeric=(1, 2)) if rows else \
        "<p class='muted'>no metrics: the check could not be compared</p>"
    tol = r.tolerance
    facts = [
        ("shape, dtype", f"{tuple(r.summary.get('shape', []))} {r.summary.get('dtype', '?')}"),
        ("compared with", f"{r.golden_backend or '-'} ({r.vs_golden})"),
        ("coverage", f"{r.coverage or '-'}" + (", bitwise equal" if r.bitwise else "")),
        ("tolerance", f"atol={tol.atol:g} rtol={tol.rtol:g} max_linf={tol.max_linf} cosine={tol.cosine} "
                      f"bitwise={tol.bitwise}"),
        ("seed", ", ".join(map(str, r.seed)) or "-"),
        ("node", r.nodeid), ("golden file", r.golden_file or "-"), ("output array", r.array_file or "-"),
    ]
    if r.runs:
        facts.append(("determinism audit (runs differing from run 1)", runs_text(r.runs)))
        ops = r.runs.get("nondeterministic_ops") or []
        facts += [("nondeterministic ops", ", ".join(ops))] if ops else []
    if r.timing:
        facts.append(("cost of determinism", timing_text(r.timing)))
    facts += [(f"env {k}", f"{old} -> {new}") for k, (old, new) in r.fingerprint_diff.items()]
    facts += [("worst", "; ".join(f"{tuple(w.get('index', []))}: {w.get('actual'):.6g} vs {w.get('expected'):.6g}"
                                  for w in r.worst))] if r.worst else []
    table = _table([], [[escape(k), f"<code>{escape(str(v))}</code>"] for k, v in facts])
    return f'<div class="cols"><div>{metrics}</div><div>{table}</div></div>'


def _figure(title: str, png: bytes, width: int, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure style="width:{max(width, 240)}px"><img src="data:image/png;base64,{data}" width="{width}" '
            f'alt="{escape(title)}">'
            f"<figcaption><b>{escape(title)}</b><br>{escape(caption)}</figcaption></figure>")


def _pictures(e: Entry, golden_dir: Path | None) -> tuple[str, int, list[str]]:
    """The card's figures, how many, and notes; a check that can't be drawn gets a note, never an exception."""
    notes: list[str] = []
    try:
        from .arrays import aligned, largest_diff, load_sides
        from .pictures import draw

        sides = load_sides(e.report, e.result, golden_dir)
        notes += sides.notes
        pictures, drawn = draw(sides, e.result.limit)
        notes += drawn
        pair = aligned(sides.output, sides.golden) if sides.output and sides.golden else None
        run_linf = e.result.metrics.get("linf")
        if pair is not None and run_linf is not None:
            now = largest_diff(pair[0], pair[1])
            if abs(now - float(run_linf)) > 1e-9 + 1e-6 * abs(float(run_linf)):
                notes.append(f"the golden drawn here is not the one the run compared with: L_inf now {now:.3g}, "
                             f"the run measured {float(run_linf):.3g} (the status is the run's)")
    except Exception as exc:  # a view must draw the rest of the page whatever one array holds
        return "", 0, [*notes, f"could not draw this check: {type(exc).__name__}: {exc}"]
    html = "".join(_figure(p.title, p.png, p.width, p.caption) for p in pictures)
    return f'<div class="pictures">{html}</div>', len(pictures), notes


def _card(i: int, e: Entry, many: bool, golden_dir: Path | None) -> tuple[str, int]:
    r = e.result
    figures, count, notes = _pictures(e, golden_dir)
    if r.coverage == "summary":
        notes.append("compared by its abs-sum only: the golden keeps no array")
    if not r.message:  # a failure's message lists them already
        notes += [f"generator pitfall ({p.get('kind')}): {p.get('message')}" for p in r.pitfalls]
    where = f" · {escape(e.runner)}" if many else ""
    summary = (f"{_badge(r)} <code>{escape(r.test)}</code> [{escape(r.check)}] on <b>{escape(r.backend)}</b>"
               f' <span class="muted">L_inf {fmt_metric(r.metrics.get("linf"))} / limit {fmt_metric(r.limit)}'
               f"{where}</span>")
    parts = [figures, "<ul class='notes'>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>" if notes else "",
             steps_section(r.trajectory)]
    if r.reasons and not r.message:
        parts.append("<ul>" + "".join(f"<li>{escape(x)}</li>" for x in r.reasons) + "</ul>")
    parts.append(_numbers(r))
    if r.message:
        parts.append(f"<pre>{escape(r.message)}</pre>")
    opened = " open" if r.status.fails_run else ""
    return (f'<details class="check" id="check-{i}"{opened}><summary>{summary}</summary>{"".join(parts)}</details>',
            count)


def render_html(reports: list[tuple[Path, RunReport]], golden_dir: Path | None = None,
                title: str = "pytest-repro report") -> Rendered:
    entries = ordered(reports)
    many = len(reports) > 1
    counts = Counter(e.result.status.value for e in entries)
    failing = sum(1 for e in entries if e.result.status.fails_run)
    headline = f"{failing} failing of {count(len(entries), 'check')}" if failing else \
        f"{count(len(entries), 'check')}, none failing"
    cards, pictures = [], 0
    for i, e in enumerate(entries):
        try:
            card, n = _card(i, e, many, golden_dir)
        except Exception as exc:  # a malformed field in one result: that card says so, the page still renders
            card, n = (f'<details class="check" id="check-{i}" open><summary>{_badge(e.result)} '
                       f"<code>{escape(e.result.test)}</code></summary><ul class='notes'><li>could not render: "
                       f"{escape(type(exc).__name__)}: {escape(str(exc))}</li></ul></details>"), 0
        cards.append(card)
        pictures += n
    totals = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    body = [
        f"<h1>{escape(title)}</h1><p><b>{escape(headline)}</b> ({escape(totals or 'no checks')}). "
        "Failing and drifting checks first; click a passing one to unfold it.</p>",
        "<h2>Runs</h2>", _runs(reports), "<h2>Checks</h2>", _index(entries, many),
        "<h2>Pictures</h2>", *cards,
    ]
    text = (f"{HEAD}<title>{escape(title)}: {escape(headline)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    return Rendered(text, len(entries), pictures)


def write_html(report_paths: list[Path], out: Path, golden_dir: Path | None = None) -> Rendered:
    """Load the reports (``ValueError`` names a bad one), render them, write ``out`` atomically."""
    from ..store import atomic_write

    reports = [(Path(p), RunReport.load(Path(p))) for p in report_paths]
    rendered = render_html(reports, golden_dir)
    atomic_write(Path(out), rendered.text.encode("utf-8"))
    return rendered
