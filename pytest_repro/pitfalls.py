"""Generator pitfalls, seen in what the pipeline was given, not guessed from its output.

While a run is entered (``Repro.__enter__`` to ``__exit__``: the ``repro_backend`` fixture's setup to
teardown), every ``randn_tensor`` bound in a loaded ``diffusers.*`` or ``mindone.*`` module is wrapped:
diffusers pipelines draw their noise through it (mindone's twin takes numpy generators), and each
pipeline module binds its own copy by name, so patching the one helper module would miss them. The
wrappers go back on exit, also in modules imported during the run (which bound the wrapper).

What a wrapped call shows, and what ``check()`` then says (JSON: the result's ``pitfalls``):

- ``repeated-generator``: a batch given one generator object several times (``[g] * n``). Warning.
- ``consumed-generator``: a generator that fed one checked output goes on, unreseeded, to feed the
  next (``g = torch.manual_seed(0)`` then a loop of ``pipe(generator=g)``). Warning. The fixture's own
  generators are also caught without the wrapper: their state is compared at hand-out and each check.
- ``device-generator``: a CUDA/NPU ``torch.Generator`` (another image than a CPU one: L_inf 1.0 on an
  H100). Warning; ``generator-mismatch`` when the golden was drawn from other generators (entry field
  ``generators``). A failing check lists them as the likely cause.
- ``torch-generator-in-mindspore``: :class:`ReproPitfallError` at once, before mindone fails obscurely.

Torch and numpy are looked up in ``sys.modules``, never imported: a generator of theirs implies them.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import pytest

PATCHED = ("diffusers", "mindone")  # packages whose modules bind the noise helper
HELPER = "randn_tensor"
FIX_FRESH = "use a fresh generator for each call: repro_generator(seed) (or repro_generator(seed, batch=n))"


class ReproPitfallWarning(pytest.PytestWarning):
    """A generator was used in a way that makes an output depend on more than its seed."""


class ReproPitfallError(TypeError):
    """A generator the test's framework can't use (a torch generator in a MindSpore test)."""


@dataclass(frozen=True)
class Pitfall:
    kind: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


def generator_kind(gen: Any) -> str | None:
    """``torch-cpu``, ``torch-cuda``..., ``numpy``; ``None`` for anything else (then it is not tracked)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(gen, torch.Generator):
        return f"torch-{gen.device.type}"
    np = sys.modules.get("numpy")
    if np is not None and isinstance(gen, (np.random.Generator, np.random.RandomState)):
        return "numpy"
    return None


def _digest(gen: Any) -> str:
    """The generator's position in its stream: equal digests, equal next draws."""
    if hasattr(gen, "get_state") and not hasattr(gen, "bit_generator"):
        state = gen.get_state()
        raw = state.numpy().tobytes() if hasattr(state, "numpy") else pickle.dumps(state)
    else:
        raw = pickle.dumps(gen.bit_generator.state)
    return hashlib.sha1(raw).hexdigest()


def _wrap(original: Any) -> Any:
    @functools.wraps(original)
    def randn_tensor(*args: Any, **kwargs: Any) -> Any:
        generator = kwargs["generator"] if "generator" in kwargs else (args[1] if len(args) > 1 else None)
        if _watching:
            _watching[-1].observe(generator)
        return original(*args, **kwargs)

    randn_tensor._repro_wrapper = True  # type: ignore[attr-defined]
    return randn_tensor


_wrappers: dict[int, Any] = {}  # id(original) -> its one wrapper, so every binding shares it
_watching: list[GeneratorWatch] = []


_scanned: tuple[tuple[int, str | None], list[tuple[str, Any]]] = ((0, None), [])  # sys.modules' size and last
# key, and the pipeline-library modules found then


def _modules() -> list[dict[str, Any]]:
    """The namespaces of the loaded pipeline-library modules, where a ``randn_tensor`` binding may live."""
    global _scanned
    if not any(package in sys.modules for package in PATCHED):  # no pipeline library loaded: nothing bound
        return []  # (and no scan of torch's thousands of modules, three times a test)
    # A scan of ~3000 modules (torch, transformers) is ~0.5 ms, three times a test. It runs again only where
    # a module was added (that moves sys.modules' last key: a dict keeps insertion order) or one found was
    # replaced (pytester's in-process runs import a module of the same name again): a few hundred look-ups.
    key = (len(sys.modules), next(reversed(sys.modules), None))
    if _scanned[0] != key or any(sys.modules.get(name) is not module for name, module in _scanned[1]):
        _scanned = (key, [(name, m) for name, m in list(sys.modules.items())
                          if name.partition(".")[0] in PATCHED and m is not None and hasattr(m, "__dict__")])
    return [vars(module) for _, module in _scanned[1]]


@dataclass
class _Tracked:
    gen: Any  # held, so its id can't be reused by another object during the run
    kind: str
    handed: bool  # handed out by repro_generator: checked by state even where no wrapper saw it
    state: str | None  # its digest at hand-out or at the last check; None when first seen mid-window
    fed: list[str] = field(default_factory=list)  # the checks whose outputs it fed


class GeneratorWatch:
    """The generators one run handed out or saw reach ``randn_tensor``, window by window (check to check)."""

    def __init__(self, nodeid: str, framework: str):
        self.nodeid = nodeid
        self.framework = framework
        self._tracked: dict[int, _Tracked] = {}
        self._used: dict[int, bool] = {}  # this window: id -> continued from where its last check left it
        self._pending: list[Pitfall] = []  # seen since the last check
        self._kinds: set[str] = set()

    def __enter__(self) -> GeneratorWatch:
        _watching.append(self)
        self.patch()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self in _watching:
            _watching.remove(self)
        if not _watching:
            restore()
        for pitfall in self._pending:  # seen after the last check: still worth saying
            warnings.warn(ReproPitfallWarning(pitfall.message), stacklevel=2)
        self._pending = []

    def patch(self) -> None:
        """Wrap every binding in the loaded modules (again when a pipeline module loaded since)."""
        for namespace in _modules():
            fn = namespace.get(HELPER)
            if callable(fn) and not getattr(fn, "_repro_wrapper", False):
                namespace[HELPER] = _wrappers.setdefault(id(fn), _wrap(fn))

    def handed_out(self, gens: Any) -> None:
        for gen in gens if isinstance(gens, list) else [gens]:
            kind = generator_kind(gen)
            if kind is not None:
                self._tracked[id(gen)] = _Tracked(gen, kind, True, _digest(gen))
        self.patch()  # a pipeline module imported inside the test binds the helper by now

    def _add(self, kind: str, message: str) -> None:
        if all(p.message != message for p in self._pending):
            self._pending.append(Pitfall(kind, message))

    def observe(self, generator: Any) -> None:
        """One ``randn_tensor`` call's ``generator`` argument."""
        gens = list(generator) if isinstance(generator, (list, tuple)) else [generator]
        gens = [g for g in gens if g is not None]
        distinct = {id(g): g for g in gens}
        if len(distinct) < len(gens):
            self._add("repeated-generator", (
                f"{self.nodeid}: a batch of {len(gens)} was given {len(distinct)} generator object(s), the same one "
                "repeated ([generator] * n): item 1 draws its noise after item 0's from one stream, so no item can "
                f"be made again alone from its seed. Give each item its own: repro_generator(seed, batch={len(gens)})"))
        for key, gen in distinct.items():
            kind = generator_kind(gen)
            if kind is None:
                continue
            if self.framework == "mindspore" and kind.startswith("torch"):
                raise ReproPitfallError(
                    f"{self.nodeid}: a torch.Generator reached {HELPER} in a MindSpore test: mindone pipelines draw "
                    "their noise from numpy. Pass repro_generator(), which gives MindSpore tests "
                    "np.random.Generator(np.random.PCG64(seed))")
            self._kinds.add(kind)
            if kind.startswith("torch-") and kind != "torch-cpu":
                device = kind.partition("-")[2].upper()
                self._add("device-generator", (
                    f"{self.nodeid}: the noise was drawn from a {device} torch.Generator: it draws another image than "
                    "a CPU generator seeded alike (L_inf 1.0 on an H100), so its golden holds on that device kind "
                    "alone. Use repro_generator(), which hands out CPU generators (the noise then matches on every "
                    "device)"))
            tracked = self._tracked.setdefault(key, _Tracked(gen, kind, False, None))
            if key not in self._used:  # its first draw in this window: did it go on from the last check?
                self._used[key] = bool(tracked.fed) and _digest(gen) == tracked.state

    def at_check(self, check: str) -> tuple[list[Pitfall], list[str]]:
        """Close the window that fed ``check``: its pitfalls and the kinds of generator that fed it."""
        for key, tracked in self._tracked.items():
            now = _digest(tracked.gen)
            used, continued = key in self._used, self._used.get(key, False)
            if not used and tracked.handed and now != tracked.state:  # drawn from where no wrapper saw it
                used, continued = True, bool(tracked.fed)
                self._kinds.add(tracked.kind)
            if used and continued:
                self._add("consumed-generator", (
                    f"{self.nodeid}: check {check!r} was drawn from a generator that had already fed check "
                    f"{tracked.fed[-1]!r} and was not reseeded (one generator reused across calls, as in "
                    "g = torch.manual_seed(0) before a loop of pipe(generator=g)): this output then depends on every "
                    f"call before it, and changes when one is added, removed or reordered; {FIX_FRESH}"))
            if used:
                tracked.fed.append(check)
            tracked.state = now
        pitfalls, kinds = self._pending, sorted(self._kinds)
        self._pending, self._used, self._kinds = [], {}, set()
        return pitfalls, kinds


def mismatch(nodeid: str, golden: list[str], run: list[str]) -> Pitfall:
    """The golden's noise came from other generators than this run's (the CPU fallback of a CUDA run)."""
    return Pitfall("generator-mismatch", (
        f"{nodeid}: this golden was recorded with {', '.join(golden)} generator(s), this run used {', '.join(run)}: "
        "another kind of generator draws another image, not a drift. Use repro_generator(), which hands out CPU "
        "generators on every torch device (numpy ones for MindSpore)"))


def warn(messages: list[str]) -> None:
    for message in messages:
        warnings.warn(ReproPitfallWarning(message), stacklevel=3)


def restore() -> None:
    """Put every original back, in every module that bound a wrapper (also ones imported meanwhile)."""
    for namespace in _modules():
        fn = namespace.get(HELPER)
        if getattr(fn, "_repro_wrapper", False):
            namespace[HELPER] = fn.__wrapped__  # type: ignore[union-attr]
