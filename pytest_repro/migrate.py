"""Move an existing ``expected_slice`` / ``np.abs(image).sum()`` assertion onto a golden without losing it.

diffusers' tests hold their expectation in the test itself::

    expected_slice = np.array([0.1, 0.2, ...])
    assert np.abs(image_slice.flatten() - expected_slice).max() < 1e-3

The migrated test keeps that expectation in its golden file instead::

    expect_slice(repro_golden, image_slice.flatten(), expected_slice, atol=1e-3)

On ``--repro-regen`` the golden records the *expected* values (the old assertion's numbers, not this run's
output); on every later run the slice is held to them under the old tolerance, so the test still fails
where the old assertion would have. ``expect_sum`` does the same for an ``np.abs(image).sum()`` checksum.
``python -m pytest_repro migrate FILE`` prints, for each such assertion it recognises, the line to write
instead, and names those it can't read.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any


def _legacy_check(golden: Any, actual: Any, expected: Any, name: str, atol: float) -> Any:
    import numpy as np

    from .convert import to_array

    actual_array = np.asarray(to_array(actual)[0], dtype=np.float64).reshape(-1)
    expected_array = np.asarray(expected, dtype=np.float64).reshape(-1)
    if actual_array.shape != expected_array.shape:
        raise AssertionError(f"{name}: the output has {actual_array.size} values, the expectation "
                             f"{expected_array.size}")
    # Recording writes the old expectation; checking holds this run to it, under the old tolerance only.
    recorded = expected_array if golden.settings.regen else actual_array
    return golden.check(recorded, name=name, atol=atol, rtol=0.0, max_linf=None, cosine=None, bitwise=False)


def expect_slice(golden: Any, actual_slice: Any, expected_slice: Any, atol: float = 1e-3,
                 name: str = "expected_slice") -> Any:
    """``assert np.abs(actual_slice - expected_slice).max() < atol``, kept in the golden file."""
    return _legacy_check(golden, actual_slice, expected_slice, name, atol)


def expect_sum(golden: Any, output: Any, expected_abs_sum: float, atol: float = 1e-2,
               name: str = "expected_abs_sum") -> Any:
    """``assert abs(np.abs(output).sum() - expected_abs_sum) < atol``, kept in the golden file."""
    import numpy as np

    from .convert import to_array

    total = float(np.abs(np.asarray(to_array(output)[0], dtype=np.float64)).sum())
    return _legacy_check(golden, np.array([total]), np.array([expected_abs_sum]), name, atol)


# ---- the command: which assertions can move, and what to write instead ----


def _suggest(node: ast.Assert) -> str | None:
    """The replacement for ``assert <np.abs(a - b).max() | abs(np.abs(a).sum() - s)> < tol``, else None."""
    test = node.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Lt | ast.LtE)):
        return None
    left, tol = test.left, ast.unparse(test.comparators[0])
    # np.abs(a - b).max()
    if (isinstance(left, ast.Call) and isinstance(left.func, ast.Attribute) and left.func.attr == "max"
            and isinstance(left.func.value, ast.Call) and ast.unparse(left.func.value.func) in ("np.abs", "numpy.abs")
            and len(left.func.value.args) == 1 and isinstance(left.func.value.args[0], ast.BinOp)
            and isinstance(left.func.value.args[0].op, ast.Sub)):
        diff = left.func.value.args[0]
        return f"expect_slice(repro_golden, {ast.unparse(diff.left)}, {ast.unparse(diff.right)}, atol={tol})"
    # abs(np.abs(a).sum() - s)
    if (isinstance(left, ast.Call) and ast.unparse(left.func) == "abs" and len(left.args) == 1
            and isinstance(left.args[0], ast.BinOp) and isinstance(left.args[0].op, ast.Sub)):
        total = left.args[0].left
        if (isinstance(total, ast.Call) and isinstance(total.func, ast.Attribute) and total.func.attr == "sum"
                and isinstance(total.func.value, ast.Call) and ast.unparse(total.func.value.func) == "np.abs"):
            out = ast.unparse(total.func.value.args[0])
            return f"expect_sum(repro_golden, {out}, {ast.unparse(left.args[0].right)}, atol={tol})"
    return None


def migrate(path: Path, out: Any = sys.stdout) -> int:
    """Print each recognised assertion and its replacement; exit 1 when one mentioning an expectation can't be read."""
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        print(f"pytest-repro migrate: can't read {path}: {exc}", file=sys.stderr)
        return 2
    found = unreadable = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assert):
            continue
        text = ast.unparse(node)
        suggestion = _suggest(node)
        if suggestion is not None:
            found += 1
            print(f"{path}:{node.lineno}: {text}\n    -> {suggestion}", file=out)
        elif "expected" in text or "np.abs" in text:
            unreadable += 1
            print(f"{path}:{node.lineno}: can't migrate `{text}`: write expect_slice(repro_golden, output_slice, "
                  "expected_slice, atol=...) or expect_sum(...) by hand", file=out)
    if found:
        print("add: from pytest_repro.migrate import expect_slice, expect_sum (and the repro_golden fixture, or "
              "self.repro_golden in a ReproTestCase); record with: pytest --repro-regen", file=out)
    print(f"{path}: {found} assertion(s) can move, {unreadable} can't be read", file=out)
    return 1 if unreadable else 0
