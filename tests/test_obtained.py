"""Goldens from runners you don't have (--repro-obtained, accept) and regeneration without churn."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")


def golden_bytes(inner):
    return {p.name: p.read_bytes() for p in (inner.path / "golden").rglob("*") if p.is_file()}


def accept(inner, *args):
    return subprocess.run([sys.executable, "-m", "pytest_repro", "accept", *args], cwd=inner.path,
                          capture_output=True, text=True)


def test_a_runner_obtains_what_it_would_record_and_a_maintainer_accepts_it(inner):
    inner.write()
    inner.regen()
    before = golden_bytes(inner)
    result = inner.run("--repro-obtained=obtained", delta=0.05)  # the runner drifted beyond atol
    result.assert_outcomes(failed=1)
    assert golden_bytes(inner) == before  # golden/ untouched
    result.stdout.fnmatch_lines(["repro: 1 obtained golden file in *obtained; apply them with: "
                                 "python -m pytest_repro accept *obtained"])
    obtained = json.loads((inner.path / "obtained/test_inner/test_x.json").read_text())
    assert list(obtained["checks"]["output"]) == ["torch-cpu"]
    done = accept(inner, "obtained", "--dry-run")
    assert done.returncode == 0 and "would accept: abs-sum" in done.stdout and golden_bytes(inner) == before
    done = accept(inner, "obtained")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_inner.py::test_x [output] on torch-cpu: accepted: abs-sum" in done.stdout
    assert "L_inf 5.00e-02" in done.stdout and "1 accepted, 0 refused" in done.stdout
    inner.run(delta=0.05).assert_outcomes(passed=1)  # the accepted output is the golden now


def test_a_passing_check_with_its_own_entry_obtains_nothing(inner):
    inner.write()
    inner.regen()
    inner.run("--repro-obtained=obtained").assert_outcomes(passed=1)
    assert not (inner.path / "obtained").exists()


def test_accept_refuses_newer_formats_and_damaged_arrays_and_keeps_the_rest(inner):
    inner.write()
    inner.run("--repro-obtained=obtained").assert_outcomes(failed=1)  # no golden yet: obtained as new
    path = inner.path / "obtained/test_inner/test_x.json"
    data = json.loads(path.read_text())
    data["format"] = 99
    path.write_text(json.dumps(data))
    done = accept(inner, "obtained")
    assert done.returncode == 1 and "refused:" in done.stdout and "newer pytest-repro" in done.stdout
    assert not (inner.path / "golden").exists()
    data["format"] = 1
    path.write_text(json.dumps(data))
    npz = next((inner.path / "obtained/test_inner").glob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:-20])  # a broken upload
    done = accept(inner, "obtained")
    assert done.returncode == 1 and "refused:" in done.stdout
    assert accept(inner, "nowhere").returncode == 2


def test_obtained_under_xdist_writes_each_entry_once(inner):
    inner.write("""
import pytest
import torch

@pytest.mark.parametrize("i", range(4))
def test_x(repro_generator, repro_golden, i):
    repro_golden.check(torch.randn(3, generator=repro_generator(i)), name=f"n{i}")
""")
    inner.run("-n", "2", "--repro-obtained=obtained", subprocess=True).assert_outcomes(failed=4)
    files = sorted(p.name for p in (inner.path / "obtained/test_inner").glob("*.json"))
    assert files == [f"test_x[{i}].json" for i in range(4)]
    assert accept(inner, "obtained").stdout.count("accepted:") == 4
    inner.run("-n", "2", subprocess=True).assert_outcomes(passed=4)


def test_regen_keeps_goldens_within_tolerance_and_regen_all_rewrites_them(inner):
    inner.write()
    inner.regen()
    before = golden_bytes(inner)
    result = inner.run("--repro-regen", delta=1e-3)  # a 1e-3 move is within atol 1e-2: no git churn
    assert result.ret == 0 and golden_bytes(inner) == before
    result.stdout.fnmatch_lines(["repro: 1 golden differ* within tolerance and were kept (--repro-regen-all *)"])
    result = inner.run("--repro-regen", delta=0.5)  # failing: rewritten, saying how far it moved
    assert result.ret == 0
    result.stdout.fnmatch_lines(["rewritten: test_inner.py::test_x ?output? on torch-cpu (moved: L_inf 5.00e-01, "
                                 "abs-sum * -> *) -> golden/test_inner/test_x.json"])
    result = inner.run("--repro-regen-all", delta=0.501)
    result.stdout.fnmatch_lines(["rewritten: *(moved: L_inf 1.00e-03*"])


def test_the_same_check_name_twice_is_a_clean_failure(inner):
    inner.write("""
def test_x(repro_golden):
    repro_golden.check([1.0], name="a")
    repro_golden.check([2.0], name="a")
""")
    result = inner.run("--repro-regen")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_inner.py::test_x: check name 'a' used twice in one test; give each check "
                                 "its own name*"])
    assert "ValueError" not in result.stdout.str()


# ---- unused goldens ----

TWO_TESTS = """
import torch

def test_keep(repro_generator, repro_golden):
    repro_golden.check(torch.randn(3, generator=repro_generator()), name="a")
    {extra}

def test_gone(repro_generator, repro_golden):
    repro_golden.check(torch.randn(3, generator=repro_generator()))
"""


def test_unused_goldens_are_listed_after_a_whole_run_and_pruned_on_request(inner):
    inner.write(TWO_TESTS.format(extra='repro_golden.check(torch.zeros(2), name="b")'))
    inner.regen()
    # test_gone is renamed away and test_keep stops making check "b"
    inner.write(TWO_TESTS.format(extra="").replace("def test_gone", "def test_renamed"))
    inner.regen()
    result = inner.run()
    result.stdout.fnmatch_lines(["repro: 2 unused golden(s); --repro-prune deletes them:",
                                 "  golden/test_inner/test_gone.json (no collected test)",
                                 "  golden/test_inner/test_keep.json: check 'b'"])
    assert (inner.path / "golden/test_inner/test_gone.json").exists()  # listing deletes nothing
    partial = inner.run("--repro-prune", "-k", "keep")
    partial.stdout.fnmatch_lines(["repro: --repro-prune deleted nothing: -k or -m selected part of the tests*"])
    assert (inner.path / "golden/test_inner/test_gone.json").exists()
    result = inner.run("--repro-prune")
    result.stdout.fnmatch_lines(["repro: pruned 2 unused golden(s):"])
    assert not list((inner.path / "golden/test_inner").glob("test_gone*"))
    kept = json.loads((inner.path / "golden/test_inner/test_keep.json").read_text())
    assert list(kept["checks"]) == ["a"]
    assert sorted(p.name for p in (inner.path / "golden/test_inner").glob("*.npz")) == \
        sorted(p.name for p in (inner.path / "golden/test_inner").glob("test_*.npz") if ".b." not in p.name)
    inner.run().assert_outcomes(passed=2)  # what is left still checks
    assert "unused golden" not in inner.run().stdout.str()


def test_a_skipped_test_keeps_its_goldens(inner):
    inner.write(TWO_TESTS.format(extra=""))
    inner.regen()
    # test_gone now skips before its check (a missing package, a missing device): its golden is still wanted
    inner.write(TWO_TESTS.format(extra="").replace("def test_gone(repro_generator, repro_golden):",
                                                   "def test_gone(repro_generator, repro_golden):\n"
                                                   "    import pytest; pytest.skip('no device here')"))
    result = inner.run("--repro-prune")
    result.assert_outcomes(passed=1, skipped=1)
    assert "unused golden" not in result.stdout.str() and "pruned" not in result.stdout.str()
    assert json.loads((inner.path / "golden/test_inner/test_gone.json").read_text())["checks"]


def test_goldens_of_a_module_skipped_at_collection_are_kept(inner):
    inner.write(TWO_TESTS.format(extra=""))
    inner.regen()
    # another environment: the module's framework is missing, as the torch suite is in the MindSpore venv
    inner.write("import pytest\npytest.importorskip('a_framework_not_here')\n" + TWO_TESTS.format(extra=""))
    inner.pytester.makepyfile(test_other="def test_y():\n    pass\n")
    result = inner.run("--repro-prune")
    result.assert_outcomes(passed=1, skipped=1)
    assert "unused golden" not in result.stdout.str() and "pruned" not in result.stdout.str()
    assert (inner.path / "golden/test_inner/test_gone.json").exists()
