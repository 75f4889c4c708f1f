"""Generator pitfalls (pitfalls.py): each seen in what the pipeline was given, with its fix in the message.

The repeated and consumed generators run a real tiny DDIM pipeline (2 steps). CUDA and MindSpore are
absent here: a torch.Generator that reports a CUDA device, and fake mindspore/mindone modules, stand in.
"""

from __future__ import annotations

import json
import sys
import types

import pytest

from pytest_repro import Repro, ReproPitfallError, ReproPitfallWarning
from pytest_repro.backends import mindspore as ms_backend
from pytest_repro.report.html import render_html
from pytest_repro.results import CheckResult, RunReport, Status

torch = pytest.importorskip("torch")
# Imported here, not only in the inner runs: pytester drops the modules an in-process run imported, while
# diffusers keeps handing out the class it cached, so its module (and its randn_tensor binding) would be
# out of sys.modules, where no run can wrap it. A real session keeps them.
pytest.importorskip("diffusers").DDIMPipeline  # noqa: B018

PIPE = """
import pytest
import torch
from diffusers import DDIMPipeline
from pytest_repro.suite.checkpoints import TINY_DDPM


@pytest.fixture(scope="module")
def pipe():
    pipe = DDIMPipeline.from_pretrained(TINY_DDPM)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe, generator, n=1):
    return pipe(batch_size=n, num_inference_steps=2, output_type="np", generator=generator).images
"""


# This suite turns warnings into errors (filterwarnings = error), and in-process inner runs inherit that:
# runs that show a pitfall as a warning say so.
SHOW = ("-W", "always::pytest_repro.ReproPitfallWarning")
STRICT = ("-W", "error::pytest_repro.ReproPitfallWarning")


def pitfalls(inner, report: str = "report.json") -> dict[str, list[str]]:
    """The pitfall kinds of each check in the inner run's JSON report, by check name."""
    data = json.loads((inner.path / report).read_text(encoding="utf-8"))
    return {r["check"]: [p["kind"] for p in r["pitfalls"]] for r in data["results"]}


def test_a_batch_given_one_generator_repeated_warns_with_the_fix(inner):
    inner.write(PIPE + """
def test_x(pipe, repro_generator, repro_golden):
    repro_golden.check(run(pipe, [repro_generator()] * 3, n=3), name="batch")
""")
    result = inner.regen("--repro-report=report.json", *SHOW)
    result.stdout.fnmatch_lines(["*ReproPitfallWarning: test_inner.py::test_x: a batch of 3 was given 1 generator "
                                 "object(s), the same one repeated ([[]generator] * n)*repro_generator(seed, batch=3)"])
    assert pitfalls(inner) == {"batch": ["repeated-generator"]}
    strict = inner.run(*STRICT)  # where warnings are errors, the pitfall fails the test, fix included
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["E *ReproPitfallWarning: *the same one repeated*repro_generator(seed, batch=3)"])


def test_a_generator_consumed_by_an_earlier_check_warns_naming_both(inner):
    # The seeds' example: one generator from torch.manual_seed(0), reused by every call of a loop.
    inner.write(PIPE + """
def test_x(pipe, repro_golden):
    g = torch.manual_seed(0)
    for name in ("first", "second"):
        repro_golden.check(run(pipe, g), name=name)
""")
    result = inner.regen("--repro-report=report.json", *SHOW)
    result.stdout.fnmatch_lines(["*ReproPitfallWarning: test_inner.py::test_x: check 'second' was drawn from a "
                                 "generator that had already fed check 'first'*repro_generator(seed)*"])
    assert pitfalls(inner) == {"first": [], "second": ["consumed-generator"]}


def test_a_handed_out_generator_reused_is_caught_by_its_state_without_diffusers(inner):
    # No randn_tensor in the way: the fixture's generator moved on between both checks.
    inner.write("""
import torch

def test_x(repro_generator, repro_golden):
    g = repro_generator()
    repro_golden.check(torch.randn(4, generator=g), name="a")
    repro_golden.check(torch.randn(4, generator=g), name="b")
""")
    inner.regen("--repro-report=report.json", *SHOW)
    assert pitfalls(inner) == {"a": [], "b": ["consumed-generator"]}


def test_per_item_and_fresh_generators_raise_nothing(inner):
    inner.write(PIPE + """
def test_x(pipe, repro_generator, repro_golden):
    repro_golden.check(run(pipe, repro_generator(batch=2), n=2), name="batch")
    for name in ("one", "two"):
        repro_golden.check(run(pipe, repro_generator()), name=name)
    for name in ("reseeded", "reseeded_again"):  # the same object, but seeded afresh: not consumed
        repro_golden.check(run(pipe, torch.manual_seed(0)), name=name)
    g = repro_generator(1)
    image = run(pipe, g)
    repro_golden.check(image, name="image")
    repro_golden.check(image[:, :4], name="corner")  # two checks of one call: g fed only the first
""")
    for args in (["--repro-regen"], []):
        inner.run(*args, "--repro-report=report.json", *STRICT).assert_outcomes(passed=1)
        assert set(map(tuple, pitfalls(inner).values())) == {()}
    generators = json.loads(inner.golden().read_text(encoding="utf-8"))["checks"]["one"]["torch-cpu"]["generators"]
    assert generators == ["torch-cpu"]


# A pipeline module of diffusers' layout binding its own randn_tensor, as every real one does; it can run
# a torch.Generator that reports CUDA (a real CUDA generator needs the device, and diffusers' randn_tensor
# refuses one for a CPU tensor).
FAKE_CUDA = """
import os
import sys
import types

import torch

SOURCE = '''
import torch

def randn_tensor(shape, generator=None, device=None, dtype=None):
    return torch.randn(shape, generator=generator)

def pipe(generator):
    return randn_tensor((1, 3, 8, 8), generator=generator)
'''
module = types.ModuleType("diffusers.pipelines.fake_cuda")
exec(SOURCE, module.__dict__)
sys.modules[module.__name__] = module


class CudaLike(torch.Generator):
    device = property(lambda self: torch.device("cuda"))


def test_x(repro_generator, repro_golden):
    if os.environ.get("FAKE_CUDA"):  # another stream, as a CUDA generator draws (L_inf 1.0 on an H100)
        generator = CudaLike().manual_seed(1)
    else:
        generator = repro_generator()
    repro_golden.check(sys.modules["diffusers.pipelines.fake_cuda"].pipe(generator))
"""


def test_a_cuda_generator_against_a_cpu_golden_names_the_cause(inner, monkeypatch):
    inner.write(FAKE_CUDA)
    inner.regen(*STRICT)
    assert inner.load()["checks"]["output"]["torch-cpu"]["generators"] == ["torch-cpu"]
    monkeypatch.setenv("FAKE_CUDA", "1")
    result = inner.run("--repro-report=report.json", *SHOW)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*drifted from its golden*",
        "*likely cause, generator pitfalls seen in what the pipeline was given:",
        "*this golden was recorded with torch-cpu generator(s), this run used torch-cuda*Use repro_generator(), "
        "which hands out CPU generators*",
        "*the noise was drawn from a CUDA torch.Generator*",
    ])
    assert pitfalls(inner) == {"output": ["generator-mismatch", "device-generator"]}
    assert "warnings summary" not in result.stdout.str()  # listed in the failure, not warned again


def test_recording_from_a_cuda_generator_warns(inner, monkeypatch):
    inner.write(FAKE_CUDA)
    monkeypatch.setenv("FAKE_CUDA", "1")
    result = inner.regen(*SHOW)
    result.stdout.fnmatch_lines(["*ReproPitfallWarning*the noise was drawn from a CUDA torch.Generator*"])
    assert inner.load()["checks"]["output"]["torch-cpu"]["generators"] == ["torch-cuda"]


class FakeMindSpore(types.ModuleType):
    """What the mindspore-cpu backend calls (see tests/test_mindspore_backend.py for the fuller fake)."""

    GRAPH_MODE, PYNATIVE_MODE = 0, 1

    def __init__(self):
        super().__init__("mindspore")
        self.deterministic = "OFF"

    def set_seed(self, seed):
        pass

    def set_device(self, name, device_id=None):
        pass

    def get_current_device(self):
        return types.SimpleNamespace(device_target="CPU", device_id=0)

    def set_deterministic(self, flag):
        self.deterministic = "ON" if flag else "OFF"

    def get_context(self, key):
        return {"deterministic": self.deterministic, "mode": self.PYNATIVE_MODE}[key]


MINDONE = '''
def randn_tensor(shape, generator=None, dtype=None):
    return generator.standard_normal(shape)  # mindone draws from numpy

def pipe(generator):
    return randn_tensor((1, 3, 4, 4), generator=generator)
'''


@pytest.fixture
def mindone(monkeypatch):
    """Fake mindspore and a fake mindone pipeline module binding its noise helper."""
    monkeypatch.setitem(sys.modules, "mindspore", FakeMindSpore())
    monkeypatch.setattr(ms_backend, "has_module", lambda name: name == "mindspore")
    module = types.ModuleType("mindone.diffusers.pipelines.fake")
    exec(MINDONE, module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def test_a_torch_generator_in_a_mindspore_test_fails_at_once(mindone, tmp_path):
    original = mindone.randn_tensor
    with Repro("t.py::test_ms", framework="mindspore", golden_dir=tmp_path, regen=True) as repro:
        with pytest.raises(ReproPitfallError, match=r"t\.py::test_ms: a torch\.Generator reached randn_tensor in a "
                                                    r"MindSpore test.*np\.random\.Generator\(np\.random\.PCG64"):
            mindone.pipe(torch.Generator().manual_seed(0))
        repro.check(mindone.pipe(repro.generator()))  # the numpy generator it hands out: no pitfall
    assert mindone.randn_tensor is original
    assert repro.results[0].generators == ["numpy"] and repro.results[0].pitfalls == []


def test_the_noise_helper_goes_back_even_in_modules_imported_during_a_failing_run(tmp_path):
    from diffusers.pipelines.ddim import pipeline_ddim
    from diffusers.utils import torch_utils

    original = torch_utils.randn_tensor
    late = types.ModuleType("diffusers.pipelines.late")
    with pytest.raises(RuntimeError, match="boom"), Repro("t.py::test_x", golden_dir=tmp_path):
        assert pipeline_ddim.randn_tensor is not original  # wrapped while the run is entered
        late.randn_tensor = torch_utils.randn_tensor  # what `from ...utils.torch_utils import randn_tensor` binds
        sys.modules[late.__name__] = late
        raise RuntimeError("boom")
    try:
        assert pipeline_ddim.randn_tensor is original
        assert torch_utils.randn_tensor is original and late.randn_tensor is original
    finally:
        del sys.modules[late.__name__]


def test_a_warning_outside_pytest_is_a_pytest_warning(tmp_path):
    assert issubclass(ReproPitfallWarning, pytest.PytestWarning)
    with Repro("t.py::test_x", golden_dir=tmp_path, regen=True) as repro:
        g = repro.generator()
        repro.check(torch.randn(3, generator=g), name="a")
        with pytest.warns(ReproPitfallWarning, match=r"check 'b' .* already fed check 'a'"):
            repro.check(torch.randn(3, generator=g), name="b")


def test_results_without_the_new_fields_still_load():
    old = {"test": "t.py::test_x", "check": "output", "backend": "torch-cpu", "status": "pass"}
    result = CheckResult.from_json(old)
    assert (result.pitfalls, result.generators) == ([], [])
    assert CheckResult.from_json(result.to_json()) == result


def test_the_html_report_shows_a_passing_checks_pitfalls(tmp_path):
    message = "t.py::test_x: check 'b' was drawn from a generator that had already fed check 'a'"
    result = CheckResult(test="t.py::test_x", nodeid="t.py::test_x", check="b", backend="torch-cpu",
                         status=Status.PASS, pitfalls=[{"kind": "consumed-generator", "message": message}])
    text = render_html([(tmp_path / "report.json", RunReport([result]))]).text
    assert "generator pitfall (consumed-generator): t.py::test_x: check &#x27;b&#x27; was drawn" in text


def test_a_pitfall_after_the_last_check_warns_when_the_run_ends(tmp_path, monkeypatch):
    module = types.ModuleType("diffusers.pipelines.fake_late")
    exec("import torch\ndef randn_tensor(shape, generator=None):\n    return torch.zeros(shape)\n", module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with pytest.warns(ReproPitfallWarning, match=r"t\.py::test_x: a batch of 2 .* repeated"):
        with Repro("t.py::test_x", golden_dir=tmp_path) as repro:
            g = repro.generator()
            module.randn_tensor((2, 3), generator=[g, g])  # no check follows: said at the end of the run


def test_the_module_scan_is_cached_yet_sees_modules_added_or_replaced_since(monkeypatch):
    from pytest_repro import pitfalls as watch_module

    def helper(*args, **kwargs):
        return "noise"

    def fake(name: str) -> types.ModuleType:
        module = types.ModuleType(name)
        module.randn_tensor = helper  # type: ignore[attr-defined]
        return module

    monkeypatch.setitem(sys.modules, "diffusers.fake_scan_a", fake("diffusers.fake_scan_a"))
    monkeypatch.setitem(sys.modules, "diffusers.fake_scan_b", fake("diffusers.fake_scan_b"))
    names = ["diffusers.fake_scan_a", "diffusers.fake_scan_b"]
    watch = watch_module.GeneratorWatch("t", "torch")
    with watch:
        assert all(getattr(sys.modules[name].randn_tensor, "_repro_wrapper", False) for name in names)
        # one replaced under the same name, as a re-import does: sys.modules' size and order stay as they were
        monkeypatch.setitem(sys.modules, names[0], fake(names[0]))
        watch.patch()
        assert getattr(sys.modules[names[0]].randn_tensor, "_repro_wrapper", False)
        names.append("diffusers.fake_scan_c")  # and one added since
        monkeypatch.setitem(sys.modules, names[2], fake(names[2]))
        watch.patch()
        assert getattr(sys.modules[names[2]].randn_tensor, "_repro_wrapper", False)
    for name in names:
        assert sys.modules[name].randn_tensor is helper, name  # put back on exit
