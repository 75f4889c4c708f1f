"""``python -m pytest_repro``: the bundled suite and the tiny checkpoints it loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pytest_repro.cli import CHECKOUT
from pytest_repro.suite.checkpoints import TINY_DDPM


def cli(*args: str, cwd: Path = CHECKOUT) -> subprocess.CompletedProcess:
    # The outer run's PYTEST_* variables (current test, xdist worker) must not leak into the child.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest_repro", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_suite_runs_the_bundled_suite_against_the_checkouts_goldens(tmp_path):
    report = tmp_path / "suite.json"
    done = cli("suite", "-q", f"--repro-report={report}")  # everything after "suite" goes to pytest
    assert done.returncode == 0, done.stdout + done.stderr
    assert "repro drift" in done.stdout
    assert " FAIL" not in done.stdout and " MISSING" not in done.stdout
    results = json.loads(report.read_text())["results"]
    assert {rec["status"] for rec in results} == {"pass"}
    assert "pytest_repro/suite/test_pipelines.py::test_pipeline[ddim]" in {rec["test"] for rec in results}
    assert {Path(rec["golden_file"]).parent for rec in results} == {
        CHECKOUT / "golden" / "pytest_repro" / "suite" / "test_pipelines"
    }


def test_suite_passes_its_exit_code_through(tmp_path):
    done = cli("suite", "-q", "-k", "ddim_batch_of_two", "--repro-seed=1", "--repro-golden-dir", str(tmp_path))
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "MISSING" in done.stdout  # an empty golden dir: nothing recorded there
    assert not any(tmp_path.iterdir())


def test_make_checkpoints_writes_what_the_suite_ships(tmp_path):
    done = cli("make-checkpoints", "--root", str(tmp_path))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / TINY_DDPM.name
    assert f"wrote {folder}" in done.stdout
    for name in ("model_index.json", "scheduler/scheduler_config.json", "unet/config.json"):
        assert json.loads((folder / name).read_text()) == json.loads((TINY_DDPM / name).read_text()), name

    from diffusers import DDIMPipeline

    made = DDIMPipeline.from_pretrained(folder)
    shipped = DDIMPipeline.from_pretrained(TINY_DDPM)
    made_state, shipped_state = made.unet.state_dict(), shipped.unet.state_dict()
    assert made_state.keys() == shipped_state.keys()
    assert all(torch.equal(made_state[k], shipped_state[k]) for k in made_state)


def test_cli_without_a_command_is_a_usage_error():
    done = cli()
    assert done.returncode == 2
    assert "make-checkpoints" in done.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("pytest-repro")
    if not script.exists():
        pytest.skip("pytest-repro console script not installed beside this interpreter")
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "suite" in done.stdout
