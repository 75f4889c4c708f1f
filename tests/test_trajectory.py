"""Trajectory goldens: a run that moves one step on purpose is reported as diverging at that step.

The inner tests run a small denoising loop that calls ``callback_on_step_end`` as diffusers' pipelines do
(``test_trajectory_pipeline.py`` does the same with a real Stable Diffusion pipeline). $BUMP moves the
latents at one step; $STEPS changes the number of steps; $SKEW moves only what the recorder sees.
"""

from __future__ import annotations

import json

import pytest

LOOP = """
import os
import torch

class Pipe:
    def __call__(self, generator, num_inference_steps=3, callback_on_step_end=None):
        x = torch.randn(1, 4, 8, 8, generator=generator)
        bump = int(os.environ.get("BUMP", "-1"))
        skew = int(os.environ.get("SKEW", "-1"))
        for i in range(num_inference_steps):
            x = 0.9 * x + 0.1 * torch.tanh(x)
            if i == bump:  # the drift on purpose: every later step inherits it
                x = x + 0.5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(99))
            if callback_on_step_end is not None:
                seen = x + 0.5 if i == skew else x
                callback_on_step_end(self, i, torch.tensor(1000 - 300 * i), {"latents": seen})
        return x.clamp(-1, 1)
"""

TEST = LOOP + """
def test_x(repro_generator, repro_golden):
    steps = int(os.environ.get("STEPS", "3"))
    out = Pipe()(repro_generator(), steps, callback_on_step_end=repro_golden.trajectory())
    repro_golden.check(out)
"""


def report(inner, name: str = "r.json") -> list[dict]:
    return json.loads((inner.path / name).read_text(encoding="utf-8"))["results"]


@pytest.mark.parametrize("step", [0, 1, 2])
def test_first_divergent_step_is_the_perturbed_one(inner, monkeypatch, step):
    inner.write(TEST)
    inner.regen()
    monkeypatch.setenv("BUMP", str(step))
    result = inner.run("--repro-report=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*trajectory: first divergent step {step} (step {step + 1} of 3): L_inf *",
                                 "*step  timestep       L_inf",
                                 f"*{step}*{1000 - 300 * step}*<- first divergent"])
    trajectory = report(inner)[0]["trajectory"]
    assert trajectory["first_divergent_step"] == step
    assert trajectory["status"] == "fail" and trajectory["steps"] == trajectory["golden_steps"] == 3
    assert trajectory["linf"][:step] == [0.0] * step  # the steps before it are bit for bit the golden's
    assert all(v > trajectory["limit"] for v in trajectory["linf"][step:])
    assert trajectory["timestep"] == [1000.0, 700.0, 400.0]


def test_regen_writes_the_trajectory_beside_the_output(inner):
    inner.write(TEST)
    first = inner.regen()
    first.stdout.fnmatch_lines(["written: test_inner.py::test_x ?output? on torch-cpu -> golden*",
                                "written: test_inner.py::test_x ?output@trajectory? (3 steps) on torch-cpu -> golden*"])
    data = inner.load()
    entry = data["checks"]["output@trajectory"]["torch-cpu"]
    assert entry["summary"]["shape"] == [3, 256] and entry["kept"] == "full"
    assert entry["trajectory"]["steps"] == 3 and entry["trajectory"]["step"] == [0, 1, 2]
    assert [s["shape"] for s in entry["trajectory"]["per_step"]] == [[1, 4, 8, 8]] * 3
    assert (inner.golden().parent / entry["array"]).is_file()
    files = {p.name: p.read_bytes() for p in inner.golden().parent.iterdir()}
    again = inner.regen("--repro-report=r.json")  # nothing moved: nothing is written
    assert report(inner)[0]["trajectory"]["status"] == "unchanged"
    assert "output@trajectory" not in again.stdout.str()
    assert {p.name: p.read_bytes() for p in inner.golden().parent.iterdir()} == files
    inner.run("--repro-report=r.json").assert_outcomes(passed=1)
    passed = report(inner)[0]["trajectory"]
    assert passed["status"] == "pass" and passed["first_divergent_step"] is None and passed["linf"] == [0.0] * 3


def test_a_step_count_other_than_the_golden_fails_until_recorded_again(inner, monkeypatch):
    inner.write(TEST)
    inner.regen()
    monkeypatch.setenv("STEPS", "2")
    result = inner.run("--repro-report=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*trajectory: golden has 3 steps, this run 2*"])
    trajectory = report(inner)[0]["trajectory"]
    assert (trajectory["golden_steps"], trajectory["steps"], trajectory["status"]) == (3, 2, "fail")
    inner.regen()
    assert inner.load()["checks"]["output@trajectory"]["torch-cpu"]["trajectory"]["steps"] == 2
    inner.run().assert_outcomes(passed=1)


def test_a_trajectory_that_drifts_under_a_passing_output_fails(inner, monkeypatch):
    inner.write(TEST)
    inner.regen()
    monkeypatch.setenv("SKEW", "1")  # only the recorded latents move: the output is the golden's
    result = inner.run("--repro-report=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_inner.py::test_x ?output? on torch-cpu has a trajectory that drifted from "
                                 "its golden in * (the output itself passed)",
                                 "*first divergent step 1 (step 2 of 3)*"])
    (res,) = report(inner)
    assert res["status"] == "fail" and res["metrics"]["linf"] == 0.0
    assert res["trajectory"]["first_divergent_step"] == 1 and res["trajectory"]["linf"][2] == 0.0


def test_an_output_golden_without_its_trajectory_is_missing(inner):
    inner.write(LOOP + """
import os
def test_x(repro_generator, repro_golden):
    cb = repro_golden.trajectory() if os.environ.get("RECORD") else None
    repro_golden.check(Pipe()(repro_generator(), callback_on_step_end=cb))
""")
    inner.regen()
    inner.monkeypatch.setenv("RECORD", "1")
    result = inner.run("--repro-report=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*has no trajectory golden in *", "*no trajectory golden 'output@trajectory' on "
                                 "backend torch-cpu in *", "*to record this trajectory: pytest --repro-regen *"])
    assert report(inner)[0]["status"] == "missing"


BAD = LOOP + """
import pytest

class OldPipe:  # diffusers' DDIM, DDPM and PNDM pipelines: no callback_on_step_end
    def __call__(self, generator, num_inference_steps=3):
        return torch.randn(1, 4, 8, 8, generator=generator)

def test_old_pipeline(repro_generator, repro_golden):
    repro_golden.check(OldPipe()(repro_generator(), callback_on_step_end=repro_golden.trajectory()))

def test_never_called(repro_generator, repro_golden):
    repro_golden.trajectory()
    repro_golden.check(Pipe()(repro_generator()))

def test_no_latents(repro_generator, repro_golden):
    rec = repro_golden.trajectory()
    repro_golden.check(Pipe()(repro_generator(), callback_on_step_end=lambda p, i, t, kw: rec(p, i, t, {"x": 1})))

def test_bad_name(repro_golden):
    repro_golden.check(torch.zeros(2), name="a@trajectory")

def test_fine(repro_generator, repro_golden):
    repro_golden.check(Pipe()(repro_generator(), callback_on_step_end=repro_golden.trajectory()))
"""


def test_bad_input_fails_its_own_test_with_a_clear_message(inner):
    inner.write(BAD)
    regen = inner.run("--repro-regen")
    regen.assert_outcomes(passed=1, failed=4)  # the rest of the session goes on
    inner.run("--repro-regen", "-k", "never_called").stdout.fnmatch_lines([
        "*test_inner.py::test_never_called ?output?: its trajectory can't be recorded: the pipeline never called "
        "repro_golden.trajectory(): pass it to the pipeline as callback_on_step_end=*"])
    result = inner.run("--repro-report=r.json")
    result.assert_outcomes(passed=1, failed=4)
    out = result.stdout.str()
    assert "unexpected keyword argument 'callback_on_step_end'" in out  # the pipeline's own TypeError
    assert "check name 'a@trajectory' ends in '@trajectory'" in out
    result.stdout.fnmatch_lines(["*test_never_called ?output? on torch-cpu could not check its trajectory *",
                                 "*trajectory: the pipeline never called repro_golden.trajectory()*"])
    result.stdout.fnmatch_lines(["*trajectory: the pipeline passed no 'latents' to callback_on_step_end at step 0 "
                                 "(it passed ?'x'?); pass callback_on_step_end_tensor_inputs=?'latents'?*"])
    by_test = {r["nodeid"].split("::")[1]: r for r in report(inner)}
    assert by_test["test_fine"]["status"] == "pass"
    assert by_test["test_never_called"]["trajectory"]["status"] == "error"
    assert by_test["test_no_latents"]["status"] == "error"


def test_a_named_trajectory_goes_with_the_check_of_its_name(inner):
    inner.write(LOOP + """
def test_x(repro_generator, repro_golden):
    rec = repro_golden.trajectory("b")
    repro_golden.check(torch.ones(3), name="a")
    repro_golden.check(Pipe()(repro_generator(), callback_on_step_end=rec), name="b")
""")
    inner.regen()
    assert sorted(inner.load()["checks"]) == ["a", "b", "b@trajectory"]


def test_prune_keeps_a_trajectory_in_use_and_deletes_one_no_longer_recorded(inner):
    inner.write(TEST)
    inner.regen()
    inner.run(".", "--repro-prune").assert_outcomes(passed=1)
    assert "output@trajectory" in inner.load()["checks"]
    array = inner.golden().parent / inner.load()["checks"]["output@trajectory"]["torch-cpu"]["array"]
    inner.write(TEST.replace("callback_on_step_end=repro_golden.trajectory()", "callback_on_step_end=None"))
    result = inner.run(".", "--repro-prune")
    result.stdout.fnmatch_lines(["*pruned 1 unused golden(s):*", "*check 'output@trajectory'*"])
    assert sorted(inner.load()["checks"]) == ["output"] and not array.exists()


def test_obtained_holds_the_drifted_trajectory_and_accept_applies_it(inner, monkeypatch):
    import subprocess
    import sys

    inner.write(TEST)
    inner.regen()
    monkeypatch.setenv("SKEW", "2")  # only the trajectory drifts
    result = inner.run("--repro-obtained=obtained")
    result.assert_outcomes(failed=1)
    obtained = json.loads((inner.path / "obtained/test_inner/test_x.json").read_text(encoding="utf-8"))
    assert obtained["checks"]["output@trajectory"]["torch-cpu"]["trajectory"]["steps"] == 3
    done = subprocess.run([sys.executable, "-m", "pytest_repro", "accept", "obtained"], cwd=inner.path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    inner.run().assert_outcomes(passed=1)  # the accepted trajectory is the golden now
