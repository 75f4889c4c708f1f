"""ReproTestCase: diffusers-style unittest classes get the fixtures, once per backend named."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

# The shape of a diffusers fast test: tiny components built in get_dummy_components(), several methods.
FAST_TESTS = """
import unittest

import torch
from diffusers import DDIMPipeline, DDIMScheduler, UNet2DModel

from pytest_repro import ReproTestCase


class DDIMPipelineFastTests(ReproTestCase, unittest.TestCase):
    def get_dummy_components(self):
        torch.manual_seed(0)
        unet = UNet2DModel(block_out_channels=(4, 8), layers_per_block=1, norm_num_groups=4, sample_size=8,
                           in_channels=3, out_channels=3, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                           up_block_types=("AttnUpBlock2D", "UpBlock2D"))
        return {"unet": unet, "scheduler": DDIMScheduler()}

    def pipe(self):
        pipe = DDIMPipeline(**self.get_dummy_components()).to(self.repro_backend.device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def test_inference(self):
        image = self.pipe()(num_inference_steps=2, output_type="np", generator=self.repro_generator()).images
        self.assertEqual(image.shape, (1, 8, 8, 3))
        self.repro_golden.check(image)

    def test_batch(self):
        image = self.pipe()(batch_size=2, num_inference_steps=2, output_type="np",
                            generator=self.repro_generator(0, batch=2)).images
        self.repro_golden.check(image, name="batch")

    def test_deterministic_block(self):
        with self.repro_deterministic():
            self.assertTrue(torch.are_deterministic_algorithms_enabled())
"""


def test_a_testcase_gets_the_fixtures_and_its_goldens(inner):
    pytest.importorskip("diffusers")
    inner.write(FAST_TESTS)
    inner.regen()
    files = sorted(p.name for p in (inner.path / "golden" / "test_inner").glob("*.json"))
    assert len(files) == 2 and all(f.startswith("DDIMPipelineFastTests.test_") for f in files), files
    result = inner.run("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*DDIMPipelineFastTests::test_batch *batch *torch-cpu *same *0.00e+00*PASS"])
    # the same options as a function test: --repro-seed moves what repro_generator() draws (test_batch
    # pins its seed to 0, so it still passes), and the check fails naming the TestCase method
    drifted = inner.run("--repro-seed=1")
    drifted.assert_outcomes(passed=2, failed=1)
    drifted.stdout.fnmatch_lines(["*::DDIMPipelineFastTests::test_inference ?output? on torch-cpu drew other seeds*"])


def test_every_backend_named_is_run_or_skipped_with_its_reason(inner):
    pytest.importorskip("diffusers")
    torch = pytest.importorskip("torch")
    inner.write(FAST_TESTS)
    inner.regen("--repro-backend=cpu")
    result = inner.run("--repro-backend=cpu,cuda", "-v", "-rs", "-W", "error")  # no warning of ours either
    outcomes = result.parseoutcomes()
    if torch.cuda.is_available():
        assert outcomes.get("passed") == 6, result.stdout.str()
    else:
        assert (outcomes.get("passed"), outcomes.get("skipped")) == (3, 3), result.stdout.str()
        result.stdout.fnmatch_lines(["*::test_inference?cuda? SKIPPED*", "*backend torch-cuda*"])
    result.stdout.fnmatch_lines(["*::test_inference?cpu? PASSED*"])
    # one golden per test, shared by both backends (the backend word is not part of the file name)
    assert len(list((inner.path / "golden" / "test_inner").glob("*.json"))) == 2


def test_a_testcase_without_the_mixin_is_told_how_to_get_the_attributes(inner):
    inner.write("""
import unittest

class PlainTests(unittest.TestCase):
    def test_x(self):
        self.repro_golden.check([1.0])
""")
    result = inner.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_inner.py::PlainTests::test_x: self.repro_backend*come from the mixin: "
                                 "class MyTests(pytest_repro.ReproTestCase, unittest.TestCase)*"])


def test_a_testcase_without_repro_is_untouched(inner):
    inner.write("""
import unittest

class PlainTests(unittest.TestCase):
    def test_x(self):
        self.assertEqual(1, 1)
""")
    result = inner.run("--repro-backend=cpu,cuda", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PlainTests::test_x PASSED*"])


# A TestCase whose "moving" check draws a new value on every call in this process, beside a steady one.
AUDITED_TESTS = """
import itertools
import os
import unittest

import numpy as np
import pytest
import torch

from pytest_repro import ReproTestCase

CALLS = itertools.count()


class AuditedTests(ReproTestCase, unittest.TestCase):
    def test_moving(self):
        self.repro_golden.check(np.full((3, 3), next(CALLS), dtype=np.float32))

    def test_steady(self):
        self.repro_golden.check(torch.rand(3, 3, generator=self.repro_generator()))

    @unittest.skip("not today")
    def test_skipped(self):
        raise AssertionError("a skipped method ran")

    @unittest.expectedFailure
    def test_known_bad(self):
        raise AssertionError("expected")


@pytest.mark.repro(runs=2)
class MarkedTests(ReproTestCase, unittest.TestCase):
    def test_marked(self):  # moves by $STEP per call: steady while the goldens are written
        self.repro_golden.check(np.full((3, 3), float(os.environ["STEP"]) * next(CALLS), dtype=np.float32))
"""


@pytest.mark.parametrize("backends", ["cpu", "cpu,cuda"])  # one collected method, and one per backend
def test_a_testcase_is_audited_like_a_function_test(inner, backends):
    torch = pytest.importorskip("torch")
    inner.write(AUDITED_TESTS)
    inner.monkeypatch.setenv("STEP", "0")
    inner.regen("-k", "not moving")
    inner.regen("-k", "moving", "--repro-runs=1")
    inner.monkeypatch.setenv("STEP", "1")
    plain = inner.run(f"--repro-backend={backends}", "-k", "AuditedTests")  # no audit: one run each passes
    assert plain.parseoutcomes().get("failed") is None, plain.stdout.str()
    result = inner.run(f"--repro-backend={backends}", "--repro-runs=3", "--repro-report=r.json", "-rA")
    cuda = torch.cuda.is_available() and "cuda" in backends
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == (4 if cuda else 2), result.stdout.str()
    result.stdout.fnmatch_lines(["*test_inner.py::AuditedTests::test_moving*: determinism audit, 3 runs*",
                                 "*[[]output[]] run 2 vs run 1: L_inf 1*", "*[[]output[]] run 3 vs run 1: L_inf 2*"])
    assert "a skipped method ran" not in result.stdout.str()
    assert outcomes.get("xfailed") == (2 if cuda else 1)
    runs = {r["nodeid"].split("::")[-1].split("[")[0]: r["runs"]
            for r in json.loads((inner.path / "r.json").read_text())["results"] if r["backend"] == "torch-cpu"}
    assert runs["test_moving"]["differing_runs"] == [2, 3] and runs["test_moving"]["max_linf_between_runs"] == 2.0
    assert runs["test_steady"] == {"n": 3, "differing_runs": [], "max_linf_between_runs": 0.0,
                                   "nondeterministic_ops": []}
    assert runs["test_marked"]["n"] == 2  # the class's marker wins over the command line, as for functions


def test_a_testcase_marker_asks_for_the_audit_and_timing_times_it(inner):
    pytest.importorskip("torch")
    inner.write(AUDITED_TESTS)
    inner.monkeypatch.setenv("STEP", "0")
    inner.regen("-k", "test_marked or test_steady")
    inner.monkeypatch.setenv("STEP", "1")
    marked = inner.run("-k", "test_marked", "--repro-report=r.json")
    marked.assert_outcomes(failed=1)
    marked.stdout.fnmatch_lines(["*MarkedTests::test_marked: determinism audit, 2 runs*"])
    timed = inner.run("-k", "test_steady", "--repro-timing", "--repro-report=t.json")
    timed.assert_outcomes(passed=1)
    [result] = json.loads((inner.path / "t.json").read_text())["results"]
    assert result["timing"]["deterministic_s"] > 0 and result["timing"]["default_s"] > 0, result["timing"]


def test_an_async_test_under_the_audit_runs_once_with_a_warning(inner):
    pytest.importorskip("torch")
    inner.write("""
import unittest

from pytest_repro import ReproTestCase


class AsyncTests(ReproTestCase, unittest.IsolatedAsyncioTestCase):
    async def test_x(self):
        self.repro_golden.check([1.0, 2.0])
""")
    inner.regen()
    result = inner.run("--repro-runs=2", "-W", "always::pytest.PytestWarning")  # not this suite's "error"
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*AsyncTests::test_x: --repro-runs and --repro-timing can't repeat an async*"])


# setUp seeds every global RNG (the unittest habit); each test draws from one. Deterministic in any process.
SEEDED_IN_SETUP = """
import random
import unittest

import numpy as np
import torch

from pytest_repro import ReproTestCase


class SeededTests(ReproTestCase, unittest.TestCase):
    def setUp(self):
        torch.manual_seed(42)
        np.random.seed(42)
        random.seed(42)
        self.layer = torch.nn.Linear(3, 3)  # weights drawn in setUp, once for all the runs

    def test_torch(self):
        self.repro_golden.check(self.layer(torch.randn(2, 3)).detach())

    def test_numpy(self):
        self.repro_golden.check(np.random.rand(4))

    def test_python(self):
        self.repro_golden.check([random.random() for _ in range(4)])

    def test_fails_in_run_2(self):
        self.repro_golden.check([1.0])
        type(self).calls = getattr(type(self), "calls", 0) + 1
        if self.calls == 2:
            raise RuntimeError("only the second time")
"""


def test_reruns_start_from_the_rng_states_run_1_started_from(inner):
    pytest.importorskip("torch")
    inner.write(SEEDED_IN_SETUP)
    inner.regen("-k", "not fails")
    result = inner.run("--repro-runs=3", "--repro-report=r.json", "-k", "not fails")
    result.assert_outcomes(passed=3)  # reseeding each rerun with --repro-seed called all three moving
    runs = [r["runs"] for r in json.loads((inner.path / "r.json").read_text())["results"]]
    assert runs == [{"n": 3, "differing_runs": [], "max_linf_between_runs": 0.0, "nondeterministic_ops": []}] * 3


def test_a_run_that_raises_says_which_and_the_runs_after_it_are_not_claimed(inner):
    pytest.importorskip("torch")
    inner.write(SEEDED_IN_SETUP)
    inner.regen("-k", "fails")
    result = inner.run("--repro-runs=3", "--repro-report=r.json", "-k", "fails")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: only the second time",
                                 "*raised in run 2 of 3 of the determinism audit*"])
    [check] = json.loads((inner.path / "r.json").read_text())["results"]
    assert check["runs"]["completed"] == 1
    result.stdout.fnmatch_lines(["*test_fails_in_run_2*1 of 3 ran: same*"])
