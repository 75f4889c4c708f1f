"""The Markdown summary: ``$GITHUB_STEP_SUMMARY`` at the end of a run, and ``python -m pytest_repro markdown``.

The last test runs the bundled suite under ``-n 2`` with a drifted golden: the controller alone writes the
HTML report and the step summary, each check once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pytest_repro.cli import CHECKOUT, main
from pytest_repro.report.markdown import MAX_ROWS, cell, render_markdown
from pytest_repro.results import CheckResult, RunReport


def result(test: str, status: str = "pass", linf: float = 0.0, coverage: str = "full", **extra) -> CheckResult:
    return CheckResult.from_json({"test": test, "check": "output", "backend": "torch-cpu", "status": status,
                                  "golden_backend": "torch-cpu", "metrics": {"linf": linf}, "limit": 0.01,
                                  "coverage": coverage, **extra})


def test_failing_checks_first_then_passes_folded_drifted_first():
    report = RunReport([result("t.py::test_a"), result("t.py::test_b", "fail", 0.5),
                        result("t.py::test_c", linf=0.004), result("t.py::test_d", "missing"),
                        result("t.py::test_e", "error"), result("t.py::test_f", "fail", 0.02, "sample")],
                       settings={"replay": "pytest --repro-backend=cpu --repro-seed=0"})
    text = render_markdown([("cpu.json", report)])
    assert text.startswith("### pytest-repro drift: 4 failing of 6 checks\n")
    assert "- `cpu.json`: 1 error, 2 fail, 1 missing, 2 pass; replay: `pytest --repro-backend=cpu --repro-seed=0`" \
        in text
    order = re.findall(r"`t\.py::(test_\w)`", text)
    assert order == ["test_b", "test_f", "test_e", "test_d", "test_c", "test_a"]
    failing, folded = text.split("<details>")
    assert "**FAIL (sampled)**" in failing and "test_c" not in failing
    assert "<summary>2 passing or recorded checks</summary>" in folded and "| PASS | `t.py::test_c`" in folded
    assert "(sampled): compared over a strided sample" in text
    assert "No HTML report was written: `--repro-html PATH`" in text


def test_everything_passing_is_one_folded_table_and_the_html_is_named():
    text = render_markdown([("r.json", RunReport([result("t.py::test_a")]))], "out/report.html",
                           "https://github.com/o/r/actions/runs/7")
    assert text.startswith("### pytest-repro drift: 1 check, none failing")
    assert "| status |" not in text.split("<details>")[0]
    assert text.rstrip().endswith("HTML report (golden, output and difference pictures): `out/report.html`, in the "
                                  "artifacts of [this run](https://github.com/o/r/actions/runs/7).")
    assert "(sampled)" not in text


def test_cells_escape_pipes_and_tags_and_rows_are_capped():
    assert cell("a|b <i>") == "a\\|b &lt;i&gt;" and cell("t.py::test[a|b]", code=True) == "`t.py::test[a\\|b]`"
    many = RunReport([result(f"t.py::test_{i:04d}", "fail", 1.0) for i in range(MAX_ROWS + 5)])
    text = render_markdown([("r.json", many)])
    assert text.count("| **FAIL** |") == MAX_ROWS and "5 more checks not listed here" in text


def write_report(path: Path, *results: CheckResult) -> Path:
    RunReport(list(results), environment={"python": "3.11"}).write(path)
    return path


def test_cli_prints_or_writes_the_summary_of_many_reports(tmp_path, capsys):
    cpu = write_report(tmp_path / "cpu" / "report.json", result("t.py::test_a"))
    cuda = write_report(tmp_path / "cuda" / "report.json", result("t.py::test_a", "fail", 0.5, backend="torch-cuda"))
    assert main(["markdown", str(cpu), str(cuda), "--html", "gate.html", "--link", "https://x/runs/1"]) == 0
    out = capsys.readouterr().out
    assert "| status | test | check | backend | report | vs golden | L_inf | limit |" in out
    assert "`cpu/report.json`: 1 pass" in out and "| cuda/report.json |" in out
    assert "`gate.html`, in the artifacts of [this run](https://x/runs/1)" in out
    target = tmp_path / "summary.md"
    assert main(["markdown", str(cpu), "-o", str(target)]) == 0
    assert target.read_text().startswith("### pytest-repro drift: 1 check, none failing")


def test_cli_names_a_bad_report_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 2, "results": [')
    assert main(["markdown", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pytest-repro markdown: {bad}: not a readable pytest-repro report")


def test_run_appends_its_table_to_the_step_summary(inner, monkeypatch, tmp_path):
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    inner.write()
    inner.regen()
    result = inner.run("--repro-html=out/r.html", delta=0.05)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"repro: drift table appended to {summary} ($GITHUB_STEP_SUMMARY)"])
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, never overwritten: regen above appended its own table
    last = text[text.rindex("### pytest-repro drift"):]
    assert last.startswith("### pytest-repro drift: 1 failing of 1 check")
    assert "| **FAIL** | `test_inner.py::test_x` | output | torch-cpu | same | 5.00e-02 | 1.00e-02 |" in last
    assert "HTML report (golden, output and difference pictures): `out/r.html`." in last
    assert text.count("### pytest-repro drift") == 2  # --repro-regen's run and this one
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    inner.run()
    assert summary.read_text() == text


def suite(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GITHUB_"))}
    return subprocess.run([sys.executable, "-m", "pytest_repro", "suite", *args], cwd=CHECKOUT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=300)


def drifted_goldens(dest: Path) -> str:
    """The checkout's goldens copied to ``dest``, with one of test_pipeline[ddim]'s values moved by 0.2."""
    import shutil

    from pytest_repro.store import GoldenFile
    from pytest_repro.summary import summarize

    shutil.copytree(CHECKOUT / "golden", dest)
    test = "pytest_repro/suite/test_pipelines.py::test_pipeline[ddim]"
    golden = GoldenFile.load(dest / "pytest_repro/suite/test_pipelines/test_pipeline[ddim].json", test)
    values, _ = golden.load_array("output", "torch-cpu")
    values = np.array(values, copy=True)
    values[0, 20, 25, 1] += 0.2
    entry = {k: v for k, v in golden.entry("output", "torch-cpu").items() if k not in ("array", "array_hash")}
    golden.set_entry("output", "torch-cpu", {**entry, "summary": summarize(values, str(values.dtype))}, values, None)
    return test


def test_bundled_suite_under_xdist_writes_each_view_once_with_every_check(tmp_path):
    pytest.importorskip("diffusers")
    pytest.importorskip("xdist")
    drifted = drifted_goldens(tmp_path / "golden")
    summary = tmp_path / "summary.md"
    html = tmp_path / "out" / "report.html"
    done = suite("-n", "2", "-q", f"--repro-golden-dir={tmp_path / 'golden'}", f"--repro-html={html}",
                 env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    report = json.loads(html.with_suffix(".json").read_text())
    tests = sorted((r["test"], r["check"]) for r in report["results"])
    n = len(tests)
    assert n >= 5 and len(set(tests)) == n  # every check of the suite once: none lost, none doubled
    assert [(r["test"], r["status"]) for r in report["results"] if r["status"] != "pass"] == [(drifted, "fail")]
    assert done.stdout.count("repro: HTML report in") == 1 and done.stdout.count("appended to") == 1
    text = summary.read_text()
    assert text.count(f"### pytest-repro drift: 1 failing of {n} checks") == 1
    rows = re.findall(r"^\| (?:\*\*)?(\w+)(?:\*\*)? \| `([^`]+)` \| ([\w-]+) \|", text, re.M)
    assert sorted((t, c) for _, t, c in rows) == tests
    assert rows[0] == ("FAIL", drifted, "output")
    page = html.read_text(encoding="utf-8")
    assert page.count('<details class="check"') == n
    assert page.index(drifted) < page.index("test_ddim_batch_of_two")
    first = page[page.index('<details class="check"'):page.index("</details>")]
    assert " open>" in first and drifted in first and first.count("<img ") == 3
    assert len(list(html.with_name("report.arrays").iterdir())) == n
