"""The batch strategies and the repro-ci Hypothesis profile that pytest_repro.strategies offers users."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from pytest_repro.strategies import CI_PROFILE, batch_sizes, generator_lists, seed_lists

pytest_plugins = ["pytester"]


@given(batch_sizes(max_size=3))
def test_batch_sizes_stay_in_range(n):
    assert 1 <= n <= 3


@given(seed_lists(max_size=4))
def test_seed_lists_are_distinct_valid_seeds(seed_list):
    assert 1 <= len(seed_list) <= 4
    assert len(set(seed_list)) == len(seed_list)
    assert all(0 <= s < 2**32 for s in seed_list)


@given(generator_lists("torch", size=3))
def test_torch_generator_lists_are_fresh_cpu_generators_seeded_as_named(generators):
    assert len({id(g) for g in generators}) == 3  # never one generator repeated
    assert [g.initial_seed() for g in generators] == generators.seeds
    assert all(g.device.type == "cpu" for g in generators)
    assert repr(generators) == f"generators(torch, seeds={generators.seeds})"


@given(generator_lists("numpy", max_size=2))
def test_numpy_generator_lists_draw_what_pcg64_of_their_seed_draws(generators):
    for g, seed in zip(generators, generators.seeds, strict=True):
        assert g.random() == np.random.Generator(np.random.PCG64(seed)).random()


def test_generator_list_arguments_are_validated():
    with pytest.raises(ValueError, match="framework must be 'torch' or 'numpy'"):
        generator_lists("jax")
    with pytest.raises(ValueError, match="max_size must be a whole number >= 1, got 0"):
        batch_sizes(0)


def test_the_ci_profile_is_derandomized_without_a_database():
    profile = settings.get_profile(CI_PROFILE)
    assert CI_PROFILE == "repro-ci"
    assert profile.derandomize is True
    assert profile.database is None
    assert profile.deadline is None


# A user's project: the conftest imports the strategies (registering the profile), a property test
# writes every example it is given to a file.
USER_CONFTEST = "import pytest_repro.strategies  # noqa: F401  (registers the repro-ci profile)\n"
USER_TEST = """
import os
from hypothesis import given
from pytest_repro.strategies import seed_lists

@given(seed_lists(max_size=3))
def test_seeds(seed_list):
    with open(os.environ["EXAMPLES_FILE"], "a") as f:
        f.write(repr(seed_list) + "\\n")
"""


def examples_of_two_runs(pytester, monkeypatch, *args: str) -> list[list[str]]:
    """The examples the user's property test drew in each of two sessions run with ``args``."""
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_user=USER_TEST)
    runs = []
    for n in range(2):
        examples = pytester.path / f"examples{n}.txt"
        monkeypatch.setenv("EXAMPLES_FILE", str(examples))
        # A subprocess: the profile loaded by the option must not leak into this session's Hypothesis.
        pytester.runpytest_subprocess("-p", "no:cacheprovider", *args).assert_outcomes(passed=1)
        runs.append(examples.read_text().splitlines())
    return runs


def test_the_ci_profile_replays_the_same_examples_and_writes_no_database(pytester, monkeypatch):
    runs = examples_of_two_runs(pytester, monkeypatch, "--hypothesis-profile=repro-ci")
    assert runs[0] == runs[1] and len(set(runs[0])) > 10  # the same, many distinct examples


def test_without_the_profile_examples_vary_between_runs(pytester, monkeypatch):
    # The control: Hypothesis' default draws new examples each run (and keeps a database).
    runs = examples_of_two_runs(pytester, monkeypatch)
    assert runs[0] != runs[1]


FAILING_TEST = """
from hypothesis import given
from pytest_repro.strategies import seeds

@given(seeds())
def test_fails(seed):
    assert seed < 1000
"""


@pytest.mark.parametrize(("args", "saved"), [(["--hypothesis-profile=repro-ci"], False), ([], True)],
                         ids=["repro-ci", "default"])
def test_the_ci_profile_saves_no_failing_example(pytester, args, saved):
    # Hypothesis' default saves a failure to .hypothesis/examples and replays it first next time; on CI that
    # folder is gone, so the profile keeps none (it may still cache source constants in .hypothesis/).
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_user=FAILING_TEST)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", *args).assert_outcomes(failed=1)
    assert (pytester.path / ".hypothesis" / "examples").exists() is saved
