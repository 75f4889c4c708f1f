"""Path settings: the space form of an option behaves as the '=' form, whatever exists on disk."""

from __future__ import annotations

import json
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


def test_class_and_spaced_ids_get_readable_golden_names_and_old_names_still_load(inner):
    inner.write("""
import pytest
import torch

class TestSD:
    @pytest.mark.parametrize("prompt", ["a cat"])
    def test_a(self, repro_generator, repro_golden, prompt):
        repro_golden.check(torch.randn(3, generator=repro_generator()))
""")
    inner.regen()
    assert [p.name for p in (inner.path / "golden/test_inner").glob("*.json")] == ["TestSD.test_a[a cat].json"]
    # a golden recorded by pytest-repro 0.1 under its hashed name keeps being used
    from pytest_repro.identity import safe_name

    old = inner.path / "golden/test_inner" / (safe_name("TestSD.test_a[a cat]") + ".json")
    (inner.path / "golden/test_inner/TestSD.test_a[a cat].json").rename(old)
    inner.run().assert_outcomes(passed=1)
    assert old.exists() and not (inner.path / "golden/test_inner/TestSD.test_a[a cat].json").exists()


def test_a_golden_file_of_another_test_is_refused_naming_both(inner):
    # What two ids that differ only in case meet on macOS or Windows: one file, two tests.
    inner.write()
    inner.regen()
    data = inner.load()
    data["test"] = "test_inner.py::Test_X"
    inner.golden().write_text(json.dumps(data))
    result = inner.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*holds the golden of test_inner.py::Test_X, not of test_inner.py::test_x: two "
                                 "test ids that differ only in case share one file*"])
