"""The fixtures a test author uses: repro_generator, repro_deterministic, repro_backend, repro_settings."""

from __future__ import annotations

import pytest


def test_repro_generator_gives_seeded_cpu_torch_generators(inner):
    inner.write("""
import torch

def test_single(repro_generator):
    gen = repro_generator(7)
    assert isinstance(gen, torch.Generator)
    assert gen.device.type == "cpu"
    assert gen.initial_seed() == 7
    assert torch.equal(torch.randn(5, generator=gen), torch.randn(5, generator=torch.Generator().manual_seed(7)))

def test_default_seed_is_the_run_seed(repro_generator):
    assert repro_generator().initial_seed() == 11

def test_batch(repro_generator):
    gens = repro_generator(0, batch=3)
    assert isinstance(gens, list) and len(gens) == 3
    assert len({id(g) for g in gens}) == 3
    assert [g.initial_seed() for g in gens] == [0, 1, 2]
    firsts = [torch.randn(1, generator=g).item() for g in gens]
    assert len(set(firsts)) == 3

def test_fresh_generator_per_call(repro_generator):
    a, b = repro_generator(3), repro_generator(3)
    assert a is not b
    assert torch.equal(torch.randn(4, generator=a), torch.randn(4, generator=b))
""")
    inner.run("--repro-seed=11").assert_outcomes(passed=4)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("repro_generator(-1)", "repro_generator: seed must be an integer in [[]0, 2**32), got -1"),
        ("repro_generator('x')", "repro_generator: expected an integer seed, got 'x'"),
        ("repro_generator(1.5)", "repro_generator: expected an integer seed, got 1.5"),
        ("repro_generator(0, batch=0)", "repro_generator: expected a positive whole number, got 0"),
        ("repro_generator(0, batch=2.0)", "repro_generator: expected a whole number, got 2.0"),
        ("repro_generator(2**32)", "repro_generator: seed must be an integer in [[]0, 2**32), got 4294967296"),
        ("repro_generator(2**32 - 1, batch=2)", "repro_generator seeds must stay below 2**32, got 4294967295..*"),
    ],
)
def test_repro_generator_rejects_bad_seed_and_batch_naming_the_test(inner, call, message):
    inner.write(f"def test_bad(repro_generator):\n    {call}\n")
    result = inner.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"E   *ValueError: test_inner.py::test_bad: {message}"])


def test_repro_deterministic_forces_determinism_for_one_test_and_restores(inner):
    inner.write("""
import torch

def test_before(repro_backend):
    assert not torch.are_deterministic_algorithms_enabled()

def test_forced(repro_deterministic):
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    assert not torch.backends.cuda.matmul.allow_tf32

def test_after():
    assert not torch.are_deterministic_algorithms_enabled()
""")
    inner.run("--repro-no-deterministic", "-p", "no:randomly").assert_outcomes(passed=3)


def test_default_determinism_is_on_during_the_test_and_restored_after(inner):
    inner.write("""
import os
import torch

def test_on(repro_backend):
    assert torch.are_deterministic_algorithms_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":16:8", ":4096:8")

def test_off_again():
    assert not torch.are_deterministic_algorithms_enabled()
""")
    inner.run("-p", "no:randomly", subprocess=True).assert_outcomes(passed=2)


def test_no_deterministic_leaves_the_framework_alone(inner):
    inner.write("""
import torch

def test_off(repro_backend, repro_generator):
    repro_generator(0)
    assert not torch.are_deterministic_algorithms_enabled()
""")
    inner.run("--repro-no-deterministic").assert_outcomes(passed=1)


def test_repro_backend_describes_the_cpu_backend(inner):
    inner.write("""
import torch

def test_backend(repro_backend):
    assert repro_backend.device == "cpu"
    assert repro_backend.key == repro_backend.name == "torch-cpu"
    assert repro_backend.framework == "torch"
    assert repro_backend.device_kind == "cpu"
    torch.ones(2).to(repro_backend.device)

def test_global_rng_seeded_with_the_run_seed(repro_backend):
    assert torch.initial_seed() == 5
""")
    inner.run("--repro-seed=5").assert_outcomes(passed=2)


def test_repro_settings_is_the_resolved_frozen_settings(inner):
    inner.write("""
import dataclasses
import pytest

def test_settings(repro_settings):
    assert repro_settings.seed == 4 and repro_settings.backends == ("cpu",)
    assert repro_settings.tolerance_for("torch-cpu", {}).atol == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        repro_settings.seed = 1
""")
    inner.ini("repro_seed = 4")
    inner.run("--repro-atol=0.5").assert_outcomes(passed=1)


def test_seeds_drawn_are_recorded_in_the_golden(inner):
    inner.write("""
import torch

def test_x(repro_generator, repro_golden):
    a = torch.randn(3, generator=repro_generator(5))
    b = [torch.randn(3, generator=g) for g in repro_generator(20, batch=2)]
    repro_golden.check(torch.stack([a, *b]))

def test_no_generator(repro_golden):
    repro_golden.check(torch.zeros(2))
""")
    inner.regen("--repro-seed=9")
    assert inner.load()["checks"]["output"]["torch-cpu"]["seed"] == [5, 20, 21]
    assert inner.load("test_inner/test_no_generator")["checks"]["output"]["torch-cpu"]["seed"] == [9]


def test_check_names_are_unique_per_test(inner):
    inner.write("""
import torch

def test_x(repro_golden):
    repro_golden.check(torch.zeros(2))
    repro_golden.check(torch.ones(2))
    repro_golden.check(torch.ones(3), name="latents")
    repro_golden.check(torch.ones(3), name="latents")
""")
    result = inner.run("--repro-regen")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*check name 'latents' used twice in one test*"])
    assert sorted(inner.load()["checks"]) == ["latents", "output", "output_2"]
