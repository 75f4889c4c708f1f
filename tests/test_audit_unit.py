"""The audit's parts without pytester: PyTorch's determinism texts, the distance between runs, the result fields."""

from __future__ import annotations

import json

import pytest

CUBLAS_TEXT = (
    "Deterministic behavior was enabled with either `torch.use_deterministic_algorithms(True)` or "
    "`at::Context::setDeterministicAlgorithms(true)`, but this operation is not deterministic because it uses "
    "CuBLAS and you have CUDA >= 10.2. To enable deterministic behavior in this case, you must set an environment "
    "variable before running your PyTorch application: CUBLAS_WORKSPACE_CONFIG=:4096:8 or "
    "CUBLAS_WORKSPACE_CONFIG=:16:8.")


@pytest.mark.parametrize(("text", "op", "remedy"), [
    ("_histc_cuda with floating point input does not have a deterministic implementation, but you set "
     "'torch.use_deterministic_algorithms(True)'. You can turn off determinism just for this operation...",
     "_histc_cuda with floating point input", "deterministic=False"),
    ("scatter_add_cuda_kernel does not have a deterministic implementation, but you set "
     "'torch.use_deterministic_algorithms(True, warn_only=True)'. You can file an issue...",
     "scatter_add_cuda_kernel", "deterministic=False"),
    (CUBLAS_TEXT, "cuBLAS (CUBLAS_WORKSPACE_CONFIG unset when CUDA started)", "CUBLAS_WORKSPACE_CONFIG=:4096:8"),
    ("CUDA out of memory. Tried to allocate 2.00 GiB", None, None),
    ("expected a deterministic implementation", None, None),
])
def test_the_op_and_the_remedy_are_read_from_pytorchs_text(text, op, remedy):
    from pytest_repro.nondeterminism import explain, op_of

    assert op_of(text) == op
    message = explain("t.py::test_x", text)
    if op is None:
        assert message is None
    else:
        assert message.startswith(f"t.py::test_x: {op} has no deterministic implementation")
        assert remedy in message


def test_distance_between_runs():
    np = pytest.importorskip("numpy")
    from pytest_repro.audit import distance

    a = np.array([1.0, np.nan, 3.0], dtype=np.float32)
    assert distance(a, a.copy()) == 0.0  # NaN where both are NaN is no difference
    assert distance(a, np.array([1.0, 2.0, 3.5], dtype=np.float32)) == float("inf")
    assert distance(a, np.array([1.0, np.nan, 2.0], dtype=np.float32)) == 1.0
    assert distance(a, a[:2]) is None and distance(a, a.astype(np.float64)) is None
    assert distance(np.array([0, 255], dtype=np.uint8), np.array([255, 0], dtype=np.uint8)) == 255.0


def test_runs_and_timing_round_trip_and_older_results_load_without_them():
    from pytest_repro.results import CheckResult

    runs = {"n": 2, "max_linf_between_runs": 0.5, "differing_runs": [2], "nondeterministic_ops": ["op"]}
    result = CheckResult(test="t", nodeid="t", check="output", backend="torch-cpu", runs=runs,
                         timing={"deterministic_s": 2.0, "default_s": 1.0, "deterministic_ratio": 2.0})
    again = CheckResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again.runs == runs and again.timing["deterministic_ratio"] == 2.0
    old = {k: v for k, v in result.to_json().items() if k not in ("runs", "timing")}
    assert CheckResult.from_json(old).runs is None and CheckResult.from_json(old).timing is None
