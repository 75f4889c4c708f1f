"""pytest_repro.batch: item i of a batch equals item i made alone, and the message names those that don't."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from pytest_repro.batch import BatchItemsDiffer, batch_matches_items, check_batch_items
from pytest_repro.convert import UnsupportedOutput

SHAPE = (4, 4, 3)


def noise(generators, shape=SHAPE):
    # A stand-in pipeline: each item's values come from its own generator only.
    return torch.stack([torch.rand(shape, generator=g) for g in generators])


def gen(seed):
    return torch.Generator().manual_seed(seed)


def per_item(items):
    return noise([gen(i) for i in items])


def test_per_item_generators_pass_and_return_the_batch():
    result = check_batch_items(per_item, 3, seeds=[0, 1, 2])
    assert result.passed and result.differing == []
    assert result.batch.shape == (3, *SHAPE)
    assert [item.linf for item in result.items] == [0.0, 0.0, 0.0]
    assert result.label == "tests/test_batch.py::test_per_item_generators_pass_and_return_the_batch"


def test_one_shared_generator_fails_naming_every_item_after_the_first():
    def shared(items):  # the pitfall: one generator for the whole batch, so item 1 draws after item 0
        g = gen(0)
        return noise([g] * len(items))

    with pytest.raises(BatchItemsDiffer) as info:
        check_batch_items(shared, 3, seeds=[0, 0, 0])
    assert info.value.result.differing == [1, 2]
    message = str(info.value)
    assert message.startswith("tests/test_batch.py::test_one_shared_generator_fails_naming_every_item_after_the_first"
                              ": 2 of 3 batch items differ")
    assert "item 1 (seed 0): L_inf" in message and "item 2 (seed 0): L_inf" in message
    assert "item 0" not in message
    assert "[g] * n" in message  # the fix is in the message
    assert isinstance(info.value, AssertionError)


def test_drift_within_atol_passes_and_beyond_fails_only_that_item():
    batch = per_item([0, 1, 2]).numpy()
    singles = [batch[i:i + 1].copy() for i in range(3)]
    singles[1][0, 0, 0, 0] += 5e-3
    assert batch_matches_items(batch, singles, atol=1e-2).passed
    singles[2][0, 1, 1, 1] += 0.5
    result = batch_matches_items(batch, singles, atol=1e-2)
    assert result.differing == [2]
    assert result.items[1].passed and result.items[1].linf == pytest.approx(5e-3, rel=1e-3)
    assert result.items[2].linf == pytest.approx(0.5, rel=1e-3)
    assert batch_matches_items(batch, singles, atol=0.0).differing == [1, 2]


def test_rtol_scales_with_the_batch_value_as_in_a_golden_check():
    batch = np.array([[2.0], [0.5]])
    singles = [np.array([2.01]), np.array([0.51])]  # both 0.01 away: 0.5 % of 2.0, 2 % of 0.5
    assert batch_matches_items(batch, singles, atol=0.0, rtol=0.01).differing == [1]
    assert batch_matches_items(batch, singles, atol=0.0, rtol=0.03).passed


def test_items_may_come_without_their_batch_axis():
    batch = per_item([0, 1])
    assert batch_matches_items(batch, [batch[0], batch[1]], atol=0.0).passed


def test_shape_dtype_and_nan_differences_are_named():
    batch = np.zeros((3, 2, 2), dtype=np.float32)
    singles = [np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float64), np.full((2, 2), np.nan, np.float32)]
    result = batch_matches_items(batch, singles, label="mytest")
    assert result.differing == [0, 1, 2]
    message = result.message()
    assert "item 0: shape (2, 3) alone, (2, 2) in the batch" in message
    assert "item 1: dtype float64 alone, float32 in the batch" in message
    assert "item 2: NaN or Inf values" in message


def test_outputs_that_are_not_arrays_name_the_test_and_the_item():
    with pytest.raises(UnsupportedOutput, match=r"^mytest: the output of item 1 is not an array: cannot check an "
                                                r"object of type builtins.NoneType"):
        batch_matches_items(np.zeros((2, 3)), [np.zeros(3), None], label="mytest")
    with pytest.raises(UnsupportedOutput, match=r"test_batch.py::test_outputs_that_are_not_arrays_name_the_test_and_"
                                                r"the_item: the batch output is not an array"):
        check_batch_items(lambda items: "an image", 2)


def test_counts_and_limits_are_validated_with_the_test_named():
    with pytest.raises(ValueError, match=r"^t: the batch output has shape \(3, 2\), expected 2 items"):
        batch_matches_items(np.zeros((3, 2)), [np.zeros(2)] * 2, label="t")
    with pytest.raises(ValueError, match=r"^t: 1 seeds for 2 batch items"):
        batch_matches_items(np.zeros((2, 2)), [np.zeros(2)] * 2, seeds=[0], label="t")
    with pytest.raises(ValueError, match=r"^t: atol must be a finite number >= 0, got -1"):
        batch_matches_items(np.zeros((1, 2)), [np.zeros(2)], atol=-1, label="t")
    with pytest.raises(ValueError, match=r"^t: size must be a whole number of batch items >= 1, got 0"):
        check_batch_items(per_item, 0, label="t")
    with pytest.raises(TypeError, match=r"^t: item_outputs must be a list"):
        batch_matches_items(np.zeros((1, 2)), np.zeros((1, 2)), label="t")


def test_check_batch_items_makes_the_batch_once_and_each_item_alone():
    calls = []

    def run(items):
        calls.append(list(items))
        return per_item(items)

    check_batch_items(run, 3)
    assert calls == [[0, 1, 2], [0], [1], [2]]
    calls.clear()
    check_batch_items(run, 2, batch=per_item([0, 1]))
    assert calls == [[0], [1]]


class FakeMindSporeTensor:
    # What convert.to_array uses of a mindspore.Tensor: dtype and asnumpy().
    def __init__(self, array):
        self.array = array
        self.dtype = "Float32"

    def asnumpy(self):
        return self.array


def test_mindspore_outputs_with_numpy_generators(monkeypatch):
    # mindone pipelines draw noise from numpy: one PCG64 generator per item.
    monkeypatch.setitem(sys.modules, "mindspore", types.SimpleNamespace(Tensor=FakeMindSporeTensor))

    def run(items):
        gens = [np.random.Generator(np.random.PCG64(i)) for i in items]
        return FakeMindSporeTensor(np.stack([g.standard_normal(SHAPE, dtype=np.float32) for g in gens]))

    assert check_batch_items(run, 3).passed

    def shared(items):
        g = np.random.Generator(np.random.PCG64(0))
        return FakeMindSporeTensor(np.stack([g.standard_normal(SHAPE, dtype=np.float32) for _ in items]))

    with pytest.raises(BatchItemsDiffer) as info:
        check_batch_items(shared, 2)
    assert info.value.result.differing == [1]
