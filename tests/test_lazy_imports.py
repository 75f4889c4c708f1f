"""The entry point is thin: loading the plugin imports no framework (fresh processes only)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("numpy", "torch", "diffusers", "mindspore")

# A conftest that reports which heavy modules are loaded once collection (or the session) is over.
REPORTER = f"""
import sys

def _heavy():
    return sorted(m for m in {HEAVY!r} if m in sys.modules)

def pytest_collection_finish(session):
    print("HEAVY AFTER COLLECTION:", _heavy())

def pytest_unconfigure(config):
    print("HEAVY AT EXIT:", _heavy())
"""

TESTS = """
def test_uses_fixtures(repro_backend, repro_generator, repro_golden):
    pass

def test_plain():
    assert 1 + 1 == 2
"""


def run_alone(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    """A fresh pytest with pytest-repro as its only third-party plugin (others may import numpy)."""
    pytester.makeconftest(REPORTER)
    pytester.makepyfile(test_trivial=TESTS)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester.runpytest_subprocess("-p", "pytest_repro.plugin", "-p", "no:cacheprovider", "-s", *args)


def test_collect_only_imports_no_framework(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    result = run_alone(pytester, monkeypatch, "--collect-only", "--repro-backend=cpu,cuda")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([
        "repro replay: pytest --repro-backend=cpu,cuda*",  # the plugin is loaded
        "*<Function test_uses_fixtures?cuda?>*",
        "HEAVY AFTER COLLECTION: []",
        "HEAVY AT EXIT: []",
    ])


def test_running_a_test_without_repro_fixtures_imports_no_framework(pytester, monkeypatch):
    result = run_alone(pytester, monkeypatch, "-k", "plain")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["HEAVY AT EXIT: []"])


def test_entry_point_adds_no_framework_import(pytester: pytest.Pytester):
    # Loaded through its entry point beside whatever else is installed: it adds nothing to their imports.
    pytester.makeconftest(REPORTER)
    pytester.makepyfile(test_trivial=TESTS)
    heavy = {}
    for plugin in ("repro", "no:repro"):
        used = ["--repro-seed=0"] if plugin == "repro" else []  # in use: the header shows it was loaded
        result = pytester.runpytest_subprocess("-p", plugin, "-p", "no:cacheprovider", "--collect-only", "-s",
                                               "-k", "plain", *used)
        assert result.ret == pytest.ExitCode.OK
        assert ("repro replay:" in result.stdout.str()) is (plugin == "repro")
        heavy[plugin] = [line for line in result.stdout.lines if line.startswith("HEAVY")]
    assert len(heavy["repro"]) == 2 and heavy["repro"] == heavy["no:repro"]


def test_importing_the_plugin_imports_no_framework():
    code = (
        "import sys\n"
        "import pytest_repro, pytest_repro.plugin, pytest_repro.settings, pytest_repro.selection\n"
        "from pytest_repro import backends\n"
        "for key in ('torch-cpu', 'torch-cuda', 'torch-ascend'):\n"
        "    backends.load(key)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_no_repro_disables_the_plugin(pytester: pytest.Pytester):
    pytester.makepyfile(test_trivial="def test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "no:repro", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "repro replay" not in result.stdout.str()
    result = pytester.runpytest("-p", "no:repro", "-p", "no:cacheprovider", "--repro-seed=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --repro-seed=1*"])


def test_no_repro_makes_the_fixtures_unknown(pytester: pytest.Pytester):
    pytester.makepyfile(test_trivial="def test_x(repro_golden):\n    pass\n")
    result = pytester.runpytest("-p", "no:repro", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'repro_golden' not found*"])


DETERMINISM_PROBE = """
import sys
import torch
from pytest_repro.backends import load

backend = load("torch-cpu")
with backend.deterministic(True):
    print("INDUCTOR LOADED:", "torch._inductor.config" in sys.modules)
    print("ON:", torch.are_deterministic_algorithms_enabled())
    import torch._inductor.config as inductor  # what torch.compile would load inside a test
    print("INDUCTOR DETERMINISTIC INSIDE:", inductor.deterministic)
print("OFF:", torch.are_deterministic_algorithms_enabled(), "INDUCTOR AFTER:", inductor.deterministic)
"""


def test_determinism_does_not_load_inductor_yet_inductor_loaded_inside_is_deterministic():
    pytest.importorskip("torch")
    # torch.use_deterministic_algorithms imports torch._inductor.config (dynamo and all, ~1 s per session)
    out = subprocess.run([sys.executable, "-c", DETERMINISM_PROBE], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_DETERMINISTIC"})
    assert out.stdout.split("\n")[:4] == ["INDUCTOR LOADED: False", "ON: True", "INDUCTOR DETERMINISTIC INSIDE: True",
                                          "OFF: False INDUCTOR AFTER: False"], out.stdout + out.stderr


# A conftest that makes reading the backend entry points fail loudly: the plugin reads them only when used.
NO_ENTRY_POINTS = """
import pytest_repro.backends as backends

def _refuse():
    raise RuntimeError("ENTRY POINTS READ")

backends._entry_points = _refuse
"""


@pytest.mark.parametrize("used", [False, True])
def test_a_project_that_doesnt_use_the_plugin_doesnt_read_backend_entry_points(pytester, monkeypatch, used):
    pytester.makeconftest(NO_ENTRY_POINTS)
    pytester.makepyfile(test_trivial="def test_plain():\n    pass\n")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    args = ["--repro-backend=cpu"] if used else []  # an option given: the project uses it
    result = pytester.runpytest_subprocess("-p", "pytest_repro.plugin", "-p", "no:cacheprovider", *args)
    if used:  # the words are checked at start, third-party backends included
        assert result.ret != pytest.ExitCode.OK
        assert "ENTRY POINTS READ" in result.stdout.str() + result.stderr.str()
    else:
        result.assert_outcomes(passed=1)


# Reports which of the plugin's per-test modules a session loaded.
PER_TEST_MODULES = ("pytest_repro.marker", "pytest_repro.identity", "pytest_repro.testcase", "pytest_repro.backends")
MODULES_REPORTER = f"""
import sys

def pytest_unconfigure(config):
    print("LOADED:", sorted(m for m in {PER_TEST_MODULES!r} if m in sys.modules))
"""


@pytest.mark.parametrize("tests, loaded", [
    ("def test_plain():\n    pass\n", []),  # what every pytest start with the plugin installed pays
    ("import pytest\n\n@pytest.mark.repro(atol=0.1)\ndef test_marked():\n    pass\n",  # validated by the registry
     ["pytest_repro.backends", "pytest_repro.identity", "pytest_repro.marker"]),
    ("import unittest\nfrom pytest_repro import ReproTestCase\n\nclass T(ReproTestCase, unittest.TestCase):\n"
     "    def test_x(self):\n        pass\n", list(PER_TEST_MODULES)),
])
def test_a_session_loads_the_per_test_modules_only_for_tests_that_need_them(pytester, monkeypatch, tests, loaded):
    pytester.makeconftest(MODULES_REPORTER)
    pytester.makepyfile(test_some=tests)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-p", "pytest_repro.plugin", "-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"LOADED: {sorted(loaded)}"])
