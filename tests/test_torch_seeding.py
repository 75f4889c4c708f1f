"""seed_all on PyTorch: what torch.manual_seed seeds, without its cost where only the CPU is there to seed."""

from __future__ import annotations

import sys
import types

import pytest

torch = pytest.importorskip("torch")

from pytest_repro import pitfalls  # noqa: E402
from pytest_repro.backends import _torch  # noqa: E402
from pytest_repro.backends.torch_cpu import TorchCPU  # noqa: E402


@pytest.fixture
def calls(monkeypatch):
    """torch.manual_seed, counted; the device look-up asked afresh in each test."""
    made: list[int] = []
    real = torch.manual_seed
    monkeypatch.setattr(torch, "manual_seed", lambda seed: made.append(seed) or real(seed))
    _torch._no_device_module.cache_clear()
    yield made
    _torch._no_device_module.cache_clear()


def draws(seed_with, seed: int) -> torch.Tensor:
    seed_with(seed)
    return torch.rand(5)


def test_a_cpu_only_process_gets_the_cpu_stream_torch_manual_seed_gives(calls, monkeypatch):
    for name in ("cuda", "xpu", "mtia"):
        monkeypatch.setattr(getattr(torch, name), "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    backend = TorchCPU()
    mine = draws(backend.seed_all, 7)
    assert calls == []  # the CPU generator alone, no queued device seeds
    assert torch.equal(mine, draws(torch.manual_seed, 7))
    assert not torch.equal(mine, draws(backend.seed_all, 8))


@pytest.mark.parametrize("device", ["cuda", "xpu", "mtia", "mps"])
def test_where_a_device_is_there_torch_manual_seed_seeds_it_too(calls, monkeypatch, device):
    module = torch.backends.mps if device == "mps" else getattr(torch, device)
    monkeypatch.setattr(module, "is_available", lambda: True)
    TorchCPU().seed_all(3)
    assert calls == [3]


def test_an_out_of_tree_device_is_seeded_by_torch_manual_seed(calls, monkeypatch):
    fake = types.SimpleNamespace(_is_in_bad_fork=lambda: False, manual_seed_all=lambda seed: None)
    monkeypatch.setattr(torch._C, "_get_privateuse1_backend_name", lambda: "fakedevice")
    monkeypatch.setattr(torch, "fakedevice", fake, raising=False)
    TorchCPU().seed_all(4)
    assert calls == [4]


def test_the_noise_helper_is_looked_for_only_where_a_pipeline_library_is_loaded(monkeypatch):
    monkeypatch.setattr(pitfalls, "PATCHED", ("no_such_pipeline_library",))
    assert pitfalls._modules() == []
    library = types.ModuleType("no_such_pipeline_library")
    library.randn_tensor = lambda *a, **k: None  # type: ignore[attr-defined]
    utils = types.ModuleType("no_such_pipeline_library.utils")
    monkeypatch.setitem(sys.modules, "no_such_pipeline_library", library)
    monkeypatch.setitem(sys.modules, "no_such_pipeline_library.utils", utils)
    found = pitfalls._modules()
    assert vars(library) in found and vars(utils) in found
