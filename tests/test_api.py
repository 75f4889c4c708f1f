"""The plain API, ``pytest_repro.Repro``: the same backends, seeds, determinism and goldens as the fixtures."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_repro import Repro
from pytest_repro.api import ReproUsageError
from pytest_repro.check import ReproCheckFailed
from pytest_repro.selection import BackendUnavailable

torch = pytest.importorskip("torch")


def draw(repro, seed=None):
    return torch.randn(8, 8, generator=repro.generator(seed))


def test_record_then_check_then_drift(tmp_path):
    with Repro("notebook.ipynb::ddim", golden_dir=tmp_path, regen=True) as repro:
        repro.check(draw(repro))
    assert repro.results[0].status.value == "written"
    assert (tmp_path / "notebook/ddim.json").is_file()
    with Repro("notebook.ipynb::ddim", golden_dir=tmp_path) as repro:
        verdict = repro.check(draw(repro))
    assert verdict.passed and repro.results[0].status.value == "pass"
    with Repro("notebook.ipynb::ddim", golden_dir=tmp_path, seed=1) as repro, \
            pytest.raises(ReproCheckFailed, match=r"notebook.ipynb::ddim \[output\] on torch-cpu drew other seeds"):
        repro.check(draw(repro))
    with Repro("notebook.ipynb::ddim", golden_dir=tmp_path) as repro, \
            pytest.raises(ReproCheckFailed, match=r"notebook.ipynb::ddim \[output\] on torch-cpu drifted"):
        repro.check(draw(repro) + 0.5)


def test_tolerances_are_the_same_kwargs_as_the_marker(tmp_path):
    with Repro("s.py::t", golden_dir=tmp_path, regen=True) as repro:
        repro.check(torch.zeros(4))
    with Repro("s.py::t", golden_dir=tmp_path, atol=0.5, bitwise=False) as repro:
        assert repro.check(torch.full((4,), 0.25)).passed
    with pytest.raises(ReproUsageError, match=r"s.py::t: Repro\(\): atol: expected a non-negative number"):
        Repro("s.py::t", atol=-1)


def test_determinism_is_switched_on_inside_and_back_off_after(tmp_path):
    before = torch.are_deterministic_algorithms_enabled()
    with Repro("s.py::t", golden_dir=tmp_path):
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before
    with Repro("s.py::t", golden_dir=tmp_path, deterministic=False) as repro:
        assert torch.are_deterministic_algorithms_enabled() == before
        with repro.deterministic():
            assert torch.are_deterministic_algorithms_enabled()


def test_seeds_make_the_same_noise_as_the_fixture_would(tmp_path):
    with Repro("s.py::t", golden_dir=tmp_path, seed=7) as repro:
        a, (b, c) = draw(repro), repro.generator(batch=2)
    assert torch.equal(a, torch.randn(8, 8, generator=torch.Generator().manual_seed(7)))
    assert b.initial_seed() == 7 and c.initial_seed() == 8
    assert repro.seeds == [7, 7, 8]


def test_used_twice_nested_or_outside_with_is_a_clear_error(tmp_path):
    repro = Repro("s.py::first", golden_dir=tmp_path)
    with pytest.raises(ReproUsageError, match=r"s.py::first: generator\(\) needs a running Repro"):
        repro.generator(0)
    with repro, pytest.raises(ReproUsageError, match="s.py::second: Repro runs can't nest: s.py::first"):
        with Repro("s.py::second", golden_dir=tmp_path):
            pass
    with pytest.raises(ReproUsageError, match="s.py::first: this Repro was already used"):
        with repro:
            pass
    with Repro("s.py::third", golden_dir=tmp_path):  # the failed nesting left nothing behind
        pass


def test_an_unavailable_backend_says_why(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(BackendUnavailable, match="backend torch-cuda"), Repro("s.py::t", backend="cuda"):
        pass
    with Repro("s.py::t", golden_dir=tmp_path):  # and the next run starts cleanly
        pass


def test_a_script_checks_the_golden_a_pytest_test_recorded(inner):
    inner.write()  # the delta test: torch.randn(100, 100) from repro_generator(), check(bitwise=False)
    inner.regen()
    script = inner.path / "script.py"
    script.write_text(
        "import torch\n"
        "from pytest_repro import Repro\n"
        "with Repro('test_inner.py::test_x', golden_dir='golden', bitwise=False) as repro:\n"
        "    out = torch.randn(100, 100, generator=repro.generator())\n"
        "    print(repro.check(out).passed, repro.results[0].golden_backend)\n"
    )
    done = subprocess.run([sys.executable, str(script)], cwd=inner.path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "torch-cpu"]
