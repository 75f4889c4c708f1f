"""Hypothesis on the golden reader, through check() and --repro-regen: arbitrary and mutated golden files.

Every outcome is a pass, a failure with a reason, or the plugin's own error naming the file; regen then
repairs the entry (and only it); nothing is written outside the golden folder, nothing is left beside it.
"""

from __future__ import annotations

import copy
import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

from pytest_repro.check import GoldenChecker, ReproCheckFailed
from pytest_repro.identity import BackendKey, TestLocation
from pytest_repro.results import CheckResult, Status
from pytest_repro.settings import Settings

OUTPUT = np.linspace(0.1, 1, 48, dtype=np.float32).reshape(4, 4, 3)
LARGE = np.linspace(-1, 1, 300, dtype=np.float32)  # kept as a sample under array_limit=64
GOLDEN = "golden/test_x/test_x.json"


class Backend:
    def __init__(self, key: str):
        self.key = BackendKey(key)

    def fingerprint(self) -> dict:
        return {"backend": str(self.key), "threads": 1}


def run(root: Path, output: np.ndarray, name: str, regen: bool = False, key: str = "torch-cpu") -> CheckResult:
    results: list[CheckResult] = []
    checker = GoldenChecker(
        location=TestLocation.of("test_x.py::test_x", None, root / "golden"), backend=Backend(key),
        settings=Settings(regen=regen, array_limit=64 if name == "large" else 1 << 22), marker_tolerance={},
        seeds=[0], record=results.append,
    )
    try:
        checker.check(output, name=name)
    except ReproCheckFailed:
        pass
    return results[0]


def _recorded() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run(root, OUTPUT, "output", regen=True)
        run(root, OUTPUT + 1, "output", regen=True, key="torch-cuda")
        run(root, LARGE, "large", regen=True)
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


RECORDED = _recorded()
VALID = json.loads(RECORDED[GOLDEN])

json_values = hs.recursive(
    hs.none() | hs.booleans() | hs.integers() | hs.floats() | hs.text(max_size=20),
    lambda inner: hs.lists(inner, max_size=4) | hs.dictionaries(hs.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document, the document itself first."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += paths(value, (*prefix, i))
    return found


PATHS = paths(VALID)


@hs.composite
def mutated(draw: hs.DrawFn) -> Any:
    """The valid golden with one place replaced (by any JSON, a deep nest) or deleted."""
    doc = copy.deepcopy(VALID)
    path = draw(hs.sampled_from(PATHS[1:]))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    how = draw(hs.sampled_from(["replace", "delete", "nest"]))
    if how == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif how == "nest":  # spliced into the text: json itself can't build or dump a nest this deep
        parent[path[-1]] = f"<<nest {draw(hs.integers(1, 5000))}>>"
    else:
        parent[path[-1]] = draw(json_values)
    return doc


def as_text(doc: Any) -> str:
    text = json.dumps(doc)
    for depth in set(re.findall(r'"<<nest (\d+)>>"', text)):
        text = text.replace(f'"<<nest {depth}>>"', "[" * int(depth) + "]" * int(depth))
    return text


@hs.composite
def npz_bytes(draw: hs.DrawFn) -> bytes:
    """Arbitrary arrays (or bytes) where an .npz is expected."""
    if draw(hs.booleans()):
        return draw(hs.binary(max_size=64))
    dtype = draw(hs.sampled_from(["f4", "f8", "f2", "i8", "u1", "?", ">f4", "c8"]))
    arrays = {"values": draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)))}
    if draw(hs.booleans()):
        arrays["index"] = draw(hnp.arrays(draw(hs.sampled_from(["i8", "u8", "f8"])), hs.integers(0, 400)))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write(root: Path, golden_text: str | None, arrays: dict[str, bytes]) -> None:
    for name, data in RECORDED.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(arrays.get(name, data))
    if golden_text is not None:
        (root / GOLDEN).write_text(golden_text, encoding="utf-8")


def outcomes(root: Path) -> None:
    """Check and regen each check: pass, fail or error with a message; after regen, a pass; others kept."""
    before = _other_entries(root)
    for name, output in (("output", OUTPUT), ("large", LARGE)):
        result = run(root, output, name)
        assert result.status in (Status.PASS, Status.FAIL, Status.MISSING, Status.ERROR), result.status
        if result.status is not Status.PASS:
            assert result.message and (str(root) in result.message or "drifted" in result.message), result.message
        regen = run(root, output, name, regen=True)
        if regen.status is Status.ERROR:  # only a file that can't be read as a golden at all is left to the user
            assert regen.message.startswith(f"{root / GOLDEN}: "), regen.message
            assert "unreadable" in regen.message or "not a pytest-repro" in regen.message or "format" in regen.message
            return
        assert regen.status in (Status.UNCHANGED, Status.WRITTEN, Status.REWRITTEN)
        assert run(root, output, name).status is Status.PASS
    after = _other_entries(root)
    assert after == before or before is None
    leftovers = [p for p in root.rglob("*") if p.is_file() and not p.name.endswith((".json", ".npz"))]
    assert not leftovers and all(p.is_relative_to(root / "golden") for p in root.rglob("*") if p.is_file())


def _other_entries(root: Path) -> str | None:
    """Everything in the golden but our two entries, as JSON text (NaN and all); None if unreadable."""
    try:
        data = json.loads((root / GOLDEN).read_text(encoding="utf-8"))
        checks = dict(data["checks"])
        for name, key in (("output", "torch-cpu"), ("large", "torch-cpu")):
            rest = {k: v for k, v in checks[name].items() if k != key} if isinstance(checks.get(name), dict) else {}
            if rest:
                checks[name] = rest
            else:  # nothing but ours (or no table): regen may make it a table of ours
                checks.pop(name, None)
        return json.dumps(checks, sort_keys=True)
    except (ValueError, RecursionError, TypeError, KeyError):
        return None


@settings(max_examples=150)
@given(mutated())
def test_a_mutated_golden_file_is_read_judged_and_repaired(doc):
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), as_text(doc), {})
        outcomes(Path(tmp))


@settings(max_examples=60)
@given(json_values)
def test_an_arbitrary_json_document_as_golden_file(doc):
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), json.dumps(doc), {})
        outcomes(Path(tmp))


@settings(max_examples=80)
@given(hs.sampled_from(["golden/test_x/test_x.output.torch-cpu.npz", "golden/test_x/test_x.large.torch-cpu.npz"]),
       npz_bytes())
def test_arbitrary_arrays_beside_a_valid_golden(name, data):
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), None, {name: data})
        outcomes(Path(tmp))


def test_the_recorded_golden_passes_as_it_is(tmp_path):
    write(tmp_path, None, {})
    assert [run(tmp_path, o, n).status for n, o in (("output", OUTPUT), ("large", LARGE))] == [Status.PASS] * 2
    assert VALID["checks"]["large"]["torch-cpu"]["kept"] == "sample of 300"  # 1200 bytes > 64: a "sample" of all 300


@pytest.mark.parametrize("text", ["", "nul", "\ufeff{}", '{"checks": {}, "format": 1', "[" * 10**5])
def test_truncated_and_odd_golden_texts(tmp_path, text):
    write(tmp_path, text, {})
    outcomes(tmp_path)
