"""Hypothesis strategies for testing code that produces or compares pipeline outputs.

Import this module only where Hypothesis is installed (``pip install 'pytest-repro[hypothesis]'``);
the plugin itself never imports it. Example::

    from hypothesis import given
    from pytest_repro.strategies import drifts

    @given(drifts(max_linf=1e-3))
    def test_postprocess_is_stable(pair):
        image, nudged = pair
        assert abs(my_score(image) - my_score(nudged)) < 1e-2

Importing it also registers the :data:`CI_PROFILE` settings profile (``repro-ci``): the same examples
on every run and no example database, so a CI failure replays anywhere. Load it with
``settings.load_profile("repro-ci")`` or ``pytest --hypothesis-profile=repro-ci`` (import this module
in your ``conftest.py`` first, so the profile exists when Hypothesis reads the option).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .tolerance import TOLERANCE_KEYS

# ``repro_generator`` seeds a torch.Generator; 2**32 keeps the value valid for numpy's legacy
# seeding and MindSpore too, which take 32-bit seeds.
MAX_SEED = 2**32 - 1

CI_PROFILE = "repro-ci"
# derandomize: examples derived from each test's source, the same on every machine and run. No database:
# a failure found once is not replayed from a local .hypothesis/ folder the next CI runner lacks.
# No deadline: pipeline calls on shared CI cores vary in time; max_examples bounds the cost instead.
settings.register_profile(CI_PROFILE, derandomize=True, database=None, deadline=None, print_blob=True)


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


def batch_sizes(max_size: int = 4) -> st.SearchStrategy[int]:
    """Batch sizes from 1 to ``max_size``: small, as each item is a pipeline run in a property test."""
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise ValueError(f"max_size must be a whole number >= 1, got {max_size!r}")
    return st.integers(1, max_size)


def seed_lists(size: int | None = None, max_size: int = 4) -> st.SearchStrategy[list[int]]:
    """Distinct seeds, one per batch item (``size`` of them, else a drawn :func:`batch_sizes`)."""
    if size is not None:
        return st.lists(seeds(), min_size=size, max_size=size, unique=True)
    return batch_sizes(max_size).flatmap(lambda n: st.lists(seeds(), min_size=n, max_size=n, unique=True))


class GeneratorList(list):
    """Fresh generators, one per batch item; ``.seeds`` are theirs, and the repr shows them, so a failing
    example reads ``generators(torch, seeds=[0, 7])`` rather than opaque generator objects."""

    def __init__(self, framework: str, seed_list: list[int], generators: list[Any]):
        super().__init__(generators)
        self.framework = framework
        self.seeds = list(seed_list)

    def __repr__(self) -> str:
        return f"generators({self.framework}, seeds={self.seeds})"


def _make_generators(framework: str, seed_list: list[int]) -> GeneratorList:
    made: list[Any]
    if framework == "torch":
        import torch  # only here: the module itself must not need torch

        # CPU generators, as repro_generator hands out on every device
        made = [torch.Generator(device="cpu").manual_seed(s) for s in seed_list]
    else:  # what mindone pipelines take, and what repro_generator hands MindSpore tests
        made = [np.random.Generator(np.random.PCG64(s)) for s in seed_list]
    return GeneratorList(framework, seed_list, made)


def generator_lists(framework: str = "torch", size: int | None = None,
                    max_size: int = 4) -> st.SearchStrategy[GeneratorList]:
    """Per-item generators for a batch, as ``generator=`` takes them: distinct seeds, fresh objects.

    ``framework`` is ``"torch"`` (CPU ``torch.Generator``) or ``"numpy"`` (``np.random.Generator(PCG64)``,
    for MindSpore/mindone). Never one generator repeated: that is the pitfall being tested for.
    """
    if framework not in ("torch", "numpy"):
        raise ValueError(f"framework must be 'torch' or 'numpy' (MindSpore), got {framework!r}")
    return seed_lists(size, max_size).map(lambda seed_list: _make_generators(framework, seed_list))
