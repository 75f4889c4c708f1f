"""The golden workflow end to end: record, compare, drift table, fallback, JSON report, xdist."""

from __future__ import annotations

import importlib.metadata
import json
from xml.etree import ElementTree

import numpy as np
import pytest

# A backend registered under torch-cuda that runs on this CPU: fallback without a GPU.
FAKE_CUDA_CONFTEST = """
import pytest
from pytest_repro import backends
from pytest_repro.backends.torch_cpu import TorchCPU

class FakeCUDA(TorchCPU):
    device_kind = "cuda"

    @property
    def device(self):
        return "cpu"

    def unavailable_reason(self):
        return None

_patch = pytest.MonkeyPatch()

def pytest_configure(config):
    _patch.setitem(backends.BUILTIN, "torch-cuda", "conftest:FakeCUDA")

def pytest_unconfigure(config):
    _patch.undo()
"""


def files(inner) -> dict[str, bytes]:
    return {str(p.relative_to(inner.path)): p.read_bytes() for p in sorted((inner.path / "golden").rglob("*"))
            if p.is_file()}


def test_missing_golden_fails_with_the_command_to_record_it(inner):
    inner.write()
    result = inner.run()
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*no golden for test_inner.py::test_x ?output? on backend torch-cpu in *golden/test_inner/test_x.json*",
        "*Record it with: pytest --repro-regen --repro-backend=cpu test_inner.py::test_x",
        "test_inner.py::test_x  output  torch-cpu  -*MISSING",
    ])
    assert not (inner.path / "golden").exists()  # never written without --repro-regen


def test_regen_writes_and_lists_the_goldens_then_rerun_passes(inner):
    inner.write()
    result = inner.regen()
    result.stdout.fnmatch_lines([
        "*REGEN (goldens of the selected backend will be written)*",
        "*repro goldens written (--repro-regen)*",
        "written: test_inner.py::test_x ?output? on torch-cpu -> *golden/test_inner/test_x.json",
        "repro: 1 check: 1 written",
    ])
    assert sorted(files(inner)) == ["golden/test_inner/test_x.json", "golden/test_inner/test_x.output.torch-cpu.npz"]
    result = inner.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["test_inner.py::test_x  output  torch-cpu  same*0.00e+00*PASS"])
    before = files(inner)
    inner.regen().stdout.fnmatch_lines(["test_inner.py::test_x*UNCHANGED", "repro: 1 check: 1 unchanged"])
    assert files(inner) == before


def test_changed_output_fails_with_a_metrics_table(inner):
    inner.write()
    inner.regen()
    result = inner.run("--repro-seed=1")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Another seed is another image: said first, and instead of "drifted" or "not reproducible".
    result.stdout.fnmatch_lines([
        "*test_inner.py::test_x ?output? on torch-cpu drew other seeds than its golden in *test_x.json",
        "*seeds differ: the golden drew [[]0[]], this run drew [[]1[]]: another seed is another image, not a drift*",
        "*metric*value*limit",
        "*L_inf*0.01*FAIL",
        "*cosine distance*1e-05*FAIL",
        "*worst (index: output vs golden): (*",
        "*to accept this output: pytest --repro-regen --repro-backend=cpu test_inner.py::test_x",
    ])
    assert "not reproducible" not in result.stdout.str() and "values outside atol" not in result.stdout.str()


def test_a_hand_edited_hash_of_a_whole_golden_leaves_the_arrays_to_decide(inner):
    inner.write_marked("")
    inner.regen()
    data = inner.load()
    real = data["checks"]["output"]["torch-cpu"]["summary"]["hash"]
    data["checks"]["output"]["torch-cpu"]["summary"]["hash"] = "sha256:" + "0" * 64
    inner.golden().write_text(json.dumps(data))
    # The array (checked by its CRC-32) is the golden; a check against it doesn't hash the output (issue 10),
    # so the readable hash field is not what decides, and never makes the run look unreproducible.
    result = inner.run()
    result.assert_outcomes(passed=1)
    assert "not reproducible" not in result.stdout.str()
    inner.run("--repro-regen-all").assert_outcomes(passed=1)  # and recording again repairs the field
    assert inner.load()["checks"]["output"]["torch-cpu"]["summary"]["hash"] == real


def test_bitwise_change_in_an_identical_environment_fails_unless_marked(inner):
    inner.write_marked("")
    inner.regen()
    inner.run().assert_outcomes(passed=1)
    result = inner.run(delta=0.005)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*bitwise change under an identical environment fingerprint*"])
    inner.write_marked("bitwise=False")
    inner.run(delta=0.005).assert_outcomes(passed=1)


def test_golden_is_never_overwritten_without_regen(inner):
    inner.write()
    inner.regen()
    before = files(inner)
    for args, delta in [(["--repro-seed=1"], None), ([], 0.5), (["--repro-atol=1", "--repro-cosine=1"], 0.5)]:
        inner.run(*args, delta=delta)
        assert files(inner) == before


def test_regen_keeps_other_backends_entries(inner):
    inner.write()
    inner.regen()
    data = inner.load()
    other = json.loads(json.dumps(data["checks"]["output"]["torch-cpu"]))
    other["fingerprint"]["device_name"] = "NVIDIA H100 80GB HBM3"
    data["checks"]["output"]["torch-cuda"] = other
    inner.golden().write_text(json.dumps(data))
    old_hash = other["summary"]["hash"]
    result = inner.regen("--repro-seed=1")
    result.stdout.fnmatch_lines(["rewritten: test_inner.py::test_x ?output? on torch-cpu*-> *"])
    entries = inner.load()["checks"]["output"]
    assert entries["torch-cuda"] == other
    assert entries["torch-cpu"]["summary"]["hash"] != old_hash
    assert entries["torch-cpu"]["seed"] == [1]
    inner.run("--repro-seed=1").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "*golden/test_inner/test_x.json: unreadable golden file*Restore it*"),
        ('{"format": 1}', "*golden/test_inner/test_x.json: not a pytest-repro golden file*"),
        ('{"format": 99, "checks": {}}',
         "*test_x.json: written by a newer pytest-repro (golden format 99*reads up to 1*"),
    ],
)
def test_unusable_golden_fails_naming_the_file(inner, content, message):
    inner.write()
    inner.golden().parent.mkdir(parents=True)
    inner.golden().write_text(content)
    for args in ([], ["--repro-regen"]):  # regen must not silently replace a file it can't read
        result = inner.run(*args)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([message])
        assert inner.golden().read_text() == content


def test_parametrized_ids_get_distinct_safe_golden_files(inner):
    inner.write("""
import pytest
import torch

@pytest.mark.parametrize("p", ["x", "a/b", "a_b", "c d", "..", "CON", "y" * 150])
def test_p(p, repro_generator, repro_golden):
    repro_golden.check(torch.randn(3, generator=repro_generator(len(p))))

class TestGroup:
    def test_m(self, repro_generator, repro_golden):
        repro_golden.check(torch.randn(3, generator=repro_generator()))
""")
    inner.regen()
    names = sorted(p.name for p in (inner.path / "golden" / "test_inner").glob("*.json"))
    assert len(names) == 8
    assert "test_p[x].json" in names
    assert "TestGroup.test_m.json" in names  # capitals stay readable (a case-only clash is refused at load)
    assert "test_p[c d].json" in names  # a space is valid everywhere: kept readable
    for name in names:  # printable ASCII, nothing Windows forbids
        assert len(name) <= 110 and all(32 <= ord(c) < 127 and c not in '<>:"/\\|?*' for c in name), name
    inner.run().assert_outcomes(passed=8)


def test_drift_table_lists_every_check(inner):
    inner.write("""
import os
import torch

def test_x(repro_generator, repro_golden):
    out = torch.randn(100, 100, generator=repro_generator())
    out[0, 0] += float(os.environ.get("REPRO_DELTA", "0"))
    repro_golden.check(out, bitwise=False)
    repro_golden.check(out * 2, name="latents", atol=0.5, bitwise=False)
""")
    inner.regen()
    result = inner.run(delta=0.005)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*= repro drift =*",
        "test                   check    backend    vs golden  L_inf     limit     status",
        "-*",
        "test_inner.py::test_x  latents  torch-cpu  same       1.00e-02  5.00e-01  PASS",
        "test_inner.py::test_x  output   torch-cpu  same       5.00e-03  1.00e-02  PASS",
        "repro: 2 checks: 2 pass",
    ])


@pytest.mark.parametrize(
    ("args", "delta", "limit"), [([], 0.05, "1.00e-02"), (["--repro-max-linf=0.001"], 0.005, "1.00e-03")]
)
def test_exit_code_is_nonzero_when_a_check_fails(inner, args, delta, limit):
    inner.write()
    inner.regen()
    result = inner.run(*args, delta=delta)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"test_inner.py::test_x  output  torch-cpu  same*{limit}  FAIL"])


def test_device_without_its_own_entry_falls_back_to_the_cpu_entry(inner):
    inner.pytester.makeconftest(FAKE_CUDA_CONFTEST)
    inner.write_marked("")
    inner.regen("--repro-backend=cpu")
    result = inner.run("--repro-backend=cuda", delta=0.005)  # not bitwise-gated: another backend
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["test_inner.py::test_x  output  torch-cuda  torch-cpu  5.00e-03  1.00e-02  PASS"])
    result = inner.run("--repro-backend=cuda", delta=0.05)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*on torch-cuda drifted from its golden (no torch-cuda entry: compared with torch-cpu)*",
    ])
    inner.run("--repro-backend=cuda", "--repro-backend-tolerance=cuda: atol=0.1", delta=0.05).assert_outcomes(passed=1)
    # Recording both backends keeps them in one file, and cuda is then compared with its own entry.
    inner.regen("--repro-backend=cpu,cuda")
    assert sorted(inner.load()["checks"]["output"]) == ["torch-cpu", "torch-cuda"]
    assert len(list((inner.path / "golden").rglob("*.json"))) == 1
    result = inner.run("--repro-backend=cpu,cuda", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_x?cpu? PASSED*", "*test_x?cuda? PASSED*", "*torch-cuda  same*PASS"])


def test_json_report_holds_results_statuses_metrics_and_replay(inner):
    inner.write("""
import os
import torch

def test_pass(repro_generator, repro_golden):
    repro_golden.check(torch.randn(10, generator=repro_generator()))

def test_fail(repro_generator, repro_golden):
    out = torch.randn(10, generator=repro_generator())
    out[3] += float(os.environ.get("REPRO_DELTA", "0"))
    repro_golden.check(out, bitwise=False)
""")
    inner.regen()
    inner.write("import torch\n\ndef test_new(repro_golden):\n    repro_golden.check(torch.ones(2))\n", "test_more")
    result = inner.run("--repro-report=out/report.json", delta=0.25)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["repro: JSON results in out/report.json"])
    report = json.loads((inner.path / "out" / "report.json").read_text())
    assert report["settings"]["replay"] == "pytest --repro-backend=cpu --repro-seed=0 --repro-deterministic"
    assert report["totals"] == {"pass": 1, "fail": 1, "missing": 1}
    by_test = {rec["test"].split("::")[1]: rec for rec in report["results"]}
    assert {k: v["status"] for k, v in by_test.items()} == {"test_pass": "pass", "test_fail": "fail",
                                                            "test_new": "missing"}
    assert by_test["test_fail"]["metrics"]["linf"] == pytest.approx(0.25, rel=1e-5)
    assert by_test["test_fail"]["worst"][0]["index"] == [3]
    assert by_test["test_pass"]["metrics"]["linf"] == 0
    assert by_test["test_pass"]["seed"] == [0] and by_test["test_pass"]["golden_backend"] == "torch-cpu"
    assert report["environment"]["torch"] == importlib.metadata.version("torch")


XDIST_TEST = """
import os
import pytest
import torch

@pytest.mark.parametrize("n", range(4))
def test_x(n, repro_generator, repro_golden):
    out = torch.randn(50, generator=repro_generator())
    if n % 2:
        out[n] += float(os.environ.get("REPRO_DELTA", "0"))
    repro_golden.check(out, bitwise=False)
"""


def test_regen_and_compare_under_xdist(inner):
    inner.write(XDIST_TEST)
    result = inner.regen("-n", "2", subprocess=True)
    result.stdout.fnmatch_lines(["repro: 4 checks: 4 written"])
    assert len(list((inner.path / "golden").rglob("*.json"))) == 4
    # Workers' results travel home: the controller's table and report hold all four.
    result = inner.run("-n", "2", "--repro-report=report.json", delta=0.5, subprocess=True)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["test_inner.py::test_x?[13]?  output  torch-cpu  same*5.00e-01  1.00e-02  FAIL"] * 2
                                + ["repro: 4 checks: 2 fail, 2 pass"])
    result.stdout.fnmatch_lines(["test_inner.py::test_x?[02]?  output  torch-cpu  same*0.00e+00  1.00e-02  PASS"] * 2)
    report = json.loads((inner.path / "report.json").read_text())
    statuses = {rec["test"]: rec["status"] for rec in report["results"]}
    assert statuses == {f"test_inner.py::test_x[{n}]": "fail" if n % 2 else "pass" for n in range(4)}
    assert report["totals"] == {"pass": 2, "fail": 2}


def test_a_failed_check_fails_the_run_even_when_the_test_catches_it(inner):
    inner.write("""
import pytest
import torch

def test_x(repro_golden):
    with pytest.raises(AssertionError):
        repro_golden.check(torch.ones(3))  # no golden: the check fails, the test swallows it
""")
    result = inner.run("--junitxml=junit.xml")
    # The test itself fails (so JUnit agrees with the exit status), saying the error was caught.
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*repro: a golden check failed (the test caught the error)*",
                                 "test_inner.py::test_x  output  torch-cpu  -  *MISSING"])
    case = ElementTree.parse(inner.path / "junit.xml").getroot().find(".//testcase")
    assert case is not None and case.find("failure") is not None
    assert "no golden for test_inner.py::test_x [output]" in case.find("failure").text


def test_junit_carries_each_check_result_as_a_json_property(inner):
    inner.write()
    inner.regen()
    inner.run("--junitxml=junit.xml", delta=0.5).assert_outcomes(failed=1)
    inner.run("--junitxml=pass.xml").assert_outcomes(passed=1)
    for name, status in (("junit.xml", "fail"), ("pass.xml", "pass")):
        props = ElementTree.parse(inner.path / name).getroot().findall(".//property[@name='repro']")
        assert len(props) == 1
        result = json.loads(props[0].get("value"))  # JSON, not a Python repr
        assert result["status"] == status and result["check"] == "output" and result["backend"] == "torch-cpu"
        assert result["limit"] == 1e-2


def test_regen_refuses_nan_outputs_naming_the_test(inner):
    inner.write("""
import torch

def test_x(repro_golden):
    repro_golden.check(torch.tensor([1.0, float("nan")]), name="latents")
""")
    result = inner.run("--repro-regen")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_inner.py::test_x [[]latents[]]: refusing to record an output with NaN*"])
    assert not (inner.path / "golden").exists()


def test_unsupported_output_names_the_test_and_check(inner):
    inner.write("def test_x(repro_golden):\n    repro_golden.check(object(), name='thing')\n")
    result = inner.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_inner.py::test_x [[]thing[]]: cannot check an object of type builtins.object*"])


@pytest.mark.parametrize("damage", ["delete", "replace"])
def test_regen_repairs_a_missing_or_mismatched_array(inner, damage):
    inner.write()
    inner.regen()
    array = inner.path / "golden/test_inner/test_x.output.torch-cpu.npz"
    if damage == "delete":
        array.unlink()
    else:  # another array than the entry's: what a regen killed between the two writes leaves
        from pytest_repro.store import save_arrays

        save_arrays(array, np.zeros(3), None)
    inner.run().assert_outcomes(failed=1)
    inner.regen().stdout.fnmatch_lines(["test_inner.py::test_x*REWRITTEN"])
    inner.run().assert_outcomes(passed=1)


def test_regen_command_is_shell_quoted(inner):
    inner.write("""
import pytest
import torch

@pytest.mark.parametrize("x", [1], ids=["it's"])
def test_p(repro_golden, x):
    repro_golden.check(torch.ones(2))
""")
    result = inner.run()
    quoted = """'test_inner.py::test_p[[]it'"'"'s[]]'"""  # shlex.quote of test_inner.py::test_p[it's]
    result.stdout.fnmatch_lines([f"*Record it with: pytest --repro-regen --repro-backend=cpu {quoted}"])


def test_names_selecting_the_same_backend_run_once(inner):
    inner.write()
    inner.regen("--repro-backend=cpu,torch-cpu")
    result = inner.run("--repro-backend=cpu,torch-cpu", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["repro: 1 check: 1 pass"])
