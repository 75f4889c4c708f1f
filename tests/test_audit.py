"""The determinism audit (--repro-runs): reruns on the same seeds, the L_inf between them, nondeterministic ops."""

from __future__ import annotations

import json

import pytest

# The output moves by $STEP * (the number of earlier calls) in this process: a nondeterministic test
# whose run k differs from run 1 by exactly (k - 1) * STEP. A second, steady check stays equal.
DRIFTING_TEST = """
import os
import torch

CALLS = [0]

def test_x(repro_generator, repro_golden):
    out = torch.randn(10, 10, generator=repro_generator())
    out[0, 0] += float(os.environ.get("STEP", "0")) * CALLS[0]
    CALLS[0] += 1
    repro_golden.check(out, name="moving")
    repro_golden.check(torch.randn(3, generator=repro_generator(1)), name="steady")
"""

# Draws from the global RNG, not from repro_generator: equal only if each rerun is reseeded.
GLOBAL_RNG_TEST = """
import torch

def test_x(repro_backend, repro_golden):
    repro_golden.check(torch.randn(5))
"""

# Counts its calls in a file, under a marker given by "{marker}".
COUNTING_TEST = """
import pathlib
import pytest
import torch

@pytest.mark.repro({marker})
def test_counted(repro_generator, repro_golden):
    with open(pathlib.Path(__file__).with_name("calls.txt"), "a") as f:
        f.write("x")
    repro_golden.check(torch.randn(4, generator=repro_generator()))

def test_other(repro_generator, repro_golden):
    repro_golden.check(torch.randn(4, generator=repro_generator()))
"""

# PyTorch's own alert (torch._prims_common.alert_not_deterministic, what its meta kernels call for CUDA
# ops such as histc): no op raises it on CPU, so the test names a fake op to reach the real code path.
ALERT_TEST = """
import pytest
import torch
from torch._prims_common import alert_not_deterministic

@pytest.mark.repro({marker})
def test_x(repro_generator, repro_golden):
    out = torch.randn(4, generator=repro_generator())
    alert_not_deterministic("fake_scatter_op")
    alert_not_deterministic("fake_histc_op")
    repro_golden.check(out)
"""


def results(path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["results"]


def by_check(path) -> dict[str, dict]:
    return {r["check"]: r for r in results(path)}


@pytest.mark.parametrize("via", ["cli", "ini"])
def test_equal_reruns_pass_and_the_report_says_so(inner, via):
    inner.write(DRIFTING_TEST)
    inner.regen()
    result = inner.run("--repro-report=r.json", *inner.setting(via, "runs", "3"))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*runs*status*", "*moving*3x same*PASS*"])
    for record in results(inner.path / "r.json"):
        assert record["runs"] == {"n": 3, "max_linf_between_runs": 0.0, "differing_runs": [],
                                  "nondeterministic_ops": []}
        assert record["status"] == "pass"


def test_a_rerun_that_differs_fails_naming_the_check_the_run_and_the_linf(inner, monkeypatch):
    inner.write(DRIFTING_TEST)
    inner.regen()
    monkeypatch.setenv("STEP", "0.25")
    result = inner.run("--repro-runs=3", "--repro-report=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*determinism audit, 3 runs on the same seeds*",
        "*[[]moving] run 2 vs run 1: L_inf 0.25",
        "*[[]moving] run 3 vs run 1: L_inf 0.5",
    ])
    assert "[steady]" not in result.stdout.str().split("repro drift")[0]
    checks = by_check(inner.path / "r.json")
    assert checks["moving"]["status"] == "fail"  # run 1 matched its golden: the audit failed it
    assert checks["moving"]["runs"]["differing_runs"] == [2, 3]
    assert checks["moving"]["runs"]["max_linf_between_runs"] == pytest.approx(0.5)
    assert checks["steady"]["status"] == "pass" and checks["steady"]["runs"]["differing_runs"] == []
    result.stdout.fnmatch_lines(["*moving*3x L_inf 5.00e-01 (2,3)*FAIL*"])


def test_each_rerun_is_reseeded(inner):
    inner.write(GLOBAL_RNG_TEST)
    inner.regen()
    inner.run("--repro-runs=4").assert_outcomes(passed=1)


@pytest.mark.parametrize(("marker", "args", "calls"), [
    ("runs=3", [], 3),
    ("runs=1", ["--repro-runs=4"], 1),  # marker > command line
    ("runs=2", ["--repro-runs=4"], 2),
    ("", ["--repro-runs=4"], 4),
])
def test_marker_runs_wins_over_the_command_line(inner, marker, args, calls):
    inner.write(COUNTING_TEST.format(marker=marker))
    inner.regen()
    (inner.path / "calls.txt").unlink()
    inner.run(*args).assert_outcomes(passed=2)
    assert (inner.path / "calls.txt").read_text() == "x" * calls


@pytest.mark.parametrize("value", ["0", "-1", "1001", "two", "2.5"])
def test_bad_runs_on_the_command_line_is_a_usage_error(inner, expect_usage_error, value):
    inner.write()
    expect_usage_error(inner.run(f"--repro-runs={value}"), "*--repro-runs*")


def test_bad_runs_in_ini_names_the_key_and_file(inner, expect_usage_error):
    inner.write()
    inner.ini("repro_runs = 5000")
    expect_usage_error(inner.run(), "*repro_runs = '5000' in *tox.ini*between 1 and 1000*")


@pytest.mark.parametrize("value", ["0", "5000", "2.5", "True"])
def test_bad_runs_in_a_marker_fails_that_test_and_the_session_goes_on(inner, value):
    inner.write(COUNTING_TEST.format(marker=f"runs={value}"))
    result = inner.run("--repro-regen")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*test_counted*@pytest.mark.repro(runs={value})*"])
    assert not (inner.path / "calls.txt").exists()  # the bad test never ran


def test_a_nondeterministic_op_fails_with_the_op_and_the_remedy_not_a_traceback(inner):
    inner.write(ALERT_TEST.format(marker=""))
    result = inner.run("--repro-regen")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*test_x: fake_scatter_op has no deterministic implementation in PyTorch*",
        "Remedy: mark this test @pytest.mark.repro(deterministic=False), or run with --repro-no-deterministic*",
    ])
    out = result.stdout.str()
    assert "Traceback" not in out and "alert_not_deterministic(" not in out  # no source lines of a traceback


def test_the_marker_switches_determinism_off_for_that_test(inner):
    inner.write(ALERT_TEST.format(marker="deterministic=False"))
    inner.regen()
    inner.run().assert_outcomes(passed=1)


def test_the_audit_lists_every_nondeterministic_op_warn_only(inner):
    inner.write(ALERT_TEST.format(marker=""))
    inner.run("--repro-regen", "--repro-no-deterministic").assert_outcomes(passed=1)
    result = inner.run("--repro-runs=2", "--repro-report=r.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*the outputs were bitwise equal in every run*",
        "*ops with no deterministic implementation*",
        "  fake_scatter_op", "  fake_histc_op",
        "*repro nondeterministic ops used*",
        "*test_x on torch-cpu: fake_scatter_op, fake_histc_op",
    ])
    (record,) = results(inner.path / "r.json")
    assert record["runs"]["nondeterministic_ops"] == ["fake_scatter_op", "fake_histc_op"]
    assert record["runs"]["differing_runs"] == []


def test_warn_only_is_restored_after_the_audit(inner):
    inner.write(ALERT_TEST.format(marker="") + """
def test_after():  # no repro fixture: the process as it was before test_x
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
""")
    inner.run("--repro-runs=2").assert_outcomes(failed=1, passed=1)


def test_a_testcase_is_repeated_and_the_plain_api_only_when_asked(inner):
    # A TestCase method is repeated like a function test (more in test_testcase.py); a Repro block in a
    # test is the plain API's own, audited only through Repro.audit.
    inner.write("""
import unittest
import torch
from pytest_repro import Repro, ReproTestCase

class T(ReproTestCase, unittest.TestCase):
    def test_m(self):
        self.repro_golden.check(torch.randn(3, generator=self.repro_generator()))

def test_api(tmp_path):
    with Repro("x.py::t", golden_dir=tmp_path, regen=True) as repro:
        repro.check(torch.randn(3, generator=repro.generator()))
    assert [r.runs for r in repro.results] == [None]
""")
    inner.regen()
    result = inner.run("--repro-runs=3", "--repro-report=r.json")
    result.assert_outcomes(passed=2)
    assert [r.get("runs") for r in results(inner.path / "r.json")] == [
        {"n": 3, "differing_runs": [], "max_linf_between_runs": 0.0, "nondeterministic_ops": []}]


def test_the_plain_api_audits_a_block(tmp_path):
    torch = pytest.importorskip("torch")
    from pytest_repro import Repro
    from pytest_repro.check import ReproCheckFailed

    calls = []

    def make(repro, step):
        def run():
            out = torch.randn(6, generator=repro.generator())
            out[0] += step * len(calls)
            calls.append(1)
            repro.check(out, name="x")
        return run

    with Repro("nb.ipynb::cell", golden_dir=tmp_path, regen=True) as repro:
        repro.audit(make(repro, 0.0), runs=3)
    assert len(calls) == 3
    assert [r.runs["differing_runs"] for r in repro.results] == [[]] and repro.results[0].status.value == "written"
    calls.clear()
    with Repro("nb.ipynb::cell", golden_dir=tmp_path) as repro, \
            pytest.raises(ReproCheckFailed, match=r"(?s)nb.ipynb::cell: determinism audit, 2 runs.*"
                                                  r"\[x\] run 2 vs run 1: L_inf 0.125"):
        repro.audit(make(repro, 0.125), runs=2)
    assert repro.results[0].status.value == "fail" and repro.results[0].runs["differing_runs"] == [2]
    with Repro("nb.ipynb::cell", golden_dir=tmp_path) as repro, \
            pytest.raises(ValueError, match=r"nb.ipynb::cell: audit\(\): runs must be between 1 and 1000"):
        repro.audit(make(repro, 0.0), runs=0)


def test_the_audit_under_xdist(inner, monkeypatch):
    pytest.importorskip("xdist")
    inner.write(DRIFTING_TEST)
    inner.regen()
    monkeypatch.setenv("STEP", "0.25")
    result = inner.run("-n", "2", "--repro-runs=2", "--repro-report=r.json", subprocess=True)
    result.assert_outcomes(failed=1)
    assert by_check(inner.path / "r.json")["moving"]["runs"]["differing_runs"] == [2]



@pytest.mark.parametrize(("marker", "args", "expected"), [
    ("deterministic=False", [], False),
    ("deterministic=True", ["--repro-no-deterministic"], True),  # marker > command line
    ("deterministic=False", ["--repro-deterministic"], False),
    ("", ["--repro-no-deterministic"], False),
])
def test_the_marker_deterministic_wins_over_the_command_line(inner, marker, args, expected):
    inner.write(f"""
import pytest
import torch

@pytest.mark.repro({marker})
def test_x(repro_backend):
    assert torch.are_deterministic_algorithms_enabled() is {expected}
""")
    inner.run(*args).assert_outcomes(passed=1)


def test_a_bad_deterministic_in_a_marker_is_a_usage_error_naming_the_test(inner, expect_usage_error):
    inner.write(ALERT_TEST.format(marker="deterministic='no'"))
    expect_usage_error(inner.run(),
                       "*test_inner.py::test_x: @pytest.mark.repro deterministic='no': expected True or False*")


def test_an_async_function_test_runs_once_with_a_warning(inner):
    pytest.importorskip("anyio")  # its pytest plugin runs the coroutine, as pytest-asyncio would
    inner.write("""
import pytest

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
async def test_x(repro_golden):
    repro_golden.check([1.0, 2.0])

def test_y(repro_golden):
    repro_golden.check([3.0])
""")
    inner.regen()
    for option in ("--repro-runs=2", "--repro-timing"):
        result = inner.run(option, "-W", "always::pytest.PytestWarning")  # not this suite's "error"
        result.assert_outcomes(passed=2, warnings=1)
        result.stdout.fnmatch_lines(["*test_x*: --repro-runs and --repro-timing can't repeat an async test;*"])
    # The warning as an error fails that test alone: its run is exited, the next test's starts
    strict = inner.run("--repro-runs=2", "-W", "error::pytest.PytestWarning")
    strict.assert_outcomes(passed=1, errors=1)
