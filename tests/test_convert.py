"""convert.py: every kind of pipeline output becomes one numpy array plus its own dtype name."""

from __future__ import annotations

import dataclasses
import warnings
from collections import OrderedDict

import numpy as np
import pytest

from pytest_repro.convert import OUTPUT_FIELDS, UnsupportedOutput, to_array


def test_numpy_passes_through():
    image = np.linspace(0, 1, 24, dtype=np.float32).reshape(1, 2, 4, 3)
    array, dtype = to_array(image)
    assert array is image and dtype == "float32"


@pytest.mark.parametrize(("scalar", "dtype"), [(np.float16(0.5), "float16"), (1.5, "float64"), (3, "int64")])
def test_scalars(scalar, dtype):
    array, name = to_array(scalar)
    assert array.shape == () and name == dtype and array == scalar


# ---- torch ----


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_torch_tensor(torch):
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    array, dtype = to_array(tensor)
    assert isinstance(array, np.ndarray) and dtype == "float32"
    assert np.array_equal(array, np.arange(6, dtype=np.float32).reshape(2, 3))


def test_torch_tensor_requiring_grad(torch):
    leaf = torch.ones(3, requires_grad=True)
    array, dtype = to_array(leaf * 2)
    assert np.array_equal(array, [2.0, 2.0, 2.0]) and dtype == "float32"


def test_torch_bfloat16_keeps_its_name_and_exact_values(torch):
    values = [1.0, -2.5, 0.1, 3e38]
    tensor = torch.tensor(values, dtype=torch.bfloat16)
    array, dtype = to_array(tensor)
    assert dtype == "bfloat16" and array.dtype == np.float32
    assert np.array_equal(array, tensor.float().numpy())  # bfloat16 -> float32 is exact
    assert array[2] != np.float32(0.1)  # the bfloat16 rounding is kept, not undone


def test_torch_float16(torch):
    array, dtype = to_array(torch.tensor([0.1, 65504.0], dtype=torch.float16))
    assert dtype == "float16" and array.dtype == np.float16
    assert array[1] == 65504.0


def test_torch_non_contiguous_view(torch):
    tensor = torch.arange(12.0).reshape(3, 4).t()
    array, _ = to_array(tensor)
    assert np.array_equal(array, np.arange(12.0).reshape(3, 4).T)


def test_list_of_bfloat16_tensors(torch):
    array, dtype = to_array([torch.zeros(2, dtype=torch.bfloat16), torch.ones(2, dtype=torch.bfloat16)])
    assert array.shape == (2, 2) and dtype == "bfloat16"


# ---- PIL ----


@pytest.fixture
def pil():
    return pytest.importorskip("PIL.Image")


def test_pil_image(pil):
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    array, dtype = to_array(pil.fromarray(pixels))
    assert dtype == "uint8" and array.shape == (2, 3, 3)
    assert np.array_equal(array, pixels)


def test_list_of_pil_images_is_stacked(pil):
    a = np.zeros((4, 5, 3), np.uint8)
    b = np.full((4, 5, 3), 200, np.uint8)
    array, dtype = to_array([pil.fromarray(a), pil.fromarray(b)])
    assert array.shape == (2, 4, 5, 3) and dtype == "uint8"
    assert np.array_equal(array[1], b)


# ---- lists ----


def test_list_and_tuple_are_stacked_in_order():
    parts = [np.full((2, 2), i, np.float32) for i in range(3)]
    for container in (list, tuple):
        array, dtype = to_array(container(parts))
        assert array.shape == (3, 2, 2) and dtype == "float32"
        assert [float(array[i, 0, 0]) for i in range(3)] == [0.0, 1.0, 2.0]


def test_list_with_mismatched_shapes():
    with pytest.raises(UnsupportedOutput, match=r"different shapes.*\(2, 2\).*\(3,\)"):
        to_array([np.zeros((2, 2)), np.zeros(3)])


def test_empty_list():
    with pytest.raises(UnsupportedOutput, match="empty"):
        to_array([])


# ---- output objects ----


def test_diffusers_image_pipeline_output(pil):
    pipeline_utils = pytest.importorskip("diffusers.pipelines.pipeline_utils")
    images = np.linspace(0, 1, 2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    array, dtype = to_array(pipeline_utils.ImagePipelineOutput(images=images))
    assert array is images and dtype == "float32"
    pils = [pil.fromarray((im * 255).astype(np.uint8)) for im in images]
    array, dtype = to_array(pipeline_utils.ImagePipelineOutput(images=pils))
    assert array.shape == (2, 4, 4, 3) and dtype == "uint8"


@dataclasses.dataclass
class VideoOutput:
    frames: np.ndarray
    nsfw: list | None = None


@dataclasses.dataclass
class SchedulerOutput:
    prev_sample: np.ndarray
    pred_original_sample: np.ndarray | None = None


@dataclasses.dataclass
class Nothing:
    caption: str


def test_dataclass_like_outputs():
    frames = np.ones((1, 2, 3))
    assert to_array(VideoOutput(frames))[0] is frames
    prev = np.zeros(4)
    assert to_array(SchedulerOutput(prev, np.ones(4)))[0] is prev


def test_mapping_picks_the_first_field_in_order():
    images, latents = np.zeros(2), np.ones(2)
    assert to_array(OrderedDict(latents=latents, images=images))[0] is images
    assert to_array({"images": None, "frames": latents})[0] is latents  # None fields are skipped
    assert OUTPUT_FIELDS[0] == "images"


def test_output_without_known_fields():
    with pytest.raises(UnsupportedOutput, match="Nothing has none of the fields images, frames"):
        to_array(Nothing("a cat"))
    with pytest.raises(UnsupportedOutput, match="dict has none of the fields"):
        to_array({"caption": "a cat"})


class Opaque:
    pass


@pytest.mark.parametrize("obj", [Opaque(), "an image", b"bytes", {1, 2}, None])
def test_unsupported_objects_name_their_type(obj):
    with pytest.raises(UnsupportedOutput, match=type(obj).__qualname__) as info:
        to_array(obj)
    assert isinstance(info.value, TypeError)  # callers catching TypeError keep working
    assert "numpy array" in str(info.value)


# ---- outputs the harness can't compare: refused, whatever they came in, never cast ----


REFUSED = [
    (np.array([1 + 2j, 3j]), "complex values.*x.real"),
    (1 + 2j, "complex values"),
    (np.array(["a", "b"]), "text"),
    (np.array([b"a"]), "bytes"),
    (np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), "structured or void"),
    (np.array([1, "x"], dtype=object), "Python objects"),
    (2**100, "Python objects.*integers beyond int64"),
    (-(2**70), "integers beyond int64"),
    ([1.0, 2**64], "integers beyond int64"),
    (np.array(["2024-01-01"], dtype="datetime64[D]"), "dates"),
    (np.array([1], dtype="timedelta64[s]"), "time spans"),
    (np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "masked array"),
]
if np.dtype(np.longdouble).itemsize > 8:
    REFUSED.append((np.ones(2, np.longdouble), "cast to float64"))


@pytest.mark.parametrize(("obj", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_outputs_without_comparable_numbers_are_refused(obj, message):
    with pytest.raises(UnsupportedOutput, match=message):
        to_array(obj)


def test_integers_up_to_64_bits_and_other_byte_orders_are_kept_exactly():
    array, dtype = to_array(2**64 - 1)
    assert dtype == "uint64" and int(array) == 2**64 - 1
    assert to_array(-(2**63))[1] == "int64"
    big_endian = np.arange(4, dtype=">f4")
    array, dtype = to_array(big_endian)
    assert dtype == "float32" and array.dtype.isnative and np.array_equal(array, big_endian)


def test_nesting_too_deep_is_refused():
    nested: list = [1.0]
    for _ in range(40):
        nested = [nested]
    with pytest.raises(UnsupportedOutput, match="nested more than 32 levels"):
        to_array(nested)
    assert to_array([[[1.0, 2.0]]])[0].shape == (1, 1, 2)


def test_refused_torch_tensors_say_what_to_pass(torch):
    cases = [
        (torch.eye(3).to_sparse(), r"torch.sparse_coo tensor as it is: pass tensor.to_dense\(\)"),
        (torch.empty(2, 3, device="meta"), "meta tensor: it has a shape but no values"),
        (torch.zeros(2, dtype=torch.float8_e4m3fn), "float8_e4m3fn tensor: numpy can't hold it"),
        (torch.tensor([1 + 1j]), "complex values.*view_as_real"),
    ]
    with warnings.catch_warnings():  # CSR is beta and quantized tensors deprecated: both say so when made
        warnings.simplefilter("ignore")
        cases.append((torch.eye(3).to_sparse_csr(), "sparse_csr tensor"))
        cases.append((torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8), r"pass tensor.dequantize\(\)"))
    for tensor, message in cases:
        with pytest.raises(UnsupportedOutput, match=message):
            to_array(tensor)
    assert np.array_equal(to_array(torch.tensor([True, False]))[0], [True, False])
