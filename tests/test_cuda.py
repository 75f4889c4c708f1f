"""--repro-backend=cuda: a clean skip without a GPU; with one, CUDA runs against the CPU golden."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
cpu_only = pytest.mark.skipif(HAS_CUDA, reason="checks the skip on a machine without a GPU")

SMALL_TEST = """
import torch

def test_x(repro_backend, repro_generator, repro_golden):
    out = torch.randn(64, 64, generator=repro_generator(0)).to(repro_backend.device)
    repro_golden.check(torch.nn.functional.softmax(out @ out.T / 8, dim=-1))
"""

# The tiny DDIM pipeline shipped with the suite, run on the backend's device from two kinds of noise.
DDIM_TEST = """
import diffusers
import torch
from pytest_repro.suite.checkpoints import TINY_DDPM

def run(device, generator):
    pipe = diffusers.DDIMPipeline.from_pretrained(TINY_DDPM).to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe(num_inference_steps=2, output_type="np", generator=generator).images

def test_cpu_generator(repro_backend, repro_generator, repro_golden):
    repro_golden.check(run(repro_backend.device, repro_generator(0)))

def test_device_generator(repro_backend, repro_golden):
    # The mistake pytest-repro exists to catch: noise drawn on the device differs from the CPU's.
    repro_golden.check(run(repro_backend.device, torch.Generator(repro_backend.device).manual_seed(0)))
"""


@cpu_only
def test_cuda_is_skipped_with_the_reason_without_a_gpu(inner):
    inner.write(SMALL_TEST)
    result = inner.run("--repro-backend=cuda", "-rs")
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["SKIPPED ?1? test_inner.py*: backend torch-cuda: *CUDA*torch.cuda.is_available()*"])
    assert not (inner.path / "golden").exists()


@cpu_only
def test_cpu_and_cuda_variants_share_one_golden(inner):
    inner.write(SMALL_TEST)
    inner.regen("--repro-backend=cpu,cuda")
    result = inner.run("--repro-backend=cpu,cuda", "-v", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*test_inner.py::test_x?cpu? PASSED*", "*test_inner.py::test_x?cuda? SKIPPED*"])
    result.stdout.fnmatch_lines(["SKIPPED ?1? *backend torch-cuda: *CUDA*"])
    assert [p.name for p in (inner.path / "golden").rglob("*.json")] == ["test_x.json"]


def test_auto_picks_the_best_available_backend(inner):
    inner.write("def test_x(repro_backend):\n    print('KEY', repro_backend.key)\n")
    result = inner.run("--repro-backend=auto", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*KEY torch-{'cuda' if HAS_CUDA else 'cpu'}*"])


@needs_cuda
def test_cuda_run_compares_with_the_cpu_golden_within_default_tolerance(inner):
    inner.write(SMALL_TEST)
    inner.regen("--repro-backend=cpu", subprocess=True)
    result = inner.run("--repro-backend=cuda", "--repro-report=report.json", subprocess=True)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["test_inner.py::test_x  output  torch-cuda  torch-cpu  *PASS"])
    (record,) = json.loads((inner.path / "report.json").read_text())["results"]
    assert record["golden_backend"] == "torch-cpu" and record["metrics"]["linf"] < 1e-3
    assert "device_name" in record["fingerprint_diff"]


@needs_cuda
def test_device_generator_fails_against_the_cpu_golden(inner):
    if importlib.util.find_spec("diffusers") is None:
        pytest.skip("needs diffusers")
    inner.write(DDIM_TEST)
    inner.regen("--repro-backend=cpu", subprocess=True)
    result = inner.run("--repro-backend=cuda", "--repro-report=report.json", subprocess=True)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*test_device_generator ?output? on torch-cuda drifted from its golden "
        "(no torch-cuda entry: compared with torch-cpu)*",
    ])
    result.stdout.fnmatch_lines(["test_inner.py::test_cpu_generator  *output  torch-cuda  torch-cpu  *PASS"])
    # Recording on CUDA adds the device's own entry beside the CPU's, with the GPU in its fingerprint.
    inner.regen("--repro-backend=cuda", "-k", "cpu_generator", subprocess=True)
    entries = inner.load("test_inner/test_cpu_generator")["checks"]["output"]
    assert sorted(entries) == ["torch-cpu", "torch-cuda"]
    assert entries["torch-cuda"]["fingerprint"]["device_name"] == torch.cuda.get_device_name()


@needs_cuda
def test_repro_deterministic_sets_cudnn_and_tf32_flags_on_cuda(inner):
    inner.write("""
import os
import torch

DEFAULTS = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)

def test_forced(repro_deterministic):
    assert repro_deterministic.key == "torch-cuda"
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":16:8", ":4096:8")
    x = torch.randn(256, 256, device=repro_deterministic.device)
    torch.testing.assert_close(x @ x, x @ x, rtol=0, atol=0)

def test_restored():
    assert not torch.are_deterministic_algorithms_enabled()
    now = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
           torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    assert now == DEFAULTS
""")
    result = inner.run("--repro-backend=cuda", "--repro-no-deterministic", "-p", "no:randomly", subprocess=True)
    result.assert_outcomes(passed=2)
