"""Path settings: the space form of an option behaves as the '=' form, whatever exists on disk."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("torch")


@pytest.fixture
def project(pytester, monkeypatch):
    """A project folder with its own pytest.ini (addopts included) inside pytester's tmp folder."""
    root = pytester.path / "proj"
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\nrepro_seed = 3\n")
    (root / "test_p.py").write_text(
        "import torch\n\n"
        "def test_p(repro_generator, repro_golden, repro_settings):\n"
        "    assert repro_settings.seed == 3  # read from the project's pytest.ini\n"
        "    repro_golden.check(torch.randn(4, generator=repro_generator()))\n")
    monkeypatch.chdir(root)
    return root


def run(pytester, *args):
    return pytester.run(sys.executable, "-m", "pytest", *args)


@pytest.mark.parametrize("form", ["space", "equals"])
@pytest.mark.parametrize("option", ["--repro-report", "--repro-golden-dir"])
def test_an_existing_path_outside_the_project_does_not_move_the_rootdir(pytester, project, form, option):
    outside = pytester.path / ("out.json" if option == "--repro-report" else "outside-golden")
    if option == "--repro-report":
        outside.write_text("{}")  # it exists: the second run of a CI job
    else:
        outside.mkdir()
    given = [option, "../" + outside.name] if form == "space" else [f"{option}=../{outside.name}"]
    result = run(pytester, "--repro-regen", *given)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines([f"rootdir: {project}", "configfile: pytest.ini"])
    result = run(pytester, *given)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines([f"rootdir: {project}"])


def test_a_test_file_outside_the_rootdir_gets_its_golden_under_the_golden_dir(pytester, project):
    elsewhere = pytester.path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "test_far.py").write_text(
        "import torch\n\ndef test_far(repro_generator, repro_golden):\n"
        "    repro_golden.check(torch.randn(4, generator=repro_generator()))\n")
    result = run(pytester, "--rootdir=.", "../elsewhere/test_far.py", "--repro-regen")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["written: ../elsewhere/test_far.py::test_far ?output? on torch-cpu -> "
                                 "golden/elsewhere/test_far/test_far.json"])
    assert run(pytester, "--rootdir=.", "../elsewhere/test_far.py").ret == 0
