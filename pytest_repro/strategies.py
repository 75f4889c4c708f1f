"""Hypothesis strategies for testing code that produces or compares pipeline outputs.

Import this module only where Hypothesis is installed (``pip install 'pytest-repro[hypothesis]'``);
the plugin itself never imports it. Example::

    from hypothesis import given
    from pytest_repro.strategies import drifts

    @given(drifts(max_linf=1e-3))
    def test_postprocess_is_stable(pair):
        image, nudged = pair
        assert abs(my_score(image) - my_score(nudged)) < 1e-2
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .tolerance import TOLERANCE_KEYS

# ``repro_generator`` seeds a torch.Generator; 2**32 keeps the value valid for numpy's legacy
# seeding and MindSpore too, which take 32-bit seeds.
MAX_SEED = 2**32 - 1


def seeds() -> st.SearchStrategy[int]:
    """Seeds every backend accepts: whole numbers in ``[0, 2**32)``."""
    return st.integers(min_value=0, max_value=MAX_SEED)


def image_shapes(max_batch: int = 2, max_side: int = 8) -> st.SearchStrategy[tuple[int, int, int, int]]:
    """``(batch, height, width, channels)`` as diffusers' ``output_type="np"`` gives, kept small so
    that Hypothesis can explore many of them."""
    return st.tuples(
        st.integers(1, max_batch),
        st.integers(1, max_side),
        st.integers(1, max_side),
        st.sampled_from((1, 3, 4)),  # grey, RGB, RGBA
    )


def _unit_floats(dtype: np.dtype) -> st.SearchStrategy[float]:
    # ``width`` makes every drawn value exactly representable in ``dtype``: no silent rounding.
    width: Any = dtype.itemsize * 8  # 16, 32 or 64
    return st.floats(0.0, 1.0, width=width, allow_nan=False, allow_infinity=False)


def images(shape: tuple[int, ...] | None = None, dtype: Any = np.float32) -> st.SearchStrategy[np.ndarray]:
    """Arrays in ``[0, 1]`` shaped like a small batch of decoded images.

    ``shape`` defaults to a drawn :func:`image_shapes`; ``dtype`` must be a float type (float16,
    float32 or float64), as a pipeline returns before conversion to ``uint8``.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"images() draws floats in [0, 1]; got dtype {dtype}")
    return hnp.arrays(dtype, shape if shape is not None else image_shapes(), elements=_unit_floats(dtype))


@st.composite
def drifts(draw: st.DrawFn, max_linf: float, shape: tuple[int, ...] | None = None,
           dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """``(image, perturbed)`` with ``max |perturbed - image| <= max_linf``, measured in float64.

    The bound holds for the values as stored in ``dtype``, not only for the drawn offsets: an
    offset that rounding pushes past ``max_linf`` is pulled back one ulp at a time. This is what
    lets a test assert "a drift within atol passes" without flaky float32 edge cases.
    The perturbed image is clipped to ``[0, 1]`` like a pipeline's output, which only shrinks the drift.
    """
    if not max_linf >= 0:
        raise ValueError(f"max_linf must be a non-negative number, got {max_linf!r}")
    base = draw(images(shape, dtype))
    offsets = draw(hnp.arrays(np.float64, base.shape, elements=st.floats(-max_linf, max_linf)))
    moved = np.clip(base.astype(np.float64) + offsets, 0.0, 1.0).astype(base.dtype)
    too_far = np.abs(moved.astype(np.float64) - base.astype(np.float64)) > max_linf
    while too_far.any():
        moved[too_far] = np.nextafter(moved[too_far], base[too_far])
        too_far = np.abs(moved.astype(np.float64) - base.astype(np.float64)) > max_linf
    return base, moved


_LIMIT = st.floats(0.0, 1.0, allow_nan=False)
_TOLERANCE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "atol": _LIMIT,
    "rtol": _LIMIT,
    "max_linf": st.none() | _LIMIT,  # None switches the limit off
    "cosine": st.none() | _LIMIT,
    "bitwise": st.booleans(),
}
assert set(_TOLERANCE_VALUES) == set(TOLERANCE_KEYS), "a tolerance key has no strategy"


def tolerances() -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments valid for ``@pytest.mark.repro(...)`` and ``repro_golden.check(...)``.

    Any subset of the keys may appear, as users give only the ones they change.
    """
    return st.fixed_dictionaries({}, optional=_TOLERANCE_VALUES)
