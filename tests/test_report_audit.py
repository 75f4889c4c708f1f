"""The determinism audit (``runs``) and ``--repro-timing`` (``timing``) in every view of the JSON results."""

from __future__ import annotations

from pathlib import Path

from pytest_repro.report import runs_text, timing_text
from pytest_repro.report.html import render_html
from pytest_repro.report.markdown import render_markdown
from pytest_repro.report.terminal import render_table
from pytest_repro.results import CheckResult, RunReport

MOVED = {"n": 3, "differing_runs": [2, 3], "max_linf_between_runs": 0.25, "nondeterministic_ops": ["aten::histc"]}
STEADY = {"n": 3, "differing_runs": [], "max_linf_between_runs": 0.0, "nondeterministic_ops": []}
TIMED = {"deterministic_s": 1.3, "default_s": 1.0, "deterministic_ratio": 1.3,
         "generators": {"cpu_s": 1.0, "device_s": 0.9, "device_ratio": 0.9}}


def result(test: str, status: str = "pass", **extra) -> CheckResult:
    return CheckResult.from_json({"test": test, "check": "output", "backend": "torch-cuda", "status": status,
                                  "golden_backend": "torch-cuda", "metrics": {"linf": 0.0}, "limit": 0.01,
                                  "coverage": "full", **extra})


def audited() -> RunReport:
    return RunReport([result("t.py::test_moving", "fail", runs=MOVED, timing=TIMED),
                      result("t.py::test_steady", runs=STEADY)])


def test_the_texts_say_the_runs_and_the_ratios():
    assert runs_text(MOVED) == "3x L_inf 2.50e-01 (2,3), 1 nondeterministic op"
    assert runs_text(STEADY) == "3x same" and runs_text(None) == "-"
    assert runs_text({**STEADY, "completed": 1}) == "1 of 3 ran: same"  # run 2 raised: nothing after it ran
    assert runs_text({**STEADY, "differing_runs": [2], "max_linf_between_runs": None}) == "3x L_inf n/a (2)"
    assert runs_text({**STEADY, "nondeterministic_ops": ["a", "b"]}) == "3x same, 2 nondeterministic ops"
    assert timing_text(TIMED) == "deterministic vs default x1.30; device vs CPU generator x0.90"
    assert timing_text({"deterministic_ratio": 2.0, "generators": {"skipped": "no device"}}) == \
        "deterministic vs default x2.00"
    assert timing_text({"deterministic_ratio": 2.0, "linf_vs_first_run": {"deterministic": 0.0, "default": 4.0}}) \
        == "deterministic vs default x2.00; off, the output moved by L_inf 4.00e+00"
    assert timing_text({"skipped": "MindSpore: once per process"}) == "skipped: MindSpore: once per process"
    assert timing_text(None) == "-"


def test_every_view_has_a_runs_column_only_where_the_audit_ran():
    plain = RunReport([result("t.py::test_a")])
    for lines in (render_table(audited()), render_markdown([("r.json", audited())]).splitlines()):
        head = next(line for line in lines if "L_inf" in line and "test" in line)
        assert "runs" in head.replace("|", " ").split(), head
        assert any("3x L_inf 2.50e-01 (2,3), 1 nondeterministic op" in line for line in lines)
        assert any("t.py::test_steady" in line and "3x same" in line for line in lines)
    assert "runs" not in render_table(plain)[0].split()
    assert "| runs |" not in render_markdown([("r.json", plain)])
    assert "<th>runs</th>" not in render_html([(Path("r.json"), plain)]).text


def test_the_html_index_and_card_say_the_audit_ops_and_the_cost():
    text = render_html([(Path("r.json"), audited())]).text
    index = text.split("<h2>Checks</h2>")[1].split("<h2>Pictures</h2>")[0]
    assert "<th>runs</th>" in index and "3x L_inf 2.50e-01 (2,3)" in index and "3x same" in index
    card = text.split('id="check-0"')[1].split('id="check-1"')[0]  # the failing check comes first
    assert "t.py::test_moving" in card
    assert "determinism audit" in card and "nondeterministic ops</td><td><code>aten::histc</code>" in card
    assert "cost of determinism" in card and "deterministic vs default x1.30; device vs CPU generator x0.90" in card
    steady = text.split('id="check-1"')[1]
    assert "3x same" in steady and "cost of determinism" not in steady


def test_a_golden_written_then_failed_by_the_audit_is_said_new_and_listed(inner):
    inner.write("""
import itertools
import numpy as np
import pytest

CALLS = itertools.count()

@pytest.mark.repro(runs=2)
def test_moving(repro_golden):
    repro_golden.check(np.full(3, next(CALLS), dtype=np.float32))
""")
    result = inner.run("--repro-regen")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["test_inner.py::test_moving *output *torch-cpu *new *2x L_inf 1.00e+00 (2) *FAIL",
                                 "written, then failed: test_inner.py::test_moving ?output? on torch-cpu -> golden/*"])
    assert inner.golden("test_inner/test_moving").exists()
