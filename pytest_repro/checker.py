"""``repro_golden.check()``: convert, look up the golden, compare or record, and report."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backends.base import Backend
from .checksum import sample_indices, summarize
from .compare import Verdict, compare
from .convert import UnsupportedOutput, to_array
from .golden import GoldenError, GoldenFile, golden_path, locked, safe_name, save_arrays
from .settings import DEVICE_NAMES, SAMPLE_SIZE, Settings, Tolerance, check_tolerance_kwargs


class ReproCheckFailed(AssertionError):
    """Raised by ``check()`` when an output drifted, is missing its golden, or is malformed."""


def dict_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """``{key: [old, new]}`` for every key whose value differs (environment fingerprints)."""
    return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


@dataclass
class Observed:
    """One ``check()`` call: what the test produced and under which limits."""

    name: str
    array: np.ndarray
    dtype: str
    summary: dict[str, Any]
    fingerprint: dict[str, Any]
    tol: Tolerance
    record: dict[str, Any]  # the JSON result, filled in as the check goes


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

    def _regen_command(self) -> str:
        # The device name selects the test's own framework; a third-party device needs the full key.
        kind = self.backend.device_kind
        backend = kind if kind in DEVICE_NAMES else self.backend.key
        return f"pytest --repro-regen --repro-backend={backend} {shlex.quote(self.test_id)}"

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
        try:
            array, dtype = to_array(output)
        except UnsupportedOutput as exc:
            raise ReproCheckFailed(f"{self.nodeid} [{name}]: {exc}") from None
        summary = summarize(array, dtype)
        record: dict[str, Any] = {
            "test": self.test_id, "nodeid": self.nodeid, "check": name, "named": named,
            "backend": self.backend.key, "golden_backend": None, "golden_file": str(self.path),
            "status": "error", "tolerance": tol.as_dict(), "seed": list(self.seeds) or [self.settings.seed],
            "summary": summary, "fingerprint": self.backend.fingerprint(),
        }
        seen = Observed(name, array, dtype, summary, record["fingerprint"], tol, record)
        try:
            if self.settings.report:
                record["array_file"] = self._keep_for_report(name, array)
            if self.settings.regen:
                self._regen(seen)
                return None
            return self._compare(seen)
        finally:
            self._record(record)

    def _fail(self, seen: Observed, message: str, status: str = "error") -> ReproCheckFailed:
        seen.record.update(status=status)
        seen.record.setdefault("reasons", [message])
        return ReproCheckFailed(message)

    def _load(self, seen: Observed) -> tuple[GoldenFile, dict[str, Any] | None]:
        __tracebackhide__ = True
        try:
            golden = GoldenFile.load(self.path, self.test_id)
            return golden, golden.entry(seen.name, self.backend.key)
        except GoldenError as exc:
            raise self._fail(seen, str(exc)) from None

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

    def _regen(self, seen: Observed) -> None:
        __tracebackhide__ = True
        if not seen.summary["finite"]:
            raise self._fail(seen, f"{self.nodeid} [{seen.name}]: refusing to record an output with NaN or Inf "
                                   f"values as the golden on {self.backend.key}")
        golden, entry = self._load(seen)
        key = self.backend.key
        if entry is not None and entry["summary"]["hash"] == seen.summary["hash"] and self._array_intact(golden, entry):
            seen.record.update(status="unchanged", golden_backend=key)
            return None
        values, index = self._kept(seen.array)
        new_entry = {"summary": seen.summary, "seed": seen.record["seed"], "fingerprint": seen.fingerprint,
                     "kept": "full" if index is None else f"sample of {index.size}"}
        with locked(self.path):
            golden = GoldenFile.load(self.path, self.test_id)  # re-read: another backend may have written
            written = golden.set_entry(seen.name, key, new_entry, values, index)
        seen.record.update(status="written" if entry is None else "rewritten", golden_backend=key,
                           written=[str(p) for p in written])
        return None

    @staticmethod
    def _array_intact(golden: GoldenFile, entry: dict[str, Any]) -> bool:
        """A missing or mismatched .npz beside an unchanged entry must be rewritten by --repro-regen."""
        try:
            golden.load_array(entry)
        except GoldenError:
            return False
        return True

    def _compare(self, seen: Observed) -> Verdict:
        __tracebackhide__ = True
        golden, entry = self._load(seen)
        key = golden_key = self.backend.key
        if entry is None and key != f"{self.backend.framework}-cpu":
            # Documented fallback: a device with no entry of its own is compared with its framework's
            # CPU entry, under the tolerance configured for this backend.
            golden_key = f"{self.backend.framework}-cpu"
            try:
                entry = golden.entry(seen.name, golden_key)
            except GoldenError as exc:
                raise self._fail(seen, str(exc)) from None
        if entry is None:
            known = golden.backends(seen.name)
            where = f"; it has entries for {', '.join(known)}" if known else ""
            raise self._fail(seen, (
                f"no golden for {self.test_id} [{seen.name}] on backend {key} in {self.path}{where}.\n"
                f"Record it with: {self._regen_command()}"
            ), status="missing")
        try:
            loaded = golden.load_array(entry) if seen.summary["size"] else None
        except GoldenError as exc:
            raise self._fail(seen, str(exc)) from None
        stored, index = loaded if loaded is not None else (None, None)
        if stored is not None and index is None and stored.size != seen.array.size:
            stored = None  # shape changed: compare() reports it from the summary
        same_env = golden_key == key and entry.get("fingerprint") == seen.fingerprint
        verdict = compare(seen.array, seen.dtype, entry["summary"], stored, index, seen.tol, same_env,
                          seen.summary["hash"])
        diff = dict_diff(entry.get("fingerprint", {}), seen.fingerprint)
        seen.record.update(golden_backend=golden_key, fingerprint_diff=diff, **verdict.as_dict())
        if not verdict.passed:
            message = self._message(seen.name, golden_key, entry, verdict, diff, seen.record["seed"])
            raise self._fail(seen, message, status="fail")
        seen.record["status"] = "pass"
        return verdict

    def _message(self, name: str, golden_key: str, entry: dict[str, Any], v: Verdict,
                 diff: dict[str, list[Any]], seeds: list[int]) -> str:
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
            extra = v.metrics.get(metric)
            if extra is not None:
                lines.append(f"  {metric:<26}{extra:>12.3g}")
        if "abs_sum" in v.metrics:
            lines.append(f"  abs-sum {v.metrics['abs_sum']:.7g} (golden {entry['summary'].get('abs_sum')})")
        if v.worst:
            lines.append("  worst (index: output vs golden): " + "; ".join(
                f"{tuple(w['index'])} {w['actual']:.6g} vs {w['expected']:.6g}" for w in v.worst))
        if entry.get("seed") is not None and entry.get("seed") != seeds:
            lines.append(f"  seeds differ: the golden drew {entry['seed']}, this run drew {seeds} "
                         "(another seed is another image, not a drift)")
        if diff:
            lines.append("  environment differs from the golden's: " + ", ".join(
                f"{k}: {old!r} -> {new!r}" for k, (old, new) in diff.items()))
        lines.append(f"  to accept this output: {self._regen_command()}")
        return "\n".join(lines)
