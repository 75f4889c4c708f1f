"""Ascend numerics: float32 stays float32 under determinism, for MindSpore and torch_npu.

No Ascend here: fake ``mindspore`` and ``torch_npu`` modules in ``sys.modules`` keep the vendors'
rules (MindSpore's op_precision setters refuse a second, different value; torch_npu's set_option
checks ACL_PRECISION_MODE against its own list; its HF32 switches are attributes) and log every call.
"""

from __future__ import annotations

import sys
import types

import pytest

from pytest_repro.backends import mindspore as ms_backend
from pytest_repro.backends import precision
from pytest_repro.backends import torch_npu as npu_backend

VERSIONS = {"mindspore": "2.10.0", "torch-npu": "2.6.0.post3"}
NS = "mindspore.device_context.ascend.op_precision."


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test is a fresh process as far as pinned precision goes, with known framework versions."""
    monkeypatch.setattr(precision, "_applied", {})
    monkeypatch.setattr(precision, "dist_version", VERSIONS.get)


BOOLS = (True, False)
OP_PRECISION = {  # mindspore.device_context.<device>.op_precision setters and the values each takes
    "ascend": {"precision_mode": precision.MINDSPORE_MODES, "conv_allow_hf32": BOOLS, "matmul_allow_hf32": BOOLS},
    "gpu": {"conv_allow_tf32": BOOLS, "matmul_allow_tf32": BOOLS},
}


class FakeMindSpore(types.ModuleType):
    """mindspore 2.10's determinism and op_precision setters: each may take one value per process."""

    GRAPH_MODE, PYNATIVE_MODE = 0, 1

    def __init__(self, target="Ascend", op_precision=True):
        super().__init__("mindspore")
        self.calls: list[tuple[str, object]] = []
        self.conf: dict[str, object] = {}
        self._deterministic, self._device = "OFF", "CPU"  # MindSpore's defaults
        self.device_context = types.SimpleNamespace()
        for device, setters in OP_PRECISION.items():
            namespace = types.SimpleNamespace(is_available=lambda d=device: target.lower() == d)
            if op_precision:  # device_context came with MindSpore 2.5
                namespace.op_precision = types.SimpleNamespace(**{n: self._setter(n, ok) for n, ok in setters.items()})
            setattr(self.device_context, device, namespace)

    def _setter(self, name, accepted):
        def set_value(value):
            if self.conf.get(name, value) != value:  # the same value again is a no-op in MindSpore
                raise RuntimeError(f"The '{name}' can not be set repeatedly.")
            if value not in accepted:
                raise ValueError(f"For '{name}', the value {value} must be one of {accepted}")
            self.conf[name] = value
            self.calls.append((name, value))
        return set_value

    def set_deterministic(self, flag):
        if self._deterministic == "ON":
            raise RuntimeError("The 'mindspore.set_deterministic' can not be set repeatedly.")
        self._deterministic = "ON"
        self.calls.append(("set_deterministic", flag))

    def get_context(self, key):
        return {"deterministic": self._deterministic, "mode": self.PYNATIVE_MODE}[key]

    def set_device(self, name, device_id=None):
        self._device = name
        self.calls.append(("set_device", name))

    def get_current_device(self):
        return types.SimpleNamespace(device_target=self._device, device_id=0)


@pytest.fixture
def fake_ms(monkeypatch):
    fake = FakeMindSpore()
    monkeypatch.setitem(sys.modules, "mindspore", fake)
    return fake


def run_deterministic(backend, times=1):
    for _ in range(times):
        with backend.deterministic(True):
            pass


# ---- the option's vocabulary ----


def test_the_option_takes_the_vendor_modes_and_vendor_and_names_the_choices():
    assert precision.PRECISION_MODES == ("vendor", "must_keep_origin_dtype", "force_fp32", "allow_fp32_to_fp16",
                                         "force_fp16", "allow_fp32_to_bf16", "allow_mix_precision",
                                         "allow_mix_precision_fp16", "allow_mix_precision_bf16")
    assert set(precision.TORCH_NPU_MODES) < set(precision.PRECISION_MODES)
    assert [precision.precision_mode_value(m) for m in precision.PRECISION_MODES] == list(precision.PRECISION_MODES)
    with pytest.raises(ValueError, match=r"unknown precision mode 'fp8'; choose one of vendor, must_keep_origin_dtype"):
        precision.precision_mode_value("fp8")
    for backend in (ms_backend.MindSporeAscend(), ms_backend.MindSporeGPU(), npu_backend.TorchNPU()):
        assert backend.precision_mode == "must_keep_origin_dtype"


# ---- MindSpore on Ascend ----


def test_mindspore_ascend_pins_mode_then_hf32_once_per_process(fake_ms):
    backend = ms_backend.MindSporeAscend()
    assert backend.setup() is None
    run_deterministic(backend, times=2)
    run_deterministic(ms_backend.MindSporeAscend())  # another instance, same process: nothing more to call
    assert fake_ms.calls == [("set_device", "Ascend"), ("set_deterministic", True),
                             ("precision_mode", "must_keep_origin_dtype"), ("conv_allow_hf32", False),
                             ("matmul_allow_hf32", False)]
    fp = backend.fingerprint()
    assert (fp["precision_mode"], fp["hf32_conv"], fp["hf32_matmul"]) == ("must_keep_origin_dtype", False, False)


def test_mindspore_vendor_or_no_determinism_sets_nothing_and_the_golden_says_vendor(fake_ms):
    backend = ms_backend.MindSporeAscend()
    with backend.deterministic(False):
        assert backend.fingerprint()["precision_mode"] == "vendor"
    backend.precision_mode = "vendor"
    assert backend.setup() is None
    run_deterministic(backend)
    assert [name for name, _ in fake_ms.calls] == ["set_device", "set_deterministic"]
    fp = backend.fingerprint()
    assert (fp["precision_mode"], fp["hf32_conv"], fp["hf32_matmul"]) == ("vendor", "vendor", "vendor")


def test_a_910a_vendor_golden_and_an_a2_golden_differ_by_precision_mode(fake_ms):
    backend = ms_backend.MindSporeAscend()
    backend.precision_mode = "vendor"
    run_deterministic(backend)
    vendor = backend.fingerprint()
    precision._applied.clear()  # a second process, pinned
    run_deterministic(ms_backend.MindSporeAscend())
    pinned = ms_backend.MindSporeAscend().fingerprint()
    assert {k for k in pinned if pinned[k] != vendor.get(k)} == {"precision_mode", "hf32_conv", "hf32_matmul"}


def test_the_users_mode_is_applied_and_a_second_one_in_the_process_refused(fake_ms):
    first = ms_backend.MindSporeAscend()
    first.precision_mode = "allow_fp32_to_fp16"
    run_deterministic(first)
    assert ("precision_mode", "allow_fp32_to_fp16") in fake_ms.calls
    assert first.fingerprint()["precision_mode"] == "allow_fp32_to_fp16"
    with pytest.raises(precision.PrecisionUnavailable, match=r"mindspore 2\.10\.0: precision mode "
                       r"'must_keep_origin_dtype' .* already set 'allow_fp32_to_fp16' .*once per process"):
        run_deterministic(ms_backend.MindSporeAscend())
    vendor = ms_backend.MindSporeAscend()
    vendor.precision_mode = "vendor"
    with pytest.raises(precision.PrecisionUnavailable, match="once per process"):
        run_deterministic(vendor)  # the process can't go back to the vendor's defaults either


def test_a_mode_set_elsewhere_in_the_process_is_explained(fake_ms):
    fake_ms.device_context.ascend.op_precision.precision_mode("force_fp16")  # say, the user's conftest
    with pytest.raises(precision.PrecisionUnavailable) as info:
        run_deterministic(ms_backend.MindSporeAscend())
    message = str(info.value)
    assert NS + "precision_mode('must_keep_origin_dtype')" in message and "mindspore 2.10.0" in message
    assert "can not be set repeatedly" in message and "--repro-precision-mode=vendor" in message


def test_mindspore_without_op_precision_skips_in_setup_naming_setting_and_version(monkeypatch):
    monkeypatch.setitem(sys.modules, "mindspore", FakeMindSpore(op_precision=False))
    monkeypatch.setitem(VERSIONS, "mindspore", "2.4.1")
    backend = ms_backend.MindSporeAscend()
    reason = backend.setup()
    assert reason is not None
    assert "mindspore 2.4.1 has no " + NS + "precision_mode" in reason and "--repro-precision-mode=vendor" in reason
    run_deterministic(backend)  # called without setup(): what exists is set, the fingerprint says the rest
    assert backend.fingerprint()["precision_mode"] == "vendor"
    backend.precision_mode = "vendor"
    assert backend.setup() is None


def test_an_unknown_mode_set_from_python_is_a_clear_error(fake_ms):
    backend = ms_backend.MindSporeAscend()
    backend.precision_mode = "fp8"
    reason = backend.setup()
    assert reason is not None and "mindspore 2.10.0" in reason
    assert "precision mode 'fp8'; choose one of vendor, must_keep_origin_dtype" in reason
    with pytest.raises(precision.PrecisionUnavailable, match=r"mindspore 2\.10\.0: .*'fp8'; choose one of vendor"):
        run_deterministic(backend)


# ---- MindSpore on GPU and CPU ----


def test_mindspore_gpu_switches_tf32_off_once_and_the_cpu_has_nothing_to_pin(monkeypatch):
    gpu = FakeMindSpore(target="GPU")
    monkeypatch.setitem(sys.modules, "mindspore", gpu)
    backend = ms_backend.MindSporeGPU()
    assert backend.fingerprint()["tf32_conv"] == "vendor"
    run_deterministic(backend, times=2)
    assert gpu.calls == [("set_deterministic", True), ("conv_allow_tf32", False), ("matmul_allow_tf32", False)]
    fp = backend.fingerprint()
    assert (fp["tf32_conv"], fp["tf32_matmul"]) == (False, False) and "hf32_conv" not in fp
    cpu = FakeMindSpore(target="CPU")
    monkeypatch.setitem(sys.modules, "mindspore", cpu)
    backend = ms_backend.MindSporeCPU()
    backend.precision_mode = "fp8"  # meaningless on a CPU, so not even checked
    assert backend.setup() is None
    run_deterministic(backend)
    assert cpu.calls == [("set_deterministic", True)]
    assert not {"precision_mode", "hf32_conv", "tf32_conv"} & set(backend.fingerprint())


# ---- torch_npu ----


class HF32Switch:
    """torch_npu.npu.conv / .matmul: ``allow_hf32`` reads and writes an ACL option; writes are logged."""

    def __init__(self, name, calls, value):
        self.name, self.calls, self._value = name, calls, value

    @property
    def allow_hf32(self):
        return self._value

    @allow_hf32.setter
    def allow_hf32(self, value):
        self.calls.append((f"{self.name}.allow_hf32", value))
        self._value = value


def fake_torch_npu(hf32=True, accepted=precision.TORCH_NPU_MODES):
    calls: list[tuple[str, object]] = []

    def set_option(option):
        value = option["ACL_PRECISION_MODE"]
        if value not in accepted:  # as torch_npu's npu_config._option_map check
            raise ValueError(f"value of ACL_PRECISION_MODE should be in {list(accepted)} but got {value}")
        calls.append(("set_option", dict(option)))

    npu = types.SimpleNamespace(set_option=set_option, is_available=lambda: True, manual_seed_all=lambda s: None,
                                current_device=lambda: 0, get_device_name=lambda i: "Ascend910B2")
    if hf32:
        npu.conv, npu.matmul = HF32Switch("conv", calls, True), HF32Switch("matmul", calls, False)
    module = types.ModuleType("torch_npu")
    module.npu, module.calls = npu, calls
    return module


@pytest.fixture
def npu(monkeypatch):
    torch = pytest.importorskip("torch")
    fake = fake_torch_npu()
    monkeypatch.setitem(sys.modules, "torch_npu", fake)
    monkeypatch.setattr(torch, "npu", fake.npu, raising=False)  # torch_npu registers itself as torch.npu
    return fake


def test_torch_npu_pins_the_mode_once_and_turns_hf32_off_for_the_block(npu):
    backend = npu_backend.TorchNPU()
    assert backend.setup() is None
    with backend.deterministic(True):
        assert (npu.npu.conv.allow_hf32, npu.npu.matmul.allow_hf32) == (False, False)
        fp = backend.fingerprint()
    assert (fp["precision_mode"], fp["hf32_conv"], fp["hf32_matmul"]) == ("must_keep_origin_dtype", False, False)
    assert (npu.npu.conv.allow_hf32, npu.npu.matmul.allow_hf32) == (True, False)  # restored
    run_deterministic(backend)
    block = [("conv.allow_hf32", False), ("matmul.allow_hf32", False), ("conv.allow_hf32", True),
             ("matmul.allow_hf32", False)]
    assert npu.calls == [("set_option", {"ACL_PRECISION_MODE": "must_keep_origin_dtype"}), *block, *block]


def test_torch_npu_restores_a_user_hf32_setting_even_when_the_test_raises(npu):
    npu.npu.matmul.allow_hf32 = True
    with pytest.raises(ZeroDivisionError), npu_backend.TorchNPU().deterministic(True):
        assert npu.npu.matmul.allow_hf32 is False
        1 / 0  # noqa: B018
    assert npu.npu.matmul.allow_hf32 is True


def test_torch_npu_vendor_and_no_determinism_touch_nothing(npu):
    backend = npu_backend.TorchNPU()
    with backend.deterministic(False):
        assert backend.fingerprint()["precision_mode"] == "vendor"
    backend.precision_mode = "vendor"
    with backend.deterministic(True):
        fp = backend.fingerprint()
    assert npu.calls == []
    assert (fp["precision_mode"], fp["hf32_conv"], fp["hf32_matmul"]) == ("vendor", True, False)  # read back


def test_torch_npu_refuses_a_second_mode_in_one_process(npu):
    first = npu_backend.TorchNPU()
    first.precision_mode = "allow_fp32_to_fp16"
    run_deterministic(first)
    with pytest.raises(precision.PrecisionUnavailable, match=r"torch-npu 2\.6\.0\.post3: precision mode "
                       r"'must_keep_origin_dtype' .* already set 'allow_fp32_to_fp16' .*once per process"):
        run_deterministic(npu_backend.TorchNPU())


def test_torch_npu_skips_a_mode_only_mindspore_accepts(npu):
    backend = npu_backend.TorchNPU()
    backend.precision_mode = "force_fp16"
    reason = backend.setup()
    assert reason is not None and "torch-npu 2.6.0.post3" in reason and "ACL_PRECISION_MODE" in reason
    assert "(MindSpore accepts it)" in reason and "must_keep_origin_dtype, allow_fp32_to_fp16" in reason
    with pytest.raises(precision.PrecisionUnavailable, match="force_fp16"):
        run_deterministic(backend)
    assert npu.calls == []


def test_a_torch_npu_that_cant_pin_the_mode_names_the_setting_and_version(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setitem(sys.modules, "torch_npu", fake_torch_npu(hf32=False))  # an old torch_npu
    monkeypatch.setitem(VERSIONS, "torch-npu", "1.11.0")
    backend = npu_backend.TorchNPU()
    reason = backend.setup()
    assert reason is not None and "torch-npu 1.11.0 has no torch_npu.npu.conv.allow_hf32" in reason
    assert "--repro-precision-mode=vendor" in reason
    backend.precision_mode = "vendor"
    assert backend.setup() is None
    monkeypatch.setitem(sys.modules, "torch_npu", fake_torch_npu(accepted=("allow_fp32_to_fp16",)))
    with pytest.raises(precision.PrecisionUnavailable) as info:
        run_deterministic(npu_backend.TorchNPU())  # set_option itself refuses the mode
    message = str(info.value)
    assert "torch-npu 1.11.0 refused torch_npu.npu.set_option('must_keep_origin_dtype')" in message
    assert "should be in" in message
    assert precision._applied == {}  # nothing pinned: a later request may still try
