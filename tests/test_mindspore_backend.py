"""MindSpore and Ascend backends: selection, skip reasons, determinism rule, numpy generators.

Most tests put a fake ``mindspore`` (or ``torch_npu``) module in ``sys.modules``, so they run on
any machine; the ones marked ``real`` need MindSpore and run in the ``tox -e mindspore`` environment.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest

from pytest_repro import backends
from pytest_repro.backends import mindspore as ms_backend
from pytest_repro.backends import torch_npu
from pytest_repro.identity import BackendKey
from pytest_repro.marker import Marker
from pytest_repro.selection import BackendUnavailable, select_backend

# The real-MindSpore tests run in a subprocess: importing mindspore here, after the fakes below have
# been in sys.modules, would half-import it. Presence is checked without importing.
real = pytest.mark.skipif(importlib.util.find_spec("mindspore") is None, reason="needs MindSpore (tox -e mindspore)")


class FakeMindSpore(types.ModuleType):
    """Just enough of mindspore 2.10's API, with its once-per-process determinism rule."""

    GRAPH_MODE, PYNATIVE_MODE = 0, 1

    def __init__(self, ascend=False, gpu=False):
        super().__init__("mindspore")
        self.calls: list[object] = []
        self._deterministic = "OFF"
        self._set_once = False
        self.device_context = types.SimpleNamespace(
            ascend=types.SimpleNamespace(is_available=lambda: ascend),
            gpu=types.SimpleNamespace(is_available=lambda: gpu),
        )
        self.Tensor = type("Tensor", (), {})

    def set_deterministic(self, flag):
        if self._set_once:
            raise RuntimeError("The 'mindspore.set_deterministic' can not be set repeatedly.")
        self._set_once = True
        self._deterministic = "ON" if flag else "OFF"
        self.calls.append(("set_deterministic", flag))

    def get_context(self, key):
        return {"deterministic": self._deterministic, "mode": self.PYNATIVE_MODE}[key]

    def set_seed(self, seed):
        self.calls.append(("set_seed", seed))

    def set_device(self, name, device_id=None):
        self.calls.append(("set_device", name))

    def get_current_device(self):
        return types.SimpleNamespace(device_target="CPU", device_id=0)


@pytest.fixture
def fake_ms(monkeypatch):
    fake = FakeMindSpore()
    monkeypatch.setitem(sys.modules, "mindspore", fake)
    monkeypatch.setattr(ms_backend, "has_module", lambda name: name == "mindspore")
    return fake


@pytest.mark.parametrize(
    ("name", "framework", "key"),
    [
        ("cpu", "torch", "torch-cpu"),
        ("cuda", "torch", "torch-cuda"),
        ("ascend", "torch", "torch-ascend"),
        ("cpu", "mindspore", "mindspore-cpu"),
        ("cuda", "mindspore", "mindspore-cuda"),
        ("ascend", "mindspore", "mindspore-ascend"),
        ("mindspore-cpu", "mindspore", "mindspore-cpu"),
        ("mindspore-cpu", "torch", None),
        ("torch-ascend", "mindspore", None),
    ],
)
def test_every_framework_device_pair_selects_its_backend(name, framework, key):
    assert BackendKey.for_word(name, framework) == key
    if key is not None:
        backend = backends.load(key)
        assert (backend.framework, backend.key) == (framework, key)


def test_ascend_picks_torch_npu_for_torch_and_mindspore_for_mindspore():
    assert type(backends.load(BackendKey.for_word("ascend", "torch"))).__name__ == "TorchNPU"
    assert type(backends.load(BackendKey.for_word("ascend", "mindspore"))).__name__ == "MindSporeAscend"
    assert backends.load("torch-ascend").device == "npu"


def test_missing_mindspore_skips_naming_what_to_install(monkeypatch):
    monkeypatch.setattr(ms_backend, "has_module", lambda name: False)
    with pytest.raises(BackendUnavailable, match="pip install mindspore"):
        select_backend("ascend", Marker(framework="mindspore"), "t.py::test")


def test_missing_torch_npu_skips_naming_torch_npu(monkeypatch):
    monkeypatch.setattr(torch_npu, "has_module", lambda name: False)
    with pytest.raises(BackendUnavailable, match="torch_npu"):
        select_backend("ascend", Marker(), "t.py::test")


def test_torch_npu_present_is_detected_and_sets_hccl(monkeypatch):
    torch = pytest.importorskip("torch")
    npu = types.SimpleNamespace(is_available=lambda: True, manual_seed_all=lambda seed: None)
    monkeypatch.setattr(torch_npu, "has_module", lambda name: True)
    monkeypatch.setitem(sys.modules, "torch_npu", types.ModuleType("torch_npu"))
    monkeypatch.setattr(torch, "npu", npu, raising=False)
    monkeypatch.delenv("HCCL_DETERMINISTIC", raising=False)
    backend = select_backend("ascend", Marker(), "t.py::test")
    assert backend.key == "torch-ascend"
    import os

    with backend.deterministic(True):
        assert os.environ["HCCL_DETERMINISTIC"] == "true"
        assert torch.are_deterministic_algorithms_enabled()
    assert "HCCL_DETERMINISTIC" not in os.environ


def test_mindspore_ascend_without_npu_says_what_was_looked_for(fake_ms):
    with pytest.raises(BackendUnavailable, match=r"device_context\.ascend\.is_available"):
        select_backend("ascend", Marker(framework="mindspore"), "t.py::test")


def test_mindspore_cpu_is_available_and_sets_the_device(fake_ms):
    backend = select_backend("cpu", Marker(framework="mindspore"), "t.py::test")
    backend.setup()
    backend.seed_all(7)
    assert ("set_seed", 7) in fake_ms.calls
    assert backend.fingerprint()["mode"] == "PYNATIVE"


def test_determinism_is_set_once_and_a_second_request_does_not_crash(fake_ms):
    backend = ms_backend.MindSporeCPU()
    with backend.deterministic(True):
        assert fake_ms.get_context("deterministic") == "ON"
    with backend.deterministic(True):  # already on: no second set_deterministic call
        pass
    assert fake_ms.calls.count(("set_deterministic", True)) == 1
    assert backend.fingerprint()["deterministic"] is True


def test_determinism_that_can_no_longer_be_had_is_explained(fake_ms):
    fake_ms.set_deterministic(False)  # someone switched it off for this process already
    with pytest.raises(ms_backend.DeterminismUnavailable, match="once per process"):
        with ms_backend.MindSporeCPU().deterministic(True):
            pass


def test_numpy_generators_are_pcg64_and_distinct_per_seed():
    backend = ms_backend.MindSporeCPU()
    a, b, again = backend.generator(0), backend.generator(1), backend.generator(0)
    assert isinstance(a, np.random.Generator) and isinstance(a.bit_generator, np.random.PCG64)
    first = a.standard_normal(4)
    assert np.array_equal(first, again.standard_normal(4))
    assert not np.array_equal(first, b.standard_normal(4))


@pytest.mark.parametrize(("version", "broken"), [("0.3.0", False), ("0.4.0", True), ("0.5.1", True)])
def test_mindone_versions_without_cpu_kernels_are_named(monkeypatch, version, broken):
    monkeypatch.setattr(ms_backend, "dist_version", lambda name: version if name == "mindone" else None)
    reason = ms_backend.MindSporeCPU().mindone_reason()
    assert (reason is not None) == broken
    if broken:
        assert version in reason and "0.3.0" in reason
    assert ms_backend.MindSporeAscend().mindone_reason() is None


@real
def test_batch_of_numpy_generators_in_a_real_run(pytester):
    pytester.makepyfile(
        """
        import numpy as np, pytest

        @pytest.mark.repro(framework="mindspore")
        def test_gens(repro_generator, repro_backend):
            gens = repro_generator(3, batch=3)
            assert repro_backend.key == "mindspore-cpu"
            assert len({id(g) for g in gens}) == 3
            draws = [g.standard_normal() for g in gens]
            assert len(set(draws)) == 3
            assert draws[0] == np.random.Generator(np.random.PCG64(3)).standard_normal()
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


@real
def test_real_mindspore_determinism_and_tensor_check(pytester):
    pytester.makepyfile(
        """
        import mindspore, numpy as np, pytest
        pytestmark = pytest.mark.repro(framework="mindspore")

        def test_first(repro_deterministic, repro_golden):
            assert mindspore.get_context("deterministic") == "ON"
            repro_golden.check(mindspore.Tensor(np.arange(6, dtype=np.float16).reshape(2, 3)))

        def test_second_request_in_same_process(repro_deterministic):
            assert mindspore.get_context("deterministic") == "ON"
        """
    )
    pytester.runpytest_subprocess("--repro-regen").assert_outcomes(passed=2)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_first*output*mindspore-cpu*PASS*"])
