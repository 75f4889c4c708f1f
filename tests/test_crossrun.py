"""``python -m pytest_repro compare A.json B.json``: pairing, limits, exit codes, messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from pytest_repro.compare_runs import compare_reports, pair
from pytest_repro.results import CheckResult
from pytest_repro.store import save_arrays
from pytest_repro.summary import summarize


def rec(test="t.py::test_x", check="output", backend="torch-cpu", named=False, **extra):
    return {"test": test, "check": check, "backend": backend, "named": named, "status": "pass",
            "summary": {"shape": [4], "dtype": "float32", "size": 4, "hash": "-"},
            "tolerance": {"atol": 1e-2, "cosine": 1e-5}, **extra}


def results(*records):
    return [CheckResult.from_json(r) for r in records]


def write_report(path, records, arrays, environment=None, fmt=2):
    """A report as --repro-report writes it: JSON results plus one .npz per kept output."""
    folder = path.with_name(path.stem + ".arrays")
    for i, (record, values) in enumerate(zip(records, arrays, strict=True)):
        if values is not None:
            values = np.asarray(values, dtype=np.float32)
            save_arrays(folder / f"{i}.npz", values, None, compress=False)
            record["array_file"] = f"{folder.name}/{i}.npz"
            record["summary"] = summarize(values, "float32")
    path.write_text(json.dumps({"format": fmt, "results": records, "environment": environment or {}}))
    return path


def run(a, b, **kwargs):
    out = io.StringIO()
    code = compare_reports([a, b], out=out, **kwargs)
    return code, out.getvalue()


BASE = [1.0, 2.0, 3.0, 4.0]


def test_exact_backend_pairs_before_another_backend():
    a = results(rec(backend="torch-cuda"), rec(backend="torch-cpu"))
    b = results(rec(backend="torch-cpu"))
    pairs, only_a, only_b = pair(a, b)
    assert [(x.backend, y.backend) for x, y in pairs] == [("torch-cpu", "torch-cpu")]
    assert [r.backend for r in only_a] == ["torch-cuda"] and only_b == []


def test_explicit_names_pair_across_tests_default_names_do_not():
    a = results(rec("a.py::test_torch", "ddim", named=True), rec("a.py::test_torch_2"))
    b = results(rec("b.py::test_ms", "ddim", "mindspore-cpu", named=True),
                rec("b.py::test_ms_2", backend="mindspore-cpu"))
    pairs, only_a, only_b = pair(a, b)
    assert [(x.test, y.test) for x, y in pairs] == [("a.py::test_torch", "b.py::test_ms")]
    assert [r.test for r in only_a] == ["a.py::test_torch_2"] and [r.test for r in only_b] == ["b.py::test_ms_2"]


@pytest.mark.parametrize(("shift", "code"), [(0.0, 0), (5e-3, 0), (5e-2, 1)])
def test_l_inf_against_each_checks_atol(tmp_path, shift, code):
    a = write_report(tmp_path / "a.json", [rec()], [BASE])
    b = write_report(tmp_path / "b.json", [rec()], [[v + shift for v in BASE]])
    got, text = run(a, b)
    assert got == code, text
    assert ("FAIL" in text) == bool(code)
    assert "1 pairs against" in text


def test_cosine_gates_too_and_limits_can_be_given(tmp_path):
    a = write_report(tmp_path / "a.json", [rec()], [BASE])
    b = write_report(tmp_path / "b.json", [rec()], [[4.0, 3.0, 2.0, 1.0]])  # far in direction
    assert run(a, b, atol=10.0)[0] == 1  # L_inf within 10, cosine distance 0.33 > 1e-5
    assert run(a, b, atol=10.0, cosine=1.0)[0] == 0


def test_nothing_paired_is_exit_2_and_environment_differences_are_listed(tmp_path):
    a = write_report(tmp_path / "a.json", [rec("x.py::t")], [BASE], {"torch": "2.13.0"})
    b = write_report(tmp_path / "b.json", [rec("y.py::t")], [BASE])
    assert run(a, b)[0] == 2
    b = write_report(tmp_path / "b.json", [rec("x.py::t")], [BASE], {"mindspore": "2.10.0"})
    code, text = run(a, b)
    assert code == 0 and "mindspore: None -> 2.10.0" in text and "torch: 2.13.0 -> None" in text


def test_missing_arrays_folder_says_to_copy_it(tmp_path):
    a = write_report(tmp_path / "a.json", [rec()], [BASE])
    b = write_report(tmp_path / "b.json", [rec()], [BASE])
    for f in (tmp_path / "b.arrays").iterdir():
        f.unlink()
    code, text = run(a, b)
    assert code == 1 and "Copy the b.arrays/ folder along with b.json" in text


def test_unreadable_report_and_bad_limit_are_usage_errors(tmp_path):
    good = write_report(tmp_path / "a.json", [rec()], [BASE])
    (tmp_path / "bad.json").write_text("{")
    assert run(good, tmp_path / "bad.json")[0] == 2
    done = subprocess.run([sys.executable, "-m", "pytest_repro", "compare", str(good), str(good), "--atol=-1"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "--atol: expected a non-negative number" in done.stderr


def test_two_real_runs_compare_through_the_command_line(inner):
    pytest.importorskip("torch")
    inner.write()
    inner.regen()
    inner.run("--repro-report=a.json").assert_outcomes(passed=1)
    inner.run("--repro-report=b.json", "--repro-atol=1", delta=0.05).assert_outcomes(passed=1)
    args = [sys.executable, "-m", "pytest_repro", "compare", "a.json", "b.json"]
    done = subprocess.run(args, cwd=inner.path, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr  # limits come from A, whose atol is 1e-2
    assert "test_inner.py::test_x [output]" in done.stdout
    done = subprocess.run([*args, "--atol=0.1"], cwd=inner.path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_a_format_1_report_still_loads_and_a_newer_one_is_refused_naming_the_file(tmp_path):
    old = rec(limits=[{"metric": "L_inf", "value": 0.0, "limit": 0.01, "ok": True}], passed=True)
    a = write_report(tmp_path / "a.json", [old], [BASE], fmt=1)
    b = write_report(tmp_path / "b.json", [rec()], [BASE])
    assert run(a, b)[0] == 0
    from pytest_repro.results import RunReport

    assert RunReport.load(a).results[0].limit == 0.01  # re-derived from the format-1 rows
    newer = write_report(tmp_path / "new.json", [rec()], [BASE], fmt=99)
    with pytest.raises(ValueError, match=r"new\.json: report format 99 is newer"):
        RunReport.load(newer)


# The session's own verdict and compare's verdict on the same pair of outputs: one rule, one answer.
# The delta test moves one value by REPRO_DELTA; each case is decided by one limit other than atol alone.
AGREE = [
    ("--repro-rtol=0.5", 0.2, True),  # beyond atol 1e-2, within rtol * |golden|
    ("--repro-max-linf=0.005", 0.008, False),  # within atol, beyond the ceiling
    ("--repro-atol=0.02", 0.03, False),
]


@pytest.mark.parametrize(("flag", "delta", "passes"), AGREE)
def test_compare_agrees_with_the_in_run_verdict(inner, flag, delta, passes):
    pytest.importorskip("torch")
    inner.write()
    inner.regen("--repro-report=golden.json")  # the reference run: B, in the golden's place
    result = inner.run("--repro-report=run.json", flag, delta=delta)
    assert (result.ret == 0) is passes, result.stdout.str()
    report = json.loads((inner.path / "run.json").read_text())
    assert report["format"] == 2 and report["results"][0]["status"] == ("pass" if passes else "fail")
    code, text = run(inner.path / "run.json", inner.path / "golden.json")
    assert (code == 0) is passes, text
    limit = report["results"][0]["limit"]
    assert f"{limit:.2e}" in text  # the limit the run held the check to, printed by compare too


# ---- many runners, one gate ----


def three_runners(tmp_path, cuda_shift=1e-3, ascend_shift=1e-3, **ascend):
    cpu = write_report(tmp_path / "cpu.json", [rec(backend="torch-cpu")], [BASE])
    cuda = write_report(tmp_path / "cuda.json", [rec(backend="torch-cuda")], [[v + cuda_shift for v in BASE]])
    npu = write_report(tmp_path / "ascend.json", [rec(backend="torch-ascend", **ascend)],
                       [[v + ascend_shift for v in BASE]])
    return cpu, cuda, npu


def test_many_runners_print_one_matrix_against_the_reference(tmp_path):
    cpu, cuda, npu = three_runners(tmp_path)
    out = io.StringIO()
    assert compare_reports([cuda, npu, cpu], out=out) == 0  # the last is the reference
    text = out.getvalue()
    rows = [line for line in text.splitlines() if "torch-" in line and "[output]" in line or line.startswith(" ")]
    assert len([r for r in rows if "torch-" in r]) == 3, text  # one row per runner, the reference included
    assert "(reference)" in text and text.count("PASS") >= 2
    assert "2 pairs against" in text


def test_the_gate_fails_on_any_runner_and_names_it(tmp_path):
    cpu, cuda, npu = three_runners(tmp_path, ascend_shift=0.5)
    out = io.StringIO()
    assert compare_reports([cuda, npu], reference=cpu, out=out) == 1
    failing = [line for line in out.getvalue().splitlines() if "FAIL" in line]
    assert len(failing) == 1 and "torch-ascend" in failing[0] and "outside atol" in failing[0]


def test_a_runners_own_failure_against_its_golden_fails_the_gate(tmp_path):
    cpu, cuda, npu = three_runners(tmp_path, status="fail")
    out = io.StringIO()
    assert compare_reports([cuda, npu, cpu], out=out) == 1
    assert "1 failing check" in out.getvalue()


def test_strict_fails_a_check_missing_on_a_runner(tmp_path):
    cpu = write_report(tmp_path / "cpu.json", [rec(), rec(check="latents", named=True)], [BASE, BASE])
    cuda = write_report(tmp_path / "cuda.json", [rec(backend="torch-cuda")], [BASE])
    out = io.StringIO()
    assert compare_reports([cuda, cpu], out=out) == 0
    assert compare_reports([cuda, cpu], strict=True, out=out) == 1
    assert "missing on cuda.json: t.py::test_x [latents] on torch-cpu (fails under --strict)" in out.getvalue()


def test_a_looser_pairing_seeds_and_fingerprints_are_shown(tmp_path):
    ms = rec("b.py::test_ms", "ddim", "mindspore-cpu", named=True, seed=[1], fingerprint={"mindspore": "2.10.0"})
    torch = rec("a.py::test_torch", "ddim", named=True, seed=[0], fingerprint={"torch": "2.13.0"})
    a = write_report(tmp_path / "ms.json", [ms], [BASE])
    b = write_report(tmp_path / "torch.json", [torch], [BASE])
    code, text = run(a, b)
    assert code == 0, text
    assert "[vs a.py::test_torch [ddim] on torch-cpu, paired by check name]" in text
    assert "seeds differ: [1] vs [0]" in text
    assert "fingerprint ms.json -> torch.json: mindspore: 2.10.0 -> None; torch: None -> 2.13.0" in text


def test_an_unreadable_runner_or_a_pair_without_arrays_never_passes(tmp_path):
    cpu, cuda, npu = three_runners(tmp_path)
    npu.write_text(npu.read_text()[:40])  # truncated by a broken upload
    assert compare_reports([cuda, npu, cpu], out=io.StringIO()) == 2
    cpu, cuda, npu = three_runners(tmp_path)
    for f in (tmp_path / "cuda.arrays").iterdir():
        f.unlink()
    out = io.StringIO()
    assert compare_reports([cuda, npu, cpu], out=out) == 1
    assert "ERROR:" in out.getvalue() and "Copy the cuda.arrays/ folder" in out.getvalue()


def test_the_gate_appends_its_matrix_as_markdown_and_draws_every_runner(tmp_path):
    cpu, cuda, npu = three_runners(tmp_path, ascend_shift=0.5)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    code = compare_reports([cuda, npu, cpu], markdown=summary, html=tmp_path / "gate.html", out=io.StringIO())
    assert code == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, as GitHub's step summary wants
    failing = text[:text.index("<details>")]
    assert "1 failing of 3" in failing and "ascend.json" in failing and "cuda.json" not in failing
    assert "cuda.json" in text[text.index("<details>"):]  # passing rows folded
    page = (tmp_path / "gate.html").read_text()
    assert page.lower().startswith("<!doctype html>") and "torch-ascend" in page and "torch-cuda" in page
