"""The HTML report (``--repro-html``, ``python -m pytest_repro html``): pictures by shape, notes, bad input.

A browser test at the end loads a real report in headless Chromium (skipped where it is not installed).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_repro.cli import main
from pytest_repro.report.arrays import MAX_BYTES
from pytest_repro.report.html import render_html, write_html
from pytest_repro.report.pictures import kind_of
from pytest_repro.report.plots import envelope, envelope_panels, line_plot
from pytest_repro.results import RunReport
from pytest_repro.summary import summarize

# One check per kind of picture; $REPRO_DELTA moves one value of each (flat index 0, in every sample)
# and a patch of the image.
KINDS_TEST = """
import os
import numpy as np
import pytest

rng = np.random.default_rng(0)
SHAPES = {
    "image": rng.random((32, 32, 3), dtype=np.float32),
    "batch": rng.random((4, 24, 24, 3), dtype=np.float32),
    "uint8": (rng.random((16, 16, 3)) * 255).astype(np.uint8),
    "video": rng.random((2, 6, 16, 16, 3), dtype=np.float32),
    "chw": rng.random((2, 3, 16, 16), dtype=np.float32),
    "latents": rng.standard_normal((1, 4, 8, 8), dtype=np.float32),
    "audio": np.sin(np.linspace(0, 200, 2 * 4000, dtype=np.float32)).reshape(1, 2, 4000),
    "signal": rng.standard_normal(3000, dtype=np.float32),
    "heatmap": rng.standard_normal((40, 40), dtype=np.float32),
    "odd5d": rng.standard_normal((2, 3, 4, 5, 6), dtype=np.float32),
    "big": rng.random((128, 128, 3)),
    "scalar": np.float32(3.5),
}

@pytest.mark.parametrize("kind", list(SHAPES))
def test_kind(kind, repro_golden):
    out = np.array(SHAPES[kind], copy=True)
    delta = float(os.environ.get("REPRO_DELTA", "0"))
    if delta and out.ndim:
        flat = out.reshape(-1)
        flat[0] = flat[0] + (np.uint8(delta * 255) if out.dtype == np.uint8 else delta)
        if kind == "image":
            out[4:10, 8:20] += delta / 2
    repro_golden.check(out, name=kind, bitwise=False)
"""
KINDS = ["image", "batch", "uint8", "video", "chw", "latents", "audio", "signal", "heatmap", "odd5d", "big", "scalar"]
ARGS = ("--repro-array-limit=200000",)  # "big" (393 KB) keeps a strided sample


def images_of(text: str) -> list[Image.Image]:
    """Every embedded picture, decoded by Pillow (a broken PNG raises)."""
    found = []
    for data in re.findall(r'<img src="data:image/png;base64,([^"]+)"', text):
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()
        found.append(image)
    return found


def cards(text: str) -> dict[str, str]:
    """Each check's card by its check name (the inner test names each check after its kind)."""
    found = re.findall(r'(<details class="check".*?</details>)', text, re.S)
    return {re.search(r"\[([^\]]+)\] on <b>", card).group(1): card for card in found}


@pytest.fixture
def kinds(inner):
    """A project whose run drifted: golden recorded, then every output moved; the report and HTML written."""
    inner.write(KINDS_TEST)
    inner.regen(*ARGS)
    result = inner.run(*ARGS, "--repro-html=out/report.html", delta=0.05)
    result.assert_outcomes(failed=len(KINDS) - 1, passed=1)  # the scalar can't move
    result.stdout.fnmatch_lines(["repro: JSON results in out/report.json",
                                 "repro: HTML report in out/report.html (12 checks, * pictures)"])
    return inner


def test_ini_names_the_page_and_the_json_report_goes_beside_it(inner, expect_usage_error):
    inner.write()
    inner.ini("repro_html = out/page.html")
    inner.regen()
    result = inner.run(delta=0.05)
    result.stdout.fnmatch_lines(["repro: JSON results in out/page.json",
                                 "repro: HTML report in out/page.html (1 check, 3 pictures)"])
    assert json.loads((inner.path / "out" / "page.json").read_text())["totals"] == {"fail": 1}
    assert len(list((inner.path / "out" / "page.arrays").iterdir())) == 1
    result = inner.run("--repro-report=out/r.json", "--repro-html=out/r.html")  # the command line wins
    result.stdout.fnmatch_lines(["repro: JSON results in out/r.json", "repro: HTML report in out/r.html*"])
    expect_usage_error(inner.run("--repro-html=x.json"), "*--repro-html and --repro-report both name *x.json*")


def test_kind_follows_the_shape():
    assert {shape: kind_of(shape) for shape in [
        (32, 32, 3), (2, 32, 32, 4), (1, 64, 64, 1), (2, 8, 16, 16, 3), (2, 3, 16, 16), (1, 4, 8, 8), (4, 8, 8),
        (16000,), (2, 16000), (1, 2, 16000), (64, 64), (2, 3, 4, 5, 6), (3, 2), (), (1,), (0, 3),
    ]} == {
        (32, 32, 3): "image", (2, 32, 32, 4): "batch", (1, 64, 64, 1): "batch", (2, 8, 16, 16, 3): "video",
        (2, 3, 16, 16): "batch-chw", (1, 4, 8, 8): "latents", (4, 8, 8): "latents", (16000,): "signal",
        (2, 16000): "signal", (1, 2, 16000): "signal", (64, 64): "heatmap", (2, 3, 4, 5, 6): "flat",
        (3, 2): "flat", (): "scalar", (1,): "scalar", (0, 3): "scalar",
    }


def test_run_writes_one_page_with_pictures_of_every_kind(kinds):
    text = (kinds.path / "out" / "report.html").read_text(encoding="utf-8")
    by_check = cards(text)
    assert sorted(by_check) == sorted(KINDS)
    # Failing checks first and open; the one passing check (the scalar) last and folded.
    order = list(by_check)
    assert order[-1] == "scalar" and "<details class=\"check\" id=\"check-11\">" in by_check["scalar"]
    assert all(" open>" in by_check[k] for k in order[:-1])
    for kind in ("image", "batch", "uint8", "video", "chw", "latents", "heatmap"):
        assert by_check[kind].count("<img ") == 3, kind  # golden, output, difference heatmap
        assert "golden (torch-cpu)" in by_check[kind] and "|output - golden|" in by_check[kind]
    for kind in ("audio", "signal", "odd5d"):
        assert by_check[kind].count("<img ") == 2, kind  # overlay and difference plots
    assert "flattened from shape (2, 3, 4, 5, 6)" in by_check["odd5d"]
    big = by_check["big"]
    assert "PASS" not in big and "FAIL (sampled)" in big and "strided sample" in big
    assert big.count("<img ") == 2  # both sides sampled: sampled values and their differences, plotted
    assert "nothing to draw" in by_check["scalar"]
    # The limit is the heatmap's white: the drifted values are beyond it and counted.
    assert "white 1.00e-02 = the L_inf limit" in by_check["image"] and "beyond the limit" in by_check["image"]
    assert "4 batch items" not in by_check["batch"]
    pictures = images_of(text)
    assert len(pictures) == 3 * 7 + 2 * 3 + 2
    assert all(min(p.size) > 0 for p in pictures)
    assert "Content-Security-Policy" in text and "<script" not in text and "http" not in text.split("</style>")[1]


def test_heatmap_shows_where_the_output_moved(kinds):
    text = (kinds.path / "out" / "report.html").read_text(encoding="utf-8")
    heat = images_of(cards(text)["image"])[2].convert("L")
    f = heat.size[0] // 32  # small images are enlarged by a whole factor, pixels kept square
    pixels = np.asarray(heat)
    assert pixels.shape == (32 * f, 32 * f) and f == 5
    assert pixels[4 * f:10 * f, 8 * f:20 * f].min() > 200  # the moved patch: at the limit or beyond
    assert pixels[20 * f:, 20 * f:].max() < 30  # elsewhere: no difference


def test_later_render_without_goldens_shows_the_output_and_says_so(kinds, tmp_path):
    report = kinds.path / "out" / "report.json"
    moved = tmp_path / "elsewhere"
    shutil.move(kinds.path / "golden", moved)
    page = write_html([report], tmp_path / "a.html")
    text = page.text
    assert page.checks == 12
    assert text.count("golden not available here") == 12
    assert "golden (torch-cpu)" not in text and "FAIL" in text
    assert "render with --golden-dir DIR" in text
    # The status is the run's: a check the renderer can't compare is never shown as passing.
    assert cards(text)["image"].count("PASS") == 0
    # With the checkout's golden/ elsewhere: found by test id.
    again = write_html([report], tmp_path / "b.html", golden_dir=moved).text
    assert "golden (torch-cpu)" in again and "golden not available" not in again


def test_a_golden_changed_since_the_run_or_of_another_test_is_said(kinds, tmp_path):
    report = kinds.path / "out" / "report.json"
    kinds.run("--repro-regen", *ARGS, "--repro-report=later.json", delta=0.05)  # the goldens now hold the drift
    image = cards(write_html([report], tmp_path / "a.html").text)["image"]
    assert "the golden drawn here is not the one the run compared with: L_inf now 0, the run measured 0.05" in image
    assert "FAIL" in image and "PASS" not in image  # the run's verdict stands
    other = tmp_path / "other"
    shutil.copytree(kinds.path / "golden", other)
    shutil.copy(other / "test_inner" / "test_kind[batch].json", other / "test_inner" / "test_kind[image].json")
    image = cards(write_html([report], tmp_path / "b.html", golden_dir=other).text)["image"]
    assert "belongs to test_inner.py::test_kind[batch], not test_inner.py::test_kind[image]" in image
    assert "golden (torch-cpu)" not in image


def test_cli_renders_many_reports_labelled_by_their_folders(kinds, tmp_path, capsys):
    report = kinds.path / "out" / "report.json"
    for runner in ("cpu", "cuda"):
        (tmp_path / runner).mkdir()
        shutil.copy(report, tmp_path / runner / "report.json")
        shutil.copytree(report.with_name("report.arrays"), tmp_path / runner / "report.arrays")
    out = tmp_path / "gate.html"
    assert main(["html", str(tmp_path / "cpu/report.json"), str(tmp_path / "cuda/report.json"), "-o", str(out)]) == 0
    assert f"wrote {out} (24 checks" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert "cpu/report.json" in text and "cuda/report.json" in text
    assert len(cards(text)) == 12 and text.count('<details class="check"') == 24


@pytest.mark.parametrize(("content", "message"), [
    ('{"format": 2, "results": [{"test": "t.py::t"', "not a readable pytest-repro report"),
    ('{"format": 99, "results": []}', "report format 99 is newer than this pytest-repro reads"),
    ('{"test_a.test_b": {"status": "passed", "image_status": "match"}}', "not a pytest-repro report"),
    ('{"created": 1, "tests": [{"nodeid": "t.py::t", "outcome": "passed"}]}', "not a pytest-repro report"),
    ('{"format": 2, "results": [{"test": "t.py::t", "check": "output"}]}', "result lacks backend, status"),
])
def test_unreadable_truncated_foreign_or_newer_reports_are_a_clear_error(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["html", str(bad), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pytest-repro html: {bad}") and message in err
    assert not (tmp_path / "x.html").exists()


def record(test: str, check: str, array: np.ndarray, status: str = "pass", **extra) -> dict:
    """A result as a run records it, summarising ``array`` (its output)."""
    return {"test": test, "check": check, "backend": "torch-cpu", "status": status, "golden_backend": "torch-cpu",
            "summary": summarize(array, str(array.dtype)), "metrics": {"linf": 0.0}, "limit": 0.01,
            "coverage": "full", **extra}


def by_test(text: str) -> dict[str, str]:
    return {re.search(r"<code>(t\.py::\w+)</code>", card).group(1): card
            for card in re.findall(r'(<details class="check".*?</details>)', text, re.S)}


def fake_npz(path: Path, shape: tuple[int, ...]) -> None:
    """An .npz whose header announces ``shape`` of float32 but holds almost no data (a 500 MB array's header)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("values.npy", header.getvalue() + b"\x00" * 64)


def test_huge_missing_damaged_or_foreign_arrays_get_a_note_never_a_crash(tmp_path):
    folder = tmp_path / "r.arrays"
    folder.mkdir()
    fake_npz(folder / "huge.npz", (131_072_000,))  # 524 MB of float32, announced
    (folder / "damaged.npz").write_bytes(b"PK\x03\x04 not a zip")
    np.savez(folder / "other.npz", values=np.ones((4, 4), np.float32))
    image = np.zeros((8, 8, 3), np.float32)
    results = [
        record("t.py::test_huge", "output", image, array_file="r.arrays/huge.npz"),
        record("t.py::test_gone", "output", image, array_file="r.arrays/gone.npz"),
        record("t.py::test_damaged", "output", image, array_file="r.arrays/damaged.npz"),
        record("t.py::test_other", "output", np.zeros((4, 4), np.float32), array_file="r.arrays/other.npz"),
        record("t.py::test_unkept", "output", image, status="error", message="output has 3 NaN and 0 Inf values"),
        record("t.py::test_odd", "output", image, worst=[{"index": "?", "actual": None}]),
    ]
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"format": 2, "results": results}))
    cards_of = by_test(write_html([report], tmp_path / "r.html").text)
    assert f"holds 524.3 MB, over the {MAX_BYTES / 1e6:.1f} MB the HTML report loads" in cards_of["t.py::test_huge"]
    assert "r.arrays/gone.npz does not exist (copy the r.arrays/ folder along with r.json)" in \
        cards_of["t.py::test_gone"]
    assert "is not a readable array file" in cards_of["t.py::test_damaged"]
    assert "is not the array this result summarises (its hash differs)" in cards_of["t.py::test_other"]
    assert "output not kept by the run" in cards_of["t.py::test_unkept"]
    assert "output has 3 NaN and 0 Inf values" in cards_of["t.py::test_unkept"]
    assert "could not render: TypeError" in cards_of["t.py::test_odd"]
    assert all("<img " not in card for card in cards_of.values())  # nothing could be drawn, and nothing crashed
    assert all("the result names no golden file" in card for name, card in cards_of.items() if name != "t.py::test_odd")
    # Statuses are the run's: the error stays an error, first and open, and nothing turned into a pass.
    assert list(cards_of)[0] == "t.py::test_unkept" and " open>" in cards_of["t.py::test_unkept"]
    assert "ERROR" in cards_of["t.py::test_unkept"]


def test_odd_values_are_drawn_with_a_note(tmp_path):
    values = {
        "nan": np.where(np.arange(16 * 16 * 3).reshape(16, 16, 3) % 7 == 0, np.nan, 0.5).astype(np.float32),
        "wide": np.linspace(-50, 50, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3),
        "signed": np.linspace(-1, 1, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3),
        "empty": np.zeros((0, 3), np.float32),
        "long": np.sin(np.arange(200_000, dtype=np.float32) / 50),
    }
    (tmp_path / "r.arrays").mkdir()
    results = []
    for name, array in values.items():
        np.savez(tmp_path / "r.arrays" / f"{name}.npz", values=array)
        results.append(record(f"t.py::test_{name}", name, array, array_file=f"r.arrays/{name}.npz"))
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"format": 2, "results": results}))
    by_check = cards(write_html([report], tmp_path / "r.html").text)
    assert "NaN or Inf values: drawn as 0" in by_check["nan"]
    assert "values scaled from [-50, 50] to [0, 1]" in by_check["wide"]
    assert "values in [-1, 1] shown as (x + 1) / 2" in by_check["signed"]
    assert "nothing to draw" in by_check["empty"]
    assert by_check["long"].count("<img ") == 1 and "golden not available" in by_check["long"]
    for name in ("nan", "wide", "signed"):
        assert by_check[name].count("<img ") == 1  # the output alone: no golden here


@pytest.mark.parametrize("matplotlib", [True, False], ids=["matplotlib", "pillow-only"])
def test_plots_with_and_without_matplotlib(monkeypatch, matplotlib):
    if not matplotlib:
        for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
            monkeypatch.setitem(sys.modules, name, None)  # importing any of matplotlib now raises ImportError
    else:
        pytest.importorskip("matplotlib")
    y = np.sin(np.arange(50_000) / 100.0)
    y[31_337] = 5.0  # one spike among 50,000 values stays in the envelope
    band = envelope(y)
    assert band.x.size == 800 and band.hi.max() == 5.0 and not band.is_line
    panels = envelope_panels([("golden", np.stack([y, -y])), ("output", np.stack([y, y]))], notes := [])
    png, width = line_plot(panels)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and width == 640 and image.size[0] == 640 and notes == []
    many = envelope_panels([("output", np.zeros((6, 10)))], notes)
    assert len(many) == 4 and notes == ["first 4 of 6 channels plotted"]


def test_without_pillow_the_page_still_renders_with_a_note(kinds, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    text = write_html([kinds.path / "out" / "report.json"], tmp_path / "x.html").text
    assert "<img " not in text and "Pillow is not installed" in text and len(cards(text)) == 12


def test_names_are_escaped(tmp_path):
    report = tmp_path / "r.json"
    bad = record("t.py::test_x[<b>]", "<script>x</script>", np.zeros(2))
    report.write_text(json.dumps({"format": 2, "results": [bad]}))
    text = render_html([(report, RunReport.load(report))]).text
    assert "<script>" not in text and "&lt;script&gt;x&lt;/script&gt;" in text and "test_x[&lt;b&gt;]" in text


# ---- a real browser ----

CHROMIUM = Path(os.environ.get("REPRO_CHROMIUM", "/usr/bin/chromium"))  # Debian's; any Chromium or Chrome works
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def test_the_page_loads_in_headless_chromium_without_errors_and_every_image_decodes(kinds, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: apt-get install -y chromium (or set REPRO_CHROMIUM) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (it drives /usr/bin/chromium)")
    page_path = kinds.path / "out" / "report.html"
    expected = len(images_of(page_path.read_text(encoding="utf-8")))
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in
                    ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
                    else problems.append(f"network request: {r.url[:80]}"))
            page.goto(page_path.as_uri())
            decoded = page.evaluate("Promise.all([...document.images].map("
                                    "i => i.decode().then(() => i.naturalWidth, e => 'undecodable: ' + e)))")
            opened = page.evaluate("[...document.querySelectorAll('details.check')].map(d => d.open)")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert len(decoded) == expected and all(isinstance(w, int) and w > 0 for w in decoded), decoded
    assert opened == [True] * 11 + [False]  # failing checks open, the passing one folded
    with Image.open(tmp_path / "report.png") as screenshot:
        assert screenshot.size[0] == 1300


def test_cli_html_is_a_subcommand():
    done = subprocess.run([sys.executable, "-m", "pytest_repro", "html", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "--golden-dir" in done.stdout and "-o OUT.html" in done.stdout
