"""PyTorch's "no deterministic implementation" errors and warnings, read into an op name and a remedy.

Under ``torch.use_deterministic_algorithms(True)`` an op without a deterministic kernel raises a
RuntimeError; with ``warn_only=True`` it warns instead and the run goes on. The plugin turns the error
into a short failure naming the op and the remedy (no traceback), and the determinism audit
(``--repro-runs``) runs warn-only to list every such op a test used. Standard library only: torch is
imported only where a test already uses it.
"""

from __future__ import annotations

import contextlib
import re
import sys
import warnings
from collections.abc import Iterator

# The text of at::globalContext().alertNotDeterministic and of torch._prims_common.alert_not_deterministic.
_ALERT = re.compile(r"(?P<op>[^\n]+?) does not have a deterministic implementation, but you set "
                    r"'torch\.use_deterministic_algorithms\(True(?:, warn_only=True)?\)'")
# cuBLAS raises its own text when CUBLAS_WORKSPACE_CONFIG was missing when CUDA started.
_CUBLAS = re.compile(r"CUBLAS_WORKSPACE_CONFIG")


def op_of(text: str) -> str | None:
    """The op a PyTorch determinism alert names, or ``None`` for any other text."""
    match = _ALERT.search(text)
    if match:
        return match.group("op").strip()
    if _CUBLAS.search(text) and "deterministic" in text.lower():
        return "cuBLAS (CUBLAS_WORKSPACE_CONFIG unset when CUDA started)"
    return None


def remedy(op: str) -> str:
    if op.startswith("cuBLAS"):
        return ("set CUBLAS_WORKSPACE_CONFIG=:4096:8 in the environment before CUDA starts: pytest-repro sets it "
                "at start-up when determinism is on, so something started CUDA before the plugin was configured, "
                "or the variable was set to an unusable value")
    return ("mark this test @pytest.mark.repro(deterministic=False), or run with --repro-no-deterministic; its "
            "goldens then hold only where run-to-run variation stays within tolerance, which --repro-runs=N "
            "measures (it runs warn-only and lists every such op the test uses)")


def explain(nodeid: str, text: str) -> str | None:
    """A failure text for a determinism error (what a test's report shows instead of the traceback)."""
    op = op_of(text)
    if op is None:
        return None
    return (f"{nodeid}: {op} has no deterministic implementation in PyTorch, and deterministic algorithms are on "
            f"for this test (pytest-repro's default).\nRemedy: {remedy(op)}.\nPyTorch said: {text.strip()}")


@contextlib.contextmanager
def warn_only(framework: str, ops: list[str]) -> Iterator[None]:
    """PyTorch's warn-only mode for the block, if deterministic algorithms are on; the ops it warns about go
    into ``ops`` (each once, in order). Other warnings are passed on as they came."""
    torch = sys.modules.get("torch") if framework == "torch" else None
    if torch is None or not torch.are_deterministic_algorithms_enabled():
        yield
        return
    saved = torch.is_deterministic_algorithms_warn_only_enabled()
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # every op, not only the first warning from each line
            torch.use_deterministic_algorithms(True, warn_only=True)
            try:
                yield
            finally:
                torch.use_deterministic_algorithms(True, warn_only=saved)
    finally:  # also when the test raised: the ops it used before are part of the answer
        for w in caught:
            op = op_of(str(w.message))
            if op is None:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
            elif op not in ops:
                ops.append(op)
