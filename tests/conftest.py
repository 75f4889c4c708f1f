"""Shared helpers for the pytester integration tests.

The inner runs load pytest-repro through its installed entry point, exactly as a user's would. They
run in this process unless a test needs a fresh one (``sys.modules``, process-wide switches, xdist).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

# pytester's in-process runs restore sys.modules afterwards; what is imported here is kept, so torch and
# the plugin's lazily imported modules load once per session instead of once per inner run.
# torch in particular can't be imported twice in one process ("Only a single TORCH_LIBRARY...").
try:
    import torch
except ImportError:  # the MindSpore environment has no torch: only its own tests run there
    torch = None

import pytest_repro.check  # noqa: F401
import pytest_repro.report.terminal  # noqa: F401
import pytest_repro.results  # noqa: F401
import pytest_repro.selection  # noqa: F401
from pytest_repro.backends import load

with contextlib.suppress(ImportError):
    import hypothesis  # noqa: F401  (its pytest plugin imports it at the end of every inner run)

# What the backends and pipelines do lazily, done once here. torch._dynamo (diffusers imports it) first
# imported inside an inner run would be imported again after the restore and register its operators twice.
if torch is not None:
    import torch._dynamo  # noqa: F401

    load("torch-cpu").seed_all(0)
    with load("torch-cpu").deterministic(True):
        torch.randn(2, generator=load("torch-cpu").generator(0)).numpy()
    load("torch-cuda").unavailable_reason()

NO_CACHE = ("-p", "no:cacheprovider")

# On GitHub Actions the job's step summary is set: the inner runs of these tests must not append their
# drift tables to it (tests that want a step summary set their own file).
os.environ.pop("GITHUB_STEP_SUMMARY", None)

# One inner test, 100x100 standard normal values from repro_generator() (the run's seed), with one value
# moved by $REPRO_DELTA: L_inf is then exactly the delta, and cosine distance stays ~1e-7 below 0.1.
# bitwise=False: tolerances alone decide, even though the environment is the same as the golden's.
DELTA_TEST = """
import os
import torch

def test_x(repro_generator, repro_golden):
    out = torch.randn(100, 100, generator=repro_generator())
    out[0, 0] += float(os.environ.get("REPRO_DELTA", "0"))
    repro_golden.check(out, bitwise=False)
"""


# The same test under a repro marker: "{marker}" is filled with the marker's keyword arguments.
MARKED_TEST = """
import os
import pytest
import torch

@pytest.mark.repro({marker})
def test_x(repro_generator, repro_golden):
    out = torch.randn(100, 100, generator=repro_generator())
    out[0, 0] += float(os.environ.get("REPRO_DELTA", "0"))
    repro_golden.check(out)
"""


class Inner:
    """One pytester project: write inner tests, run them, look at their goldens."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
        self.pytester = pytester
        self.monkeypatch = monkeypatch
        monkeypatch.delenv("REPRO_DELTA", raising=False)

    @property
    def path(self) -> Path:
        return self.pytester.path

    def write(self, source: str = DELTA_TEST, name: str = "test_inner") -> Path:
        return self.pytester.makepyfile(**{name: source})

    def write_marked(self, marker: str = "") -> Path:
        """The delta test under ``@pytest.mark.repro(<marker>)``; bitwise is gated unless the marker says not."""
        return self.write(MARKED_TEST.format(marker=marker))

    def ini(self, *lines: str) -> Path:
        return self.pytester.makeini("\n".join(["[pytest]", *lines]) + "\n")

    @staticmethod
    def ini_key(option: str) -> str:
        return "repro_backend_tolerances" if option == "backend-tolerance" else "repro_" + option.replace("-", "_")

    def setting(self, via: str, option: str, value: str | None = None) -> list[str]:
        """Give ``option`` the value (a flag without one: on) on the command line (``via="cli"``) or in the
        ini file; returns the args to pass."""
        if via == "cli":
            return [f"--repro-{option}" if value is None else f"--repro-{option}={value}"]
        self.ini(f"{self.ini_key(option)} = {'true' if value is None else value}")
        return []

    def run(self, *args: str, delta: float | None = None, subprocess: bool = False) -> pytest.RunResult:
        if delta is None:
            self.monkeypatch.delenv("REPRO_DELTA", raising=False)
        else:
            self.monkeypatch.setenv("REPRO_DELTA", repr(delta))
        if subprocess:
            return self.pytester.runpytest_subprocess(*NO_CACHE, *args)
        return self.pytester.runpytest(*NO_CACHE, *args)

    def regen(self, *args: str, subprocess: bool = False) -> pytest.RunResult:
        result = self.run("--repro-regen", *args, subprocess=subprocess)
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        return result

    def golden(self, name: str = "test_inner/test_x", root: str = "golden") -> Path:
        return self.path / root / f"{name}.json"

    def load(self, name: str = "test_inner/test_x", root: str = "golden") -> dict[str, Any]:
        return json.loads(self.golden(name, root).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI machines set $CI (and GitHub's variables): inner sessions would refuse --repro-regen and write
    step summaries. A test that wants one of them sets it itself."""
    for name in ("CI", "GITHUB_STEP_SUMMARY", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID",
                 "PYTEST_REPRO_COMMAND"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Inner:
    return Inner(pytester, monkeypatch)


def usage_error(result: pytest.RunResult, *patterns: str) -> None:
    """Assert a usage error whose stderr matches ``patterns`` (and no test ran)."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(list(patterns))


@pytest.fixture
def expect_usage_error():
    return usage_error


with contextlib.suppress(ImportError):
    from hypothesis import HealthCheck, settings

    # Drawing arrays is slow on a loaded machine (2 CI cores; the first draw on a cold GPU host took
    # 2.2 s): don't fail a property on generation speed. Examples stay bounded by max_examples.
    settings.register_profile("repro", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("repro")
