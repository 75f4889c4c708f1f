"""``ReproTestCase``: the fixtures for ``unittest.TestCase`` suites (diffusers' and mindone's shape).

::

    class DDIMFastTests(ReproTestCase, unittest.TestCase):
        def test_inference(self):
            pipe = DDIMPipeline(**self.get_dummy_components()).to(self.repro_backend.device)
            image = pipe(generator=self.repro_generator(0), output_type="np").images
            self.repro_golden.check(image)

pytest can't parametrize a TestCase, so with ``--repro-backend=cpu,cuda`` the plugin collects each
test method once per backend itself (``test_inference[cpu]``, ``test_inference[cuda]``): every backend
named runs, skips with its reason, or fails, as for a function test. Imports pytest only.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from _pytest.unittest import TestCaseFunction, UnitTestCase  # no public API to subclass these

from .plugin import RUN_KEY, SETTINGS_KEY, WORD_KEY, repeats


class ReproTestCase:
    """Mix in before ``unittest.TestCase``: ``self.repro_backend``, ``self.repro_generator(seed, batch)``,
    ``self.repro_golden.check(...)``, and ``with self.repro_deterministic():`` in every test method."""

    repro_backend: Any
    repro_generator: Any
    repro_golden: Any

    @pytest.fixture(autouse=True)
    def _repro_fixtures(self, request: pytest.FixtureRequest) -> None:
        # The same fixtures a function test asks for, so options, markers and goldens behave alike.
        self.repro_backend = request.getfixturevalue("repro_backend")
        self.repro_generator = request.getfixturevalue("repro_generator")
        self.repro_golden = request.getfixturevalue("repro_golden")
        _audited(self, request.node)

    def repro_deterministic(self) -> Any:
        """A block with full determinism, even under --repro-no-deterministic (the fixture's twin)."""
        return self.repro_backend.deterministic(True)


def _audited(case: Any, item: Any) -> None:
    """Under --repro-runs>1 or --repro-timing, the method runs through ``audit.repeat``, as a function
    test does through ``pytest_pyfunc_call`` (which pytest never calls for a TestCase method)."""
    run = item.stash[RUN_KEY]
    runs = repeats(item, run)
    if runs is None:
        return
    name = case._testMethodName
    method = getattr(case, name)
    if getattr(method, "__unittest_expecting_failure__", False):
        return  # known to fail: unittest would count the audit's own failure as the expected one and hide it

    @functools.wraps(method)  # keeps unittest's skip attributes
    def repeated() -> None:
        from .audit import repeat_or_fail

        repeat_or_fail(run, method, runs)

    # unittest calls the instance's attribute; pytest first sets the attribute named like the item to item.obj
    setattr(case, name, repeated)
    item.obj = repeated


class ReproTestCaseFunction(TestCaseFunction):
    """One test method on one backend: named ``test_x[cuda]``, running the method ``test_x``."""

    def _getinstance(self) -> Any:
        return self.parent.obj(self.originalname)  # type: ignore[union-attr]


class ReproUnitTestCase(UnitTestCase):
    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        from .identity import distinct_words
        from .marker import framework_of

        words = distinct_words(self.config.stash[SETTINGS_KEY].backends, framework_of(self))  # type: ignore[arg-type]
        for item in super().collect():
            if isinstance(item, TestCaseFunction):
                yield from self._per_backend(item, words)
            else:
                yield item

    def _per_backend(self, item: TestCaseFunction, words: list[str]) -> Iterator[pytest.Item]:
        if len(words) == 1:
            item.stash[WORD_KEY] = words[0]
            yield item
            return
        import _pytest.python

        # CallSpec since pytest 9.1 (CallSpec2 warns there, and goes in pytest 10); CallSpec2 before.
        callspec_cls = getattr(_pytest.python, "CallSpec", None) or _pytest.python.CallSpec2
        for word in words:
            # An id-only callspec: pytest 9 builds the node id (test_x[cuda]) from it; it carries no params.
            spec = dataclasses.replace(callspec_cls(), _idlist=[word])
            one = ReproTestCaseFunction.from_parent(self, name=f"{item.name}[{word}]", originalname=item.name,
                                                    callspec=spec)
            one.stash[WORD_KEY] = word
            yield one


def make_collector(collector: pytest.Collector, name: str, obj: Any) -> UnitTestCase | None:
    """The collector for a ``ReproTestCase`` subclass, ``None`` for anything else (pytest's own then)."""
    import unittest

    if isinstance(obj, type) and issubclass(obj, ReproTestCase) and issubclass(obj, unittest.TestCase):
        return ReproUnitTestCase.from_parent(collector, name=name, obj=obj)
    return None
