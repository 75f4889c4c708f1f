"""What a CI job needs: a required backend, no regeneration on a runner, and no trace where unused."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")


def test_a_required_backend_that_is_missing_fails_instead_of_skipping(inner):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    inner.write()
    result = inner.run("--repro-backend=cuda", "--repro-require-backend")
    result.assert_outcomes(errors=1)  # the fixture fails at setup: the run fails, naming why
    result.stdout.fnmatch_lines(["*backend torch-cuda*(--repro-require-backend: this job needs its backend)*"])
    inner.run("--repro-backend=cuda").assert_outcomes(skipped=1)  # without it: a skip, as before


def test_required_backend_from_ini_and_an_opt_out_marker_still_skips(inner):
    inner.ini("repro_require_backend = true")
    inner.write_marked("backends=['cuda']")  # the test itself opts out of cpu: not a missing device
    result = inner.run("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*runs only on cuda*"])


@pytest.mark.parametrize("flag", ["--repro-regen", "--repro-regen-all", "--repro-prune"])
def test_regen_and_prune_refuse_to_run_in_ci_unless_allowed(inner, monkeypatch, flag, expect_usage_error):
    inner.write()
    monkeypatch.setenv("CI", "true")
    result = inner.run(flag)
    expect_usage_error(result, [f"*{flag.replace('-all', '')}* refuses to run where $CI is set*--repro-obtained=DIR*",
                                "*python -m pytest_repro accept DIR*--repro-allow-ci-regen*"][0])
    assert not (inner.path / "golden").exists()
    if flag != "--repro-prune":
        inner.run(flag, "--repro-allow-ci-regen").assert_outcomes(passed=1)
        assert inner.golden().is_file()


def test_installed_but_unused_the_plugin_changes_nothing_visible(inner, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    inner.write("import os\n\ndef test_plain():\n    assert 'CUBLAS_WORKSPACE_CONFIG' not in os.environ\n")
    result = inner.run()
    result.assert_outcomes(passed=1)
    assert not [line for line in result.stdout.lines if line.startswith("repro")]  # no header, no drift table
    # a project that uses it (an option, an ini key or a golden dir) gets the header
    (inner.path / "golden").mkdir()
    inner.write("def test_plain():\n    pass\n")
    assert "repro replay:" in inner.run().stdout.str()
