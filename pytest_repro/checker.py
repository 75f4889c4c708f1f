"""``repro_golden.check()``: convert, look up the golden, compare or record, and report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .backends.base import Backend
from .checksum import sample_indices, summarize
from .compare import Verdict, compare
from .convert import to_array
from .golden import GoldenError, GoldenFile, golden_path, locked, safe_name, save_arrays
from .settings import SAMPLE_SIZE, Settings, check_tolerance_kwargs


class ReproCheckFailed(AssertionError):
    """Raised by ``check()`` when an output drifted, is missing its golden, or is malformed."""


def fingerprint_diff(golden: dict[str, Any], now: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [golden.get(k), now.get(k)] for k in sorted(set(golden) | set(now)) if golden.get(k) != now.get(k)}


class GoldenChecker:
    """The object behind the ``repro_golden`` fixture; one per test."""

    def __init__(self, *, test_id: str, nodeid: str, backend: Backend, settings: Settings,
                 marker_tolerance: dict[str, Any], seeds: list[int], record: Any):
        self.test_id = test_id  # the node id without the backend parameter: one golden for all backends
        self.nodeid = nodeid
        self.backend = backend
        self.settings = settings
        self.marker_tolerance = marker_tolerance
        self.seeds = seeds  # filled by repro_generator as the test draws generators
        self._record = record
        self._names: set[str] = set()
        self.path = golden_path(Path(settings.golden_dir), test_id)

    def _name(self, name: str | None) -> str:
        if name is None:
            name = "output"
            n = 2
            while name in self._names:
                name, n = f"output_{n}", n + 1
        elif name in self._names:
            raise ValueError(f"{self.nodeid}: check name {name!r} used twice in one test; give each check its own")
        self._names.add(name)
        return name

    def check(self, output: Any, name: str | None = None, **tolerance: Any) -> Verdict | None:
        """Compare ``output`` with the golden for this test and backend, within tolerance.

        Tolerance kwargs (atol, rtol, max_linf, cosine, bitwise) override the marker and options.
        Returns the verdict (``None`` when --repro-regen recorded the output instead).
        """
        __tracebackhide__ = True
        named = name is not None
        name = self._name(name)
        overrides = {**self.marker_tolerance, **check_tolerance_kwargs(tolerance, f"{self.nodeid}: check()")}
        tol = self.settings.tolerance_for(self.backend.key, overrides)
        array, dtype = to_array(output)
        summary = summarize(array, dtype)
        fingerprint = self.backend.fingerprint()
        key = self.backend.key
        record: dict[str, Any] = {
            "test": self.test_id, "nodeid": self.nodeid, "check": name, "named": named, "backend": key,
            "golden_backend": None, "golden_file": str(self.path), "status": "error",
            "tolerance": tol.as_dict(), "seed": list(self.seeds) or [self.settings.seed],
            "summary": summary, "fingerprint": fingerprint,
        }
        try:
            if self.settings.report:
                record["array_file"] = self._keep_for_report(name, array)
            return self._check(name, array, dtype, summary, fingerprint, tol, record)
        finally:
            self._record(record)

    def _kept(self, array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The whole array if it is small enough, else an evenly strided sample and its indices."""
        if array.nbytes <= self.settings.array_limit:
            return array, None
        index = sample_indices(array.size, SAMPLE_SIZE)
        return array.reshape(-1)[index], index

    def _keep_for_report(self, name: str, array: np.ndarray) -> str:
        """Save the output beside the JSON report, so two runs on two machines can be compared."""
        report = Path(self.settings.report or "")
        folder = report.with_name(report.stem + ".arrays")
        path = folder / (safe_name(f"{self.test_id}.{name}.{self.backend.key}") + ".npz")
        save_arrays(path, *self._kept(array), compress=False)
        return f"{folder.name}/{path.name}"

    def _check(self, name, array, dtype, summary, fingerprint, tol, record) -> Verdict | None:
        __tracebackhide__ = True
        key = self.backend.key
        try:
            golden = GoldenFile.load(self.path, self.test_id)
            entry = golden.entry(name, key)
        except GoldenError as exc:
            record["reasons"] = [str(exc)]
            raise ReproCheckFailed(str(exc)) from None
        if self.settings.regen:
            if entry is not None and entry["summary"].get("hash") == summary["hash"]:
                record.update(status="unchanged", golden_backend=key)
                return None
            self._write(name, array, summary, fingerprint, record, rewrite=entry is not None)
            return None
        golden_key = key
        if entry is None:
            # Documented fallback: a device with no entry of its own is compared with its framework's
            # CPU entry, under the tolerance configured for this backend.
            cpu_key = f"{self.backend.framework}-cpu"
            entry = golden.entry(name, cpu_key) if cpu_key != key else None
            golden_key = cpu_key
        if entry is None:
            record.update(status="missing")
            known = golden.backends(name)
            where = f"; it has entries for {', '.join(known)}" if known else ""
            msg = (
                f"no golden for {self.test_id} [{name}] on backend {key} in {self.path}{where}.\n"
                f"Record it with: pytest --repro-regen --repro-backend={self.backend.device_kind} "
                f"'{self.nodeid}'"
            )
            record["reasons"] = [msg]
            raise ReproCheckFailed(msg)
        loaded = golden.load_array(entry) if summary["size"] else None
        stored, index = (loaded if loaded is not None else (None, None))
        if stored is not None and index is None and stored.size != array.size:
            stored = None  # shape changed: compare() reports it from the summary
        same_env = golden_key == key and entry.get("fingerprint") == fingerprint
        verdict = compare(array, dtype, entry["summary"], stored, index, tol, same_env, summary["hash"])
        diff = fingerprint_diff(entry.get("fingerprint", {}), fingerprint)
        record.update(
            status="pass" if verdict.passed else "fail", golden_backend=golden_key,
            fingerprint_diff=diff, **verdict.as_dict(),
        )
        if not verdict.passed:
            raise ReproCheckFailed(self._message(name, golden_key, entry, verdict, diff))
        return verdict

    def _write(self, name, array, summary, fingerprint, record, rewrite: bool) -> None:
        # Too big to keep whole: an evenly strided sample is kept, and L_inf is taken over it.
        values, index = self._kept(array)
        entry = {"summary": summary, "seed": record["seed"], "fingerprint": fingerprint,
                 "kept": "full" if index is None else f"sample of {index.size}"}
        with locked(self.path):
            golden = GoldenFile.load(self.path, self.test_id)  # re-read: another backend may have written
            written = golden.set_entry(name, self.backend.key, entry, values, index)
        record.update(status="rewritten" if rewrite else "written", golden_backend=self.backend.key,
                      written=[str(p) for p in written])

    def _message(self, name: str, golden_key: str, entry: dict[str, Any], v: Verdict,
                 diff: dict[str, list[Any]]) -> str:
        key = self.backend.key
        vs = "" if golden_key == key else f" (no {key} entry: compared with {golden_key})"
        lines = [f"{self.test_id} [{name}] on {key} drifted from its golden{vs} in {self.path}"]
        lines += [f"  - {reason}" for reason in v.reasons]
        if v.limits:
            lines.append(f"  {'metric':<26}{'value':>12}{'limit':>12}")
            for metric, value, limit, ok in v.limits:
                shown = "-" if limit is None else f"{limit:.3g}"
                lines.append(f"  {metric:<26}{value:>12.3g}{shown:>12}  {'ok' if ok else 'FAIL'}")
        for metric in ("mean_abs", "rel_l2"):
            if metric in v.metrics:
                lines.append(f"  {metric:<26}{v.metrics[metric]:>12.3g}")
        if "abs_sum" in v.metrics:
            lines.append(f"  abs-sum {v.metrics['abs_sum']:.7g} (golden {entry['summary'].get('abs_sum')})")
        if v.worst:
            lines.append("  worst: " + "; ".join(
                f"{tuple(w['index'])} {w['actual']:.6g} vs {w['expected']:.6g}" for w in v.worst))
        if diff:
            lines.append("  environment differs from the golden's: " + ", ".join(
                f"{k}: {old!r} -> {new!r}" for k, (old, new) in diff.items()))
        lines.append(
            f"  to accept this output: pytest --repro-regen --repro-backend={self.backend.device_kind} "
            f"'{self.nodeid}'"
        )
        return "\n".join(lines)
