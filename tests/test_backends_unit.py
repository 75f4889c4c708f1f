"""Backends: registry and key lookup, PyTorch generators, determinism switches, availability, fingerprints.

Tests that flip process-wide torch switches go through the ``torch_state`` fixture, which restores
every switch afterwards even when the code under test forgets to.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re

import pytest

from pytest_repro import backends
from pytest_repro.backends import BUILTIN, load, registry
from pytest_repro.backends._torch import CUBLAS_WORKSPACE
from pytest_repro.identity import BackendKey

# ---- registry (no framework needed) ----


def test_registry_has_the_builtin_keys():
    assert set(BUILTIN) == {f"{fw}-{dev}" for fw in ("torch", "mindspore") for dev in ("cpu", "cuda", "ascend")}
    assert set(BUILTIN) <= set(registry())


@pytest.mark.parametrize("key", sorted(BUILTIN))
def test_every_builtin_backend_can_be_constructed_without_its_framework(key):
    module_name, _, attr = BUILTIN[key].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    backend = cls()
    assert backend.key == key


@pytest.mark.parametrize(("name", "framework", "key"), [
    ("cpu", "torch", "torch-cpu"),
    ("cuda", "torch", "torch-cuda"),
    ("ascend", "mindspore", "mindspore-ascend"),
    ("torch-cuda", "torch", "torch-cuda"),
    ("mindspore-cpu", "torch", None),  # pins another framework
    ("torch-cpu", "mindspore", None),
    ("mindspore-cpu", "mindspore", "mindspore-cpu"),
])
def test_for_word(name, framework, key):
    assert BackendKey.for_word(name, framework) == key


def test_for_word_does_not_match_a_framework_prefix():
    assert BackendKey.for_word("torchx-cpu", "torch") is None


@pytest.mark.parametrize(("text", "framework", "device", "fallback", "word"), [
    ("torch-cuda", "torch", "cuda", "torch-cpu", "cuda"),
    ("mindspore-ascend", "mindspore", "ascend", "mindspore-cpu", "ascend"),
    ("torch-cpu", "torch", "cpu", "torch-cpu", "cpu"),
    ("torch-xpu", "torch", "xpu", "torch-cpu", "torch-xpu"),  # a third-party device needs its whole key
])
def test_backend_key_parses_prints_and_falls_back(text, framework, device, fallback, word):
    key = BackendKey(text)
    assert (key.framework, key.device, key.fallback, key.word) == (framework, device, fallback, word)
    assert str(key) == text and key == text and BackendKey.of(framework, device) == key
    assert BackendKey.for_word(key.word, framework) == key  # the word selects the key back


@pytest.mark.parametrize("text", ["torch", "Torch-CPU", "torch-cpu/../x", "", "torch-"])
def test_backend_key_refuses_what_is_not_a_key(text):
    with pytest.raises(ValueError, match="not a backend key"):
        BackendKey(text)


def test_every_registered_key_is_a_backend_key():
    assert all(isinstance(key, BackendKey) for key in registry())


def test_load_unknown_key_lists_known_ones():
    with pytest.raises(KeyError, match="no backend registered as 'jax-tpu'; known: .*torch-cpu.*torch-cuda"):
        load("jax-tpu")


FAKE_BACKENDS = """
from pytest_repro.backends.torch_cpu import TorchCPU
class Liar(TorchCPU):  # registered as torch-liar; its own key is torch-cpu
    pass
class Climber(TorchCPU):
    device_kind = "cpu/../../x"
class Honest(TorchCPU):
    device_kind = "xpu"
class NoBackend:
    pass
"""


@pytest.fixture
def entry_points(monkeypatch, tmp_path):
    """Register ``name = fake_backends:Class`` pairs as the entry-point group would."""
    (tmp_path / "fake_backends.py").write_text(FAKE_BACKENDS)
    monkeypatch.syspath_prepend(str(tmp_path))

    def register(*pairs):
        monkeypatch.setattr(backends, "_entry_points", lambda: tuple(pairs))

    return register


@pytest.mark.parametrize(("name", "target", "message"), [
    ("torch-liar", "fake_backends:Liar", "registered as 'torch-liar' says its key is 'torch-cpu'; it would read "
                                         "and write torch-cpu's goldens"),
    ("torch-x", "fake_backends:Climber", "registered as 'torch-x' has no valid key of its own: 'torch-cpu/../../x' "
                                         "is not a backend key"),
    ("torch-y", "fake_backends:Missing", "registered as 'torch-y' can't be loaded: module 'fake_backends' has no"),
    ("torch-z", "fake_backends:NoBackend", "registered as 'torch-z' is not a pytest_repro Backend"),
    ("torch-w", "no_such_module:X", "registered as 'torch-w' can't be loaded: No module named 'no_such_module'"),
])
def test_a_third_party_backend_that_cant_be_itself_is_refused_when_selected(entry_points, name, target, message):
    entry_points((name, target))
    with pytest.raises(backends.BackendError) as info:
        load(name)
    assert message in str(info.value) and str(info.value).startswith(f"backend {target} ")
    with pytest.raises(ValueError, match=f"--repro-backend: backend {target} {re.escape(message[:30])}"):
        backends.check_word(name, "--repro-backend")
    assert backends.check_word("mindspore-cpu") == "mindspore-cpu"  # other words are not its business


def test_a_device_word_checks_every_third_party_backend_it_may_select(entry_points):
    entry_points(("torch-xpu", "fake_backends:Honest"), ("mindspore-cpu", "fake_backends:Liar"))
    assert backends.check_word("torch-xpu") == "torch-xpu"
    assert load("torch-xpu").key == "torch-xpu"
    with pytest.raises(ValueError, match="registered as 'mindspore-cpu' says its key is 'torch-cpu'"):
        backends.check_word("cpu")  # selects mindspore-cpu for a MindSpore test
    with pytest.raises(ValueError, match="registered as 'mindspore-cpu'"):
        backends.check_word("auto")
    assert set(backends.selected_keys("cuda")) == {"torch-cuda", "mindspore-cuda"}
    assert backends.selected_keys("torch-npu") == []  # registered by nobody


@pytest.mark.parametrize("name", ["torch-cpu/../x", "torch-a\\b", "../torch-cpu"])
def test_an_entry_point_name_with_a_path_separator_is_refused(entry_points, name):
    entry_points((name, "fake_backends:Honest"))
    with pytest.raises(ValueError, match="is not a backend key"):
        backends.check_word("cpu")


def test_auto_order_ends_with_cpu():
    assert backends.AUTO_ORDER[-1] == "cpu"


# ---- PyTorch ----


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def torch_state(torch, monkeypatch):
    """Set every switch ``deterministic()`` touches to the opposite of what it sets; restore after."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             cudnn.benchmark, cudnn.deterministic, matmul.allow_tf32, cudnn.allow_tf32)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.use_deterministic_algorithms(False)
    cudnn.benchmark, cudnn.deterministic, matmul.allow_tf32, cudnn.allow_tf32 = True, False, True, True
    yield torch
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    cudnn.benchmark, cudnn.deterministic = saved[2], saved[3]
    matmul.allow_tf32, cudnn.allow_tf32 = saved[4], saved[5]


def flags(torch):
    cudnn = torch.backends.cudnn
    return {
        "algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "benchmark": cudnn.benchmark,
        "cudnn_deterministic": cudnn.deterministic,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": cudnn.allow_tf32,
        "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


DETERMINISTIC = {"algorithms": True, "warn_only": False, "benchmark": False, "cudnn_deterministic": True,
                 "tf32_matmul": False, "tf32_cudnn": False, "cublas": CUBLAS_WORKSPACE}


@pytest.mark.parametrize("key", ["torch-cpu", "torch-cuda"])
def test_generator_is_a_seeded_cpu_generator(torch, key):
    backend = load(key)
    gen = backend.generator(1234)
    assert isinstance(gen, torch.Generator) and gen.device.type == "cpu"
    assert gen.initial_seed() == 1234
    again = torch.randn(16, generator=backend.generator(1234))
    assert torch.equal(torch.randn(16, generator=gen), again)
    assert not torch.equal(torch.randn(16, generator=backend.generator(1235)), again)


def test_seed_all_fixes_the_global_rng(torch):
    backend = load("torch-cpu")
    state = torch.random.get_rng_state()
    try:
        backend.seed_all(7)
        first = torch.rand(4)
        backend.seed_all(7)
        assert torch.equal(torch.rand(4), first)
    finally:
        torch.random.set_rng_state(state)


@pytest.mark.parametrize("key", ["torch-cpu", "torch-cuda", "torch-ascend"])
def test_deterministic_switches_on_and_restores(torch_state, key):
    torch = torch_state
    before = flags(torch)
    with load(key).deterministic(True):
        assert flags(torch) == DETERMINISTIC
    assert flags(torch) == before


def test_deterministic_restores_when_the_block_raises(torch_state):
    torch = torch_state
    torch.use_deterministic_algorithms(True, warn_only=True)  # a non-default state to come back to
    before = flags(torch)
    with pytest.raises(ZeroDivisionError), load("torch-cpu").deterministic(True):
        assert flags(torch)["warn_only"] is False
        1 / 0  # noqa: B018
    assert flags(torch) == before


def test_deterministic_keeps_a_user_cublas_setting(torch_state, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with load("torch-cuda").deterministic(True):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_deterministic_false_changes_nothing(torch_state):
    before = flags(torch_state)
    with load("torch-cpu").deterministic(False):
        assert flags(torch_state) == before


def test_npu_determinism_sets_hccl(torch_state, monkeypatch):
    monkeypatch.delenv("HCCL_DETERMINISTIC", raising=False)
    with load("torch-ascend").deterministic(True):
        assert os.environ["HCCL_DETERMINISTIC"] == "true"
    assert "HCCL_DETERMINISTIC" not in os.environ


def test_cpu_is_available(torch):
    assert load("torch-cpu").unavailable_reason() is None


def test_cuda_unavailable_reason(torch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    reason = load("torch-cuda").unavailable_reason()
    assert reason is not None and "CUDA" in reason and reason.startswith("backend torch-cuda")


def test_npu_unavailable_reason():
    if importlib.util.find_spec("torch_npu") is not None:
        pytest.skip("torch_npu is installed here")
    reason = load("torch-ascend").unavailable_reason()
    assert reason is not None and "torch_npu" in reason and "pip install torch-npu" in reason


def test_devices():
    assert [load(k).device for k in ("torch-cpu", "torch-cuda", "torch-ascend")] == ["cpu", "cuda", "npu"]


def test_cpu_fingerprint(torch_state):
    torch = torch_state
    backend = load("torch-cpu")
    fp = backend.fingerprint()
    assert fp["backend"] == "torch-cpu" and fp["torch"] == torch.__version__
    assert fp["threads"] == torch.get_num_threads()
    assert isinstance(fp["device_name"], str) and fp["device_name"]
    assert fp["deterministic_algorithms"] is False and fp["tf32_matmul"] is True and fp["cudnn_benchmark"] is True
    with backend.deterministic(True):
        inside = backend.fingerprint()
    assert inside["deterministic_algorithms"] is True and inside["tf32_matmul"] is False
    assert inside["cudnn_benchmark"] is False and inside["tf32_cudnn"] is False
    assert backend.fingerprint() == fp


def test_fingerprint_follows_thread_count(torch):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = load("torch-cpu").fingerprint()
    finally:
        torch.set_num_threads(threads)
    assert one["threads"] == 1


def test_to_numpy(torch):
    assert load("torch-cpu").to_numpy(torch.ones(2, 3)).shape == (2, 3)
