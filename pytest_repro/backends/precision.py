"""Float32 stays float32 on Ascend (and MindSpore GPU) under determinism, unless a run asks otherwise.

CANN lowers float32 in two ways by default: convolutions run in HF32 (matmuls don't), and on the Atlas
training series (910A) matrix operators fall to float16 (``allow_fp32_to_fp16``) while A2/A3 keep the
original dtype. A golden recorded under one of these can't be bitwise-compared with one recorded
under another, so under determinism pytest-repro pins them (``must_keep_origin_dtype``, HF32 off;
MindSpore GPU: TF32 off) and the fingerprint records what it pinned. ``vendor`` leaves them alone.

Standard library only: the option's validator imports this module, and frameworks are passed in by
the backends that already imported them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .base import dist_version

VENDOR = "vendor"
DEFAULT_MODE = "must_keep_origin_dtype"
# The modes mindspore.device_context.ascend.op_precision.precision_mode accepts (its own list in 2.5
# to 2.10), the operator precision modes CANN documents. CANN's cube_fp16in_fp32out (a synonym of
# force_fp32) is left out: neither framework passes it on.
MINDSPORE_MODES = (
    "must_keep_origin_dtype",
    "force_fp32",
    "allow_fp32_to_fp16",
    "force_fp16",
    "allow_fp32_to_bf16",
    "allow_mix_precision",
    "allow_mix_precision_fp16",
    "allow_mix_precision_bf16",
)
# torch_npu.npu.set_option checks ACL_PRECISION_MODE against a shorter list of its own.
TORCH_NPU_MODES = ("must_keep_origin_dtype", "allow_fp32_to_fp16")
PRECISION_MODES = (VENDOR, *MINDSPORE_MODES)

# What this process has set, per framework: (mode asked for, {setter: value} it called). MindSpore
# lets each op_precision setter run once per process, and neither framework can take a precision mode
# back, so the first request under determinism sticks (like mindspore.set_deterministic). The record
# is process-wide on purpose: one pytest process (or xdist worker) is one framework runtime.
_applied: dict[str, tuple[str, dict[str, Any]]] = {}

VENDOR_FIX = ("run with --repro-precision-mode=vendor to keep the vendor's defaults (the golden entry then "
              "says precision_mode: vendor)")


class PrecisionUnavailable(RuntimeError):
    """The run asked for a precision setting this framework, or this process, can no longer give."""


def precision_mode_value(text: str) -> str:
    """Validate ``--repro-precision-mode`` / ``repro_precision_mode``: a vendor mode name or ``vendor``."""
    if text not in PRECISION_MODES:
        raise ValueError(f"unknown precision mode {text!r}; choose one of {', '.join(PRECISION_MODES)}")
    return text


def _label(dist: str) -> str:
    return f"{dist} {dist_version(dist) or '(version unknown)'}"


def _lookup(root: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        root = getattr(root, part, None)
        if root is None:
            return None
    return root


def _mode_reason(label: str, mode: str, accepted: tuple[str, ...], setter: str) -> str | None:
    if mode == VENDOR or mode in accepted:
        return None
    also = " (MindSpore accepts it)" if mode in MINDSPORE_MODES else ""
    return (f"{label}: {setter} does not accept precision mode {mode!r}{also}; "
            f"choose one of {', '.join((VENDOR, *accepted))}")


def _pin_once(framework: str, label: str, mode: str, calls: list[tuple[str, Any, Any]]) -> None:
    """Make ``calls`` (setter name, function, value) in order the first time this process asks.

    The same settings asked again are a no-op; different ones (``vendor`` after a pinned mode
    included) are an error naming both, since neither framework can take a precision mode back.
    """
    wanted = {name: value for name, _, value in calls}
    done = _applied.get(framework)
    if done is not None:
        if done[1] != wanted:
            raise PrecisionUnavailable(
                f"{label}: precision mode {mode!r} was asked for, but this process already set {done[0]!r} "
                f"and these settings can be made once per process; run the tests that need {mode!r} in "
                f"their own pytest run (--repro-precision-mode={mode} -p no:xdist)")
        return
    for name, fn, value in calls:
        try:
            fn(value)
        except Exception as exc:  # the framework's own RuntimeError/ValueError, made to name the setting
            raise PrecisionUnavailable(
                f"{label} refused {name}({value!r}) for precision mode {mode!r} ({exc}); if something else "
                f"in this process set it already, set it in one place only, or {VENDOR_FIX}") from None
    if calls:  # nothing set (vendor) leaves the process free to pin later, as determinism off does
        _applied[framework] = (mode, wanted)


def _pinned(framework: str) -> dict[str, Any]:
    done = _applied.get(framework)
    return done[1] if done is not None else {}


# ---- MindSpore: device_context.<device>.op_precision setters, once per process ----


def mindspore_setters(device_kind: str, mode: str) -> tuple[tuple[str, Any], ...]:
    """(setter under ``mindspore.``, value) in call order: the mode first, then HF32 (TF32 on a GPU)."""
    if mode == VENDOR:
        return ()
    if device_kind == "ascend":
        ns = "device_context.ascend.op_precision."
        return ((ns + "precision_mode", mode), (ns + "conv_allow_hf32", False), (ns + "matmul_allow_hf32", False))
    if device_kind == "cuda":  # Ascend's mode names mean nothing on a GPU: every one of them is "no TF32"
        ns = "device_context.gpu.op_precision."
        return ((ns + "conv_allow_tf32", False), (ns + "matmul_allow_tf32", False))
    return ()


def mindspore_reason(mindspore: Any, device_kind: str, mode: str) -> str | None:
    """Why this MindSpore can't pin ``mode`` on ``device_kind`` (the test's skip reason), or ``None``."""
    if not mindspore_setters(device_kind, DEFAULT_MODE):
        return None  # the CPU: nothing to pin
    label = _label("mindspore")
    reason = _mode_reason(label, mode, MINDSPORE_MODES, "op_precision.precision_mode")
    if reason is not None:
        return reason
    for setter, _ in mindspore_setters(device_kind, mode):
        if not callable(_lookup(mindspore, setter)):
            return (f"{label} has no mindspore.{setter}, needed to pin precision mode {mode!r} under "
                    f"determinism (device_context came with MindSpore 2.5): upgrade MindSpore, or {VENDOR_FIX}")
    return None


def pin_mindspore(mindspore: Any, device_kind: str, mode: str) -> None:
    """Call the op_precision setters for ``mode`` once per process. Setters this MindSpore lacks are
    left out: ``setup()`` has already made them the test's skip reason, and the fingerprint shows them."""
    if not mindspore_setters(device_kind, DEFAULT_MODE):
        return  # the CPU: nothing to pin
    label = _label("mindspore")
    reason = _mode_reason(label, mode, MINDSPORE_MODES, "op_precision.precision_mode")
    if reason is not None:
        raise PrecisionUnavailable(reason)
    calls = [(f"mindspore.{name}", fn, value) for name, value in mindspore_setters(device_kind, mode)
             if callable(fn := _lookup(mindspore, name))]
    _pin_once(f"mindspore-{device_kind}", label, mode, calls)


def mindspore_fingerprint(device_kind: str) -> dict[str, Any]:
    """MindSpore has no public getter for these: what this process set, ``vendor`` where it set nothing."""
    pinned = _pinned(f"mindspore-{device_kind}")
    values = {name.rsplit(".", 1)[1]: value for name, value in pinned.items()}
    if device_kind == "ascend":
        return {"precision_mode": values.get("precision_mode", VENDOR),
                "hf32_conv": values.get("conv_allow_hf32", VENDOR),
                "hf32_matmul": values.get("matmul_allow_hf32", VENDOR)}
    if device_kind == "cuda":
        return {"tf32_conv": values.get("conv_allow_tf32", VENDOR),
                "tf32_matmul": values.get("matmul_allow_tf32", VENDOR)}
    return {}


# ---- torch_npu: ACL_PRECISION_MODE once per process; HF32 attributes switched off and restored ----

TORCH_NPU_HF32 = ("npu.conv", "npu.matmul")  # each has a readable, writable allow_hf32 (conv's is on by default)


def torch_npu_reason(torch_npu: Any, mode: str) -> str | None:
    """Why this torch_npu can't pin ``mode`` (the test's skip reason), or ``None``."""
    label = _label("torch-npu")
    reason = _mode_reason(label, mode, TORCH_NPU_MODES, "torch_npu.npu.set_option ACL_PRECISION_MODE")
    if reason is not None or mode == VENDOR:
        return reason
    if not callable(_lookup(torch_npu, "npu.set_option")):
        return (f"{label} has no torch_npu.npu.set_option, needed to set ACL_PRECISION_MODE={mode}: "
                f"upgrade torch_npu, or {VENDOR_FIX}")
    for owner in TORCH_NPU_HF32:
        if not hasattr(_lookup(torch_npu, owner), "allow_hf32"):
            return (f"{label} has no torch_npu.{owner}.allow_hf32, needed to keep float32 {owner.split('.')[1]}s "
                    f"out of HF32 under precision mode {mode!r}: upgrade torch_npu, or {VENDOR_FIX}")
    return None


@contextlib.contextmanager
def torch_npu_pinned(torch_npu: Any, mode: str) -> Iterator[None]:
    """Pin ACL_PRECISION_MODE (once per process: set_option has no public getter to restore from and
    no way back to "unset") and switch HF32 off for the block, restoring it afterwards. Knobs this
    torch_npu lacks are left out: ``setup()`` has already made them the test's skip reason."""
    label = _label("torch-npu")
    reason = _mode_reason(label, mode, TORCH_NPU_MODES, "torch_npu.npu.set_option ACL_PRECISION_MODE")
    if reason is not None:
        raise PrecisionUnavailable(reason)
    set_option = _lookup(torch_npu, "npu.set_option")
    calls: list[tuple[str, Any, Any]] = []
    if mode != VENDOR and callable(set_option):
        calls.append(("torch_npu.npu.set_option", lambda value: set_option({"ACL_PRECISION_MODE": value}), mode))
    _pin_once("torch-npu", label, mode, calls)
    owners = [] if mode == VENDOR else [_lookup(torch_npu, path) for path in TORCH_NPU_HF32]
    saved = [(owner, owner.allow_hf32) for owner in owners if hasattr(owner, "allow_hf32")]
    try:
        for owner, _ in saved:  # readable and writable at any time, like torch's TF32 switches
            owner.allow_hf32 = False
        yield
    finally:
        for owner, old in saved:
            owner.allow_hf32 = old


def torch_npu_fingerprint(torch_npu: Any) -> dict[str, Any]:
    """The mode this process set (torch_npu has no public getter for it) and HF32 as torch_npu reads it."""
    return {
        "precision_mode": _pinned("torch-npu").get("torch_npu.npu.set_option", VENDOR),
        "hf32_conv": getattr(_lookup(torch_npu, "npu.conv"), "allow_hf32", None),
        "hf32_matmul": getattr(_lookup(torch_npu, "npu.matmul"), "allow_hf32", None),
    }
