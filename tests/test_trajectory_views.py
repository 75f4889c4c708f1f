"""Views of a trajectory verdict (failure table, HTML chart) and the verdict's rule, from the result model only."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pytest_repro.report.failure import trajectory_lines
from pytest_repro.report.html import render_html
from pytest_repro.report.markdown import render_markdown
from pytest_repro.results import CheckResult, RunReport, Status
from pytest_repro.tolerance import Tolerance
from pytest_repro.trajectory import TrajectoryRecorder, judge_steps


def trajectory(linf: list[float], first: int | None, limit: float = 0.01) -> dict:
    n = len(linf)
    return {"check": "output@trajectory", "status": "fail" if first is not None else "pass", "steps": n,
            "golden_steps": n, "step": list(range(n)), "timestep": [float(999 - 20 * i) for i in range(n)],
            "linf": linf, "limit": limit, "first_divergent_step": first, "problem": None}


def test_judge_steps_names_the_first_step_beyond_the_limit_nan_included():
    golden = np.zeros((4, 5), dtype=np.float32)
    run = golden.copy()
    run[2, 3] = 0.02
    run[3, 0] = 0.5
    verdict = judge_steps(run, golden, [10, 11, 12, 13], Tolerance(atol=0.01))
    assert verdict["first_divergent_step"] == 12 and verdict["linf"][:2] == [0.0, 0.0]
    assert verdict["limit"] == 0.01 and verdict["problem"] is None
    run[2, 3] = 0.0
    run[1, 1] = np.nan
    assert judge_steps(run, golden, [0, 1, 2, 3], Tolerance())["first_divergent_step"] == 1
    assert judge_steps(run[:3], golden, [0, 1, 2], Tolerance())["problem"] == "golden has 4 steps, this run 3"


def test_recorder_keeps_a_sample_per_step_and_returns_the_kwargs_unchanged():
    recorder = TrajectoryRecorder(None)
    kwargs = {"latents": np.arange(1000, dtype=np.float32).reshape(1, 10, 100)}
    assert recorder(None, 0, 999, kwargs) is kwargs
    recorder(None, 1, np.float32(500), {"latents": np.ones((1, 10, 100), dtype=np.float32)})
    assert recorder.array().shape == (2, 256) and recorder.timesteps == [999.0, 500.0]
    assert recorder.summaries[0]["abs_sum"] == float(np.arange(1000).sum()) and recorder.problem is None
    recorder(None, 2, 1, {"latents": np.ones((2, 10, 100), dtype=np.float32)})  # a sample of 256 again: same size
    recorder(None, 3, 1, {"latents": np.ones((1, 10), dtype=np.float32)})
    assert recorder.problem is not None and "at step 3: a trajectory needs one shape" in recorder.problem
    assert len(recorder.steps) == 3


def test_failure_table_of_a_long_trajectory_shows_the_rows_around_the_first_divergent_step():
    linf = [0.0] * 30 + [0.5] * 20
    text = "\n".join(trajectory_lines(trajectory(linf, 30)))
    assert "first divergent step 30 (step 31 of 50): L_inf 0.5 > limit 0.01" in text
    assert "30       399         0.5  <- first divergent" in text
    assert text.count("...") == 2 and len(text.splitlines()) < 20


def test_html_draws_l_inf_per_step_with_the_first_divergent_step(tmp_path: Path):
    result = CheckResult(test="t.py::test_x", nodeid="t.py::test_x", check="output", backend="torch-cpu",
                         status=Status.FAIL, trajectory=trajectory([0.0, 0.002, 0.3, 0.4], 2))
    page = render_html([(tmp_path / "r.json", RunReport([result]))]).text
    assert "first divergent step <b>2</b> (step 3 of 4)" in page
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count('fill="#d62728"') == 2 and svg.count('fill="#1f77b4"') == 2
    assert "step 2: L_inf 0.3 (first divergent)" in svg and "limit 0.01" in svg


def test_a_report_without_trajectories_still_loads_and_renders(tmp_path: Path):
    data = CheckResult(test="t", nodeid="t", check="output", backend="torch-cpu", status=Status.PASS).to_json()
    del data["trajectory"]  # what a format-2 report written before trajectories holds
    report = RunReport.from_json({"format": 2, "results": [data]}, "old.json")
    assert report.results[0].trajectory == {}
    assert "<svg" not in render_html([(tmp_path / "old.json", report)]).text
    odd = trajectory([math.inf, 0.0], 0)
    odd["linf"] = ["x", None]  # a hand-edited report: drawn as far beyond the limit, never an exception
    result = CheckResult(test="t", nodeid="t", check="output", backend="torch-cpu", trajectory=odd)
    assert "<svg" in render_html([(tmp_path / "odd.json", RunReport([result]))]).text


def test_markdown_row_names_the_first_divergent_step():
    failing = CheckResult(test="t.py::test_x", nodeid="t.py::test_x", check="output", backend="torch-cpu",
                          status=Status.FAIL, trajectory=trajectory([0.0, 0.3], 1))
    passing = CheckResult(test="t.py::test_y", nodeid="t.py::test_y", check="output", backend="torch-cpu",
                          status=Status.PASS, trajectory=trajectory([0.0, 0.0], None))
    text = render_markdown([("r.json", RunReport([failing, passing]))])
    assert "**FAIL** (first divergent step 1)" in text and text.count("first divergent step") == 1
