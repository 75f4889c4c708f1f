"""check.py in process (no pytester): what --repro-regen calls unchanged, bad entries, odd outputs, shared names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_repro.check import GoldenChecker, ReproCheckFailed
from pytest_repro.identity import BackendKey, TestLocation, name_part
from pytest_repro.results import CheckResult, Status
from pytest_repro.settings import Settings

IMAGE = np.linspace(0.1, 1, 48, dtype=np.float32).reshape(1, 4, 4, 3)


class Backend:
    """What check() asks of a backend: its key and fingerprint (no framework needed)."""

    def __init__(self, key: str = "torch-cpu", threads: int = 1):
        self.key = BackendKey(key)
        self.threads = threads

    def fingerprint(self) -> dict:
        return {"backend": str(self.key), "threads": self.threads}


def check(root: Path, output, *, regen: bool = False, name: str = "output", seeds=(0,), backend=None,
          array_limit: int = 1 << 22) -> CheckResult:
    """One ``repro_golden.check(output, name=name)`` of ``test_x.py::test_x``, goldens under ``root/golden``."""
    results: list[CheckResult] = []
    checker = GoldenChecker(
        location=TestLocation.of("test_x.py::test_x", None, root / "golden"), backend=backend or Backend(),
        settings=Settings(regen=regen, array_limit=array_limit), marker_tolerance={}, seeds=list(seeds),
        record=results.append,
    )
    try:
        checker.check(output, name=name)
    except ReproCheckFailed:
        pass
    (result,) = results
    return result


def golden_json(root: Path) -> dict:
    return json.loads((root / "golden/test_x/test_x.json").read_text())


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---- item 2: "unchanged" only when the whole entry holds this output ----


@pytest.mark.parametrize("same_bytes", [IMAGE[None], IMAGE.reshape(-1), IMAGE.view(np.int32), IMAGE.view(np.uint8)],
                         ids=["a[None]", "flat", "view int32", "view uint8"])
def test_regen_rewrites_an_output_with_the_same_bytes_but_another_shape_or_dtype(tmp_path, same_bytes):
    assert check(tmp_path, IMAGE, regen=True).status is Status.WRITTEN
    assert check(tmp_path, same_bytes, regen=True).status is Status.REWRITTEN  # was UNCHANGED, then failed forever
    assert check(tmp_path, same_bytes).status is Status.PASS
    assert check(tmp_path, IMAGE).status is Status.FAIL


def test_regen_of_the_same_output_changes_no_byte(tmp_path):
    check(tmp_path, IMAGE, regen=True)
    before = tree(tmp_path)
    assert check(tmp_path, IMAGE.copy(), regen=True).status is Status.UNCHANGED
    # Same bytes on another machine confirm the golden: its fingerprint stays (bitwise checks stay there).
    assert check(tmp_path, IMAGE, regen=True, backend=Backend(threads=8)).status is Status.UNCHANGED
    assert tree(tmp_path) == before


@pytest.mark.parametrize(("change", "kwargs"), [("seeds", {"seeds": (1,)}), ("kept", {"array_limit": 16})])
def test_regen_rewrites_when_seeds_or_what_is_kept_differ(tmp_path, change, kwargs):
    check(tmp_path, IMAGE, regen=True)
    assert check(tmp_path, IMAGE, regen=True, **kwargs).status is Status.REWRITTEN
    entry = golden_json(tmp_path)["checks"]["output"]["torch-cpu"]
    assert entry["seed"] == [1] if change == "seeds" else entry["kept"] == "sample of 48"


# ---- items 3 and 4: a bad entry fails naming its field; regen replaces it, and only it ----


def damage(root: Path, field: str, value) -> None:
    path = root / "golden/test_x/test_x.json"
    data = json.loads(path.read_text())
    entry = data["checks"]["output"]["torch-cpu"]
    if value is None and field == "array":
        del entry["array"]  # a merge that dropped a line
    else:
        entry[field] = value
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize(("field", "value"), [("array", None), ("array", "../../etc/passwd"),
                                              ("summary", {"shape": 5}), ("fingerprint", None),
                                              ("kept", "sample of 4096")])
def test_a_bad_entry_fails_and_regen_replaces_only_that_entry(tmp_path, field, value):
    check(tmp_path, IMAGE, regen=True)
    check(tmp_path, IMAGE + 1, regen=True, name="other")
    check(tmp_path, IMAGE + 2, regen=True, backend=Backend("torch-cuda"))
    damage(tmp_path, field, value)
    others = {k: v for k, v in golden_json(tmp_path)["checks"].items() if k != "output"}
    cuda = golden_json(tmp_path)["checks"]["output"]["torch-cuda"]
    result = check(tmp_path, IMAGE[:, ::-1].copy())  # a flipped image: never passes on the abs-sum alone
    assert result.status is Status.ERROR
    assert result.message.startswith(f"{tmp_path / 'golden/test_x/test_x.json'}: entry 'output'/'torch-cpu', "
                                     f"field '{field}")
    assert "--repro-regen" in result.message
    assert check(tmp_path, IMAGE, regen=True).status is Status.REWRITTEN
    assert {k: v for k, v in golden_json(tmp_path)["checks"].items() if k != "output"} == others
    assert golden_json(tmp_path)["checks"]["output"]["torch-cuda"] == cuda
    assert check(tmp_path, IMAGE).status is Status.PASS
    assert check(tmp_path, IMAGE[:, ::-1].copy()).status is Status.FAIL


def test_a_whole_array_of_another_size_fails_instead_of_comparing_abs_sums(tmp_path):
    from pytest_repro.store import save_arrays

    check(tmp_path, IMAGE, regen=True)
    damage(tmp_path, "array_hash", "sha256:" + "0" * 64)
    save_arrays(tmp_path / "golden/test_x/test_x.output.torch-cpu.npz", IMAGE.reshape(-1)[:10], None)
    result = check(tmp_path, IMAGE[:, ::-1].copy())
    assert result.status is Status.ERROR and "field 'array'" in result.message


def test_a_malformed_cpu_entry_fails_the_device_that_falls_back_to_it(tmp_path):
    check(tmp_path, IMAGE, regen=True)
    damage(tmp_path, "seed", "zero")
    result = check(tmp_path, IMAGE, backend=Backend("torch-cuda"))
    assert result.status is Status.ERROR and "entry 'output'/'torch-cpu', field 'seed'" in result.message


# ---- item 5: outputs the harness can't compare, on check and on regen ----


@pytest.mark.parametrize("output", [2**100, np.array(["a"]), np.array([1j]), np.zeros(2, "i4,f4")],
                         ids=["int beyond int64", "text", "complex", "structured"])
@pytest.mark.parametrize("regen", [False, True])
def test_unsupported_outputs_are_refused_naming_the_test_and_nothing_is_written(tmp_path, output, regen):
    result = check(tmp_path, output, regen=regen, name="thing")
    assert result.status is Status.ERROR
    assert result.message.startswith("test_x.py::test_x [thing]: cannot check ")
    assert not (tmp_path / "golden").exists()


# ---- item 7: names that sanitise alike ----


def test_two_checks_whose_names_sanitise_alike_keep_their_own_arrays(tmp_path):
    names = ["a:b", name_part("a:b")]
    for i, name in enumerate(names):
        assert check(tmp_path, IMAGE + i, regen=True, name=name).status is Status.WRITTEN
    for i, name in enumerate(names):
        assert check(tmp_path, IMAGE + i, name=name).status is Status.PASS
    assert len(list((tmp_path / "golden/test_x").glob("*.npz"))) == 2
