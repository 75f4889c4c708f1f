"""Every option and its ini twin has an effect; bad values are usage errors; marker > cli > ini."""

from __future__ import annotations

import importlib.metadata

import pytest

DETERMINISM_TEST = """
import torch

def test_x(repro_backend):
    assert torch.are_deterministic_algorithms_enabled() is {expected}
"""


@pytest.mark.parametrize(("delta", "outcome"), [(0.0, "passed"), (0.005, "passed"), (0.05, "failed")])
def test_defaults_pass_platform_noise_and_fail_real_drift(inner, delta, outcome):
    inner.write()
    inner.regen()
    inner.run(delta=delta).assert_outcomes(**{outcome: 1})


# Each row turns around the default verdict for its delta (see the test above).
TURNS = [
    ("atol", "0.1", 0.05, "passed"),
    ("rtol", "0.05", 0.05, "passed"),  # allowed 0.01 + 0.05 * |golden value| > 0.05
    ("max-linf", "0.001", 0.005, "failed"),
    ("cosine", "1e-12", 0.005, "failed"),
    ("seed", "1", 0.0, "failed"),
    ("backend-tolerance", "cpu: atol=0.1", 0.05, "passed"),
    ("backend-tolerance", "torch-cpu: max_linf=0.001", 0.005, "failed"),
    ("backend", "ascend", 0.05, "skipped"),
]


@pytest.mark.parametrize("via", ["cli", "ini"])
@pytest.mark.parametrize(("option", "value", "delta", "outcome"), TURNS)
def test_option_and_ini_twin_change_the_verdict(inner, via, option, value, delta, outcome):
    inner.write()
    inner.regen()
    result = inner.run(*inner.setting(via, option, value), "-rs", delta=delta)
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":
        assert result.ret == pytest.ExitCode.TESTS_FAILED
    if option == "backend":
        result.stdout.fnmatch_lines(["*backend torch-ascend needs torch_npu*"])


@pytest.mark.parametrize("via", ["cli", "ini"])
def test_golden_dir_report_and_array_limit(inner, via):
    inner.write()
    values = {"golden-dir": "refs/golden", "report": "results.json", "array-limit": "1000"}
    if via == "cli":
        args = [f"--repro-{option}={value}" for option, value in values.items()]
    else:
        args = []
        inner.ini(*(f"{inner.ini_key(option)} = {value}" for option, value in values.items()))
    inner.regen(*args)
    assert not (inner.path / "golden").exists()
    data = inner.load(root="refs/golden")
    assert data["checks"]["output"]["torch-cpu"]["kept"] == "sample of 4096"  # 40000 bytes > 1000
    assert (inner.path / "results.json").is_file()
    inner.run(*args).assert_outcomes(passed=1)


def test_array_limit_default_keeps_small_arrays_whole(inner):
    inner.write()
    inner.regen()
    assert inner.load()["checks"]["output"]["torch-cpu"]["kept"] == "full"


@pytest.mark.parametrize(
    ("args", "ini", "expected"),
    [
        ((), None, "True"),
        (("--repro-no-deterministic",), None, "False"),
        ((), "repro_deterministic = false", "False"),
        (("--repro-deterministic",), "repro_deterministic = false", "True"),
        (("--repro-no-deterministic",), "repro_deterministic = true", "False"),
    ],
)
def test_deterministic_option_and_ini(inner, args, ini, expected):
    inner.write(DETERMINISM_TEST.format(expected=expected))
    if ini:
        inner.ini(ini)
    inner.run(*args).assert_outcomes(passed=1)


def test_header_prints_replay_flags_and_versions(inner):
    inner.write()
    (inner.path / "golden").mkdir()  # a project with goldens uses the plugin (one without sees no header)
    result = inner.run("--collect-only")
    torch_version = importlib.metadata.version("torch")
    result.stdout.fnmatch_lines([
        f"repro: backend=cpu seed=0 deterministic=on golden={inner.path / 'golden'}",
        "repro replay: pytest --repro-backend=cpu --repro-seed=0 --repro-deterministic",
        f"repro versions: torch {torch_version}*numpy *; OMP_NUM_THREADS=*",
    ])


def test_header_replays_the_resolved_settings(inner):
    inner.write()
    inner.ini("repro_seed = 5", "repro_backend = cuda,cpu", "repro_atol = 0.5")
    result = inner.run("--collect-only", "--repro-no-deterministic", "--repro-max-linf=0.25", "--repro-regen")
    result.stdout.fnmatch_lines([
        "repro: backend=cuda,cpu seed=5 deterministic=off golden=* REGEN*",
        "repro replay: pytest --repro-backend=cuda,cpu --repro-seed=5 --repro-no-deterministic"
        " --repro-max-linf=0.25",
    ])


BAD_OPTIONS = [
    ("--repro-backend=tpu", "*argument --repro-backend: unknown backend 'tpu'*"),
    ("--repro-backend=", "*argument --repro-backend: expected a backend name*"),
    ("--repro-atol=-1", "*argument --repro-atol: expected a non-negative number*"),
    ("--repro-rtol=nan", "*argument --repro-rtol: expected a non-negative number*"),
    ("--repro-max-linf=big", "*argument --repro-max-linf: expected a number*"),
    ("--repro-cosine=-1e-5", "*argument --repro-cosine: expected a non-negative number*"),
    ("--repro-seed=abc", "*argument --repro-seed: expected an integer seed*"),
    ("--repro-seed=-1", "*argument --repro-seed: seed must be an integer in*"),
    ("--repro-array-limit=0", "*argument --repro-array-limit: expected a positive whole number*"),
    ("--repro-backend-tolerance=gpu: atol=1",
     "*--repro-backend-tolerance ('gpu: atol=1'): unknown backend 'gpu'*choose from cpu*"),
    ("--repro-backend-tolerance=atol=1", "*--repro-backend-tolerance: expected 'BACKEND: key=value*"),
    ("--repro-backend-tolerance=cpu: atol=-1", "*--repro-backend-tolerance (cpu): atol: expected a non-negative*"),
    ("--repro-backend-tolerance=cpu: atl=1", "*--repro-backend-tolerance (cpu): unknown tolerance 'atl'*"),
    ("--repro-backend-tolerance=cpu: atol", "*--repro-backend-tolerance: expected key=value*"),
    ("--repro-backend-tolerance=cpu: atol=none", "*--repro-backend-tolerance (cpu): atol can't be None*"),
    ("--repro-backend=jax-cpu", "*--repro-backend: unknown backend 'jax-cpu'; choose from *torch-cpu*"),
    ("--repro-precision-mode=fp8", "*--repro-precision-mode: unknown precision mode 'fp8'; choose one of vendor*"),
]


@pytest.mark.parametrize(("arg", "message"), BAD_OPTIONS)
def test_bad_option_value_is_a_usage_error(inner, expect_usage_error, arg, message):
    inner.write()
    expect_usage_error(inner.run(arg), message)


BAD_INI = [
    ("repro_backend = tpu", "*repro_backend = 'tpu' in *tox.ini: unknown backend 'tpu'*"),
    ("repro_seed = 1.5", "*repro_seed = '1.5' in *tox.ini: expected an integer seed*"),
    ("repro_atol = lots", "*repro_atol = 'lots' in *tox.ini: expected a number*"),
    ("repro_rtol = -1", "*repro_rtol = '-1' in *tox.ini*non-negative*"),
    ("repro_cosine = -1", "*repro_cosine = '-1' in *tox.ini*non-negative*"),
    ("repro_max_linf = x", "*repro_max_linf = 'x' in *tox.ini*"),
    ("repro_deterministic = maybe", "*repro_deterministic = 'maybe' in *tox.ini: expected true or false*"),
    ("repro_array_limit = -4", "*repro_array_limit = '-4' in *tox.ini*positive*"),
    ("repro_precision_mode = fast", "*repro_precision_mode = 'fast' in *tox.ini: unknown precision mode 'fast'*"),
    ("repro_backend_tolerances = gpu atol=1", "*repro_backend_tolerances in *tox.ini: expected 'BACKEND*"),
    ("repro_backend_tolerances = cuda: cosine=-2", "*repro_backend_tolerances in *tox.ini (cuda): cosine*"),
]


@pytest.mark.parametrize(("line", "message"), BAD_INI)
def test_bad_ini_value_is_a_usage_error(inner, expect_usage_error, line, message):
    inner.write()
    inner.ini(line)
    expect_usage_error(inner.run(), message)


def test_regen_is_not_an_ini_setting(inner):
    inner.write()
    inner.ini("repro_regen = true")
    result = inner.run("--strict-config")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*repro_regen*"])


# Marker ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "delta", "outcome"),
    [("atol=0.1, bitwise=False", 0.05, "passed"), ("atol=0.001, bitwise=False", 0.005, "failed"),
     ("max_linf=0.001, bitwise=False", 0.005, "failed"), ("cosine=None, atol=1, bitwise=False", 0.5, "passed")],
)
def test_marker_loosens_and_tightens(inner, marker, delta, outcome):
    inner.write_marked(marker)
    inner.regen()
    inner.run("--strict-markers", delta=delta).assert_outcomes(**{outcome: 1})


# delta 0.05 against atol from each level; the most specific level present decides.
PRECEDENCE = [
    (["repro_atol = 0.2"], [], None, "passed"),
    (["repro_atol = 0.2"], ["--repro-atol=0.001"], None, "failed"),
    (["repro_atol = 0.001"], ["--repro-atol=0.2"], None, "passed"),
    (["repro_atol = 0.001", "repro_backend_tolerances = cpu: atol=0.2"], [], None, "passed"),
    (["repro_backend_tolerances = cpu: atol=0.2"], ["--repro-atol=0.001"], None, "failed"),
    (["repro_atol = 0.001"], ["--repro-atol=0.001"], "atol=0.2", "passed"),
    (["repro_atol = 0.2"], ["--repro-atol=0.2"], "atol=0.001", "failed"),
]


@pytest.mark.parametrize(("ini", "args", "marker", "outcome"), PRECEDENCE)
def test_marker_beats_cli_beats_ini(inner, ini, args, marker, outcome):
    marker = ", ".join(filter(None, [marker, "bitwise=False"]))
    inner.write_marked(marker)
    inner.regen()
    inner.ini(*ini)
    inner.run(*args, delta=0.05).assert_outcomes(**{outcome: 1})


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("atl=0.1", "*test_inner.py::test_x: unknown @pytest.mark.repro argument(s) ?'atl'?*"),
        ("atol=-1", "*test_inner.py::test_x: @pytest.mark.repro: atol: expected a non-negative number*"),
        ("bitwise='no'", "*test_inner.py::test_x: @pytest.mark.repro: bitwise must be True or False*"),
        ("0.1", "*test_inner.py::test_x: @pytest.mark.repro takes keyword arguments only*"),
        ("framework='jax'", "*test_inner.py::test_x: @pytest.mark.repro framework='jax'*"),
        ("atol=None", "*test_inner.py::test_x: @pytest.mark.repro: atol can't be None*"),
        ("backends=['cdua']",
         "*test_x: @pytest.mark.repro backends=?'cdua'?: unknown backend 'cdua'; choose from cpu*"),
    ],
)
def test_bad_marker_is_a_usage_error_naming_the_test(inner, expect_usage_error, marker, message):
    inner.write_marked(marker)
    expect_usage_error(inner.run(), message)


@pytest.mark.parametrize("where", ["module", "class"])
def test_a_bad_marker_on_a_module_or_class_is_a_usage_error_for_each_test_under_it(inner, expect_usage_error, where):
    # Collection looks at each collector once for a marker: one on a module or class still reaches its tests,
    # which need no repro fixture to be checked (a plain test under a bad marker is caught too).
    body = "def test_plain():\n    pass\n"
    if where == "module":
        inner.pytester.makepyfile(test_inner="import pytest\n\npytestmark = pytest.mark.repro(atl=1)\n\n" + body)
    else:
        inner.pytester.makepyfile(test_inner="import pytest\n\n@pytest.mark.repro(atl=1)\nclass TestC:\n"
                                  "    def test_plain(self):\n        pass\n")
    expect_usage_error(inner.run(), "*test_inner.py::*test_plain: unknown @pytest.mark.repro argument(s) ?'atl'?*")


def test_marker_tolerance_given_as_text_is_converted(inner):
    inner.write_marked("atol='0.1', bitwise=False")
    inner.regen()
    inner.run(delta=0.05).assert_outcomes(passed=1)
    inner.run(delta=0.5).assert_outcomes(failed=1)


THIRD_PARTY_BACKEND = """
from pytest_repro.backends.torch_cpu import TorchCPU

class TorchXPU(TorchCPU):
    device_kind = "xpu"

    @property
    def device(self):
        return "cpu"

class Liar(TorchCPU):  # registered as torch-liar, but its key says torch-cpu
    pass
"""


def install_entry_points(inner, *lines):
    """A real distribution with entry points in the pytest_repro.backends group, on the subprocess's path."""
    inner.pytester.makepyfile(xpu_backend=THIRD_PARTY_BACKEND)
    info = inner.path / "xpu_backend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: xpu-backend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pytest_repro.backends]\n" + "\n".join(lines) + "\n")


def test_a_registered_third_party_backend_is_selectable(inner):
    install_entry_points(inner, "torch-xpu = xpu_backend:TorchXPU")
    inner.write_marked("bitwise=False")
    inner.regen(subprocess=True)
    result = inner.run("--repro-backend=torch-xpu", delta=0.005, subprocess=True)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["test_inner.py::test_x  output  torch-xpu  torch-cpu  5.00e-03  1.00e-02  PASS"])


def test_a_backend_whose_key_differs_from_its_entry_point_name_is_refused(inner):
    install_entry_points(inner, "torch-liar = xpu_backend:Liar")
    inner.write_marked("bitwise=False")
    for args in (["--repro-backend=torch-liar"], ["-o", "repro_backend=torch-liar"]):
        result = inner.run(*args, "--repro-regen", subprocess=True)
        assert result.ret == pytest.ExitCode.USAGE_ERROR  # before any test runs: never records into torch-cpu's entry
        result.stderr.fnmatch_lines(["*registered as 'torch-liar' says its key is 'torch-cpu'*"])
    # One that takes over a built-in's name is caught even when no --repro-backend names it.
    install = inner.path / "xpu_backend-0.1.dist-info/entry_points.txt"
    install.write_text("[pytest_repro.backends]\ntorch-cpu = xpu_backend:TorchXPU\n")
    result = inner.run("--repro-regen", subprocess=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*registered as 'torch-cpu' says its key is 'torch-xpu'*"])
    assert not (inner.path / "golden").exists()


def test_marker_backends_skips_other_backends_with_reason(inner):
    inner.write_marked("backends=['ascend']")
    result = inner.run("--strict-markers", "-rs", "--repro-backend=cpu")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*test_inner.py::test_x runs only on ascend (marker repro(backends=...))*"])
    assert result.ret == pytest.ExitCode.OK


def test_marker_backends_keeps_listed_backend(inner):
    inner.write_marked("backends=['cpu']")
    inner.regen("--repro-backend=cpu,ascend")
    result = inner.run("--repro-backend=cpu,ascend", "-rs", "-v")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*test_x?cpu? PASSED*", "*runs only on cpu (marker repro(backends=...))*"])


def test_marker_is_registered_for_strict_markers(inner):
    result = inner.run("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.repro(atol=, rtol=, max_linf=, cosine=, bitwise=, backends=*"])


def test_bad_marker_under_xdist_fails_the_test_with_the_message(inner):
    inner.write_marked("atl=0.1")
    result = inner.run("-n", "2", subprocess=True)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_inner.py::test_x: unknown @pytest.mark.repro argument(s) ?'atl'?*"])


@pytest.mark.parametrize(("args", "ini", "mode"), [
    ((), (), "must_keep_origin_dtype"),
    (("--repro-precision-mode=vendor",), (), "vendor"),
    ((), ("repro_precision_mode = force_fp32",), "force_fp32"),
    (("--repro-precision-mode=allow_fp32_to_fp16",), ("repro_precision_mode = force_fp32",), "allow_fp32_to_fp16"),
])
def test_precision_mode_reaches_the_backend_and_the_replay_line(inner, args, ini, mode):
    if ini:
        inner.ini(*ini)
    inner.write(f"def test_mode(repro_backend):\n    assert repro_backend.precision_mode == {mode!r}\n")
    result = inner.run("--repro-backend=cpu", *args)
    result.assert_outcomes(passed=1)
    replay = [line for line in result.stdout.lines if line.startswith("repro replay:")]
    assert (f"--repro-precision-mode={mode}" in replay[0]) is (mode != "must_keep_origin_dtype")
