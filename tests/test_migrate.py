"""Moving an expected_slice / abs-sum assertion onto a golden keeps its expectation and its tolerance."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch")

# A diffusers-style fast test after migration; $SLICE_SHIFT moves the output's slice by that much.
MIGRATED = """
import os
import numpy as np
import torch
from pytest_repro.migrate import expect_slice, expect_sum

EXPECTED_SLICE = np.array({expected})

def test_x(repro_generator, repro_golden):
    image = torch.rand(1, 8, 8, 3, generator=repro_generator()).numpy()
    image[0, -3:, -3:, -1] += float(os.environ.get("SLICE_SHIFT", "0"))
    image_slice = image[0, -3:, -3:, -1]
    expect_slice(repro_golden, image_slice.flatten(), EXPECTED_SLICE, atol=1e-3)
    expect_sum(repro_golden, image, {abs_sum}, atol=1e-2)
"""


def values(inner):
    """The test's real slice and abs-sum, as the old assertions would have hard-coded them."""
    import numpy as np
    import torch

    image = torch.rand(1, 8, 8, 3, generator=torch.Generator().manual_seed(0)).numpy()
    return [round(float(v), 4) for v in image[0, -3:, -3:, -1].flatten()], round(float(np.abs(image).sum()), 4)


def test_the_golden_records_the_old_expectation_and_the_old_tolerance_still_decides(inner, monkeypatch):
    expected, abs_sum = values(inner)
    inner.write(MIGRATED.format(expected=expected, abs_sum=abs_sum))
    inner.regen()
    recorded = inner.load()["checks"]["expected_slice"]["torch-cpu"]["summary"]
    assert recorded["head"] == pytest.approx(expected[:9], abs=1e-7)  # the expectation, not this run's output
    inner.run().assert_outcomes(passed=1)
    monkeypatch.setenv("SLICE_SHIFT", "5e-4")  # within the old atol=1e-3: the old assertion passed too
    inner.run().assert_outcomes(passed=1)
    monkeypatch.setenv("SLICE_SHIFT", "2e-3")  # beyond it: the old assertion failed, so does the migrated test
    result = inner.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_x ?expected_slice? on torch-cpu drifted*", "*outside atol=0.001*"])


def test_the_command_shows_each_replacement_and_names_what_it_cant_read(inner):
    path = inner.path / "test_old.py"
    path.write_text(
        "import numpy as np\n\n"
        "def test_old(image, image_slice, expected_slice):\n"
        "    assert np.abs(image_slice.flatten() - expected_slice).max() < 1e-3\n"
        "    assert abs(np.abs(image).sum() - 1491.1711) < 1e-2\n"
        "    assert np.allclose(image_slice, expected_slice)\n")
    done = subprocess.run([sys.executable, "-m", "pytest_repro", "migrate", str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "-> expect_slice(repro_golden, image_slice.flatten(), expected_slice, atol=0.001)" in out
    assert "-> expect_sum(repro_golden, image, 1491.1711, atol=0.01)" in out
    assert f"{path}:6: can't migrate `assert np.allclose(image_slice, expected_slice)`" in out
    assert "2 assertion(s) can move, 1 can't be read" in out
