"""Identities as values: which backend (:class:`BackendKey`) and which test (:class:`TestLocation`).

Each is parsed once and then asked, never rebuilt by string surgery elsewhere. Standard library only:
``plugin.py`` imports this at start-up.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A test names no framework unless its marker does: PyTorch is what diffusers runs on.
DEFAULT_FRAMEWORK = "torch"
# The device words a user types (--repro-backend=cuda) that pick the test's own framework.
DEVICE_WORDS = ("cpu", "cuda", "ascend")
_KEY = re.compile(r"[a-z0-9_]+-[a-z0-9_]+")


class BackendKey(str):
    """``framework-device`` (``torch-cuda``): names a backend's entries in goldens and reports.

    A ``str``, so it prints, compares and travels through JSON and xdist as the plain text it is.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> BackendKey:
        if not isinstance(text, str) or not _KEY.fullmatch(text):
            raise ValueError(f"{text!r} is not a backend key (framework-device, lower case: torch-cuda)")
        return super().__new__(cls, text)

    @classmethod
    def of(cls, framework: str, device: str) -> BackendKey:
        return cls(f"{framework}-{device}")

    @classmethod
    def for_word(cls, word: str, framework: str) -> BackendKey | None:
        """What a ``--repro-backend`` word selects for a test on ``framework``.

        A device word (``cuda``) takes the test's framework; a key (``mindspore-cpu``) is itself, or
        ``None`` when it pins another framework.
        """
        if "-" not in word:
            return cls.of(framework, word)
        key = cls(word)
        return key if key.framework == framework else None

    @property
    def framework(self) -> str:
        return self.split("-", 1)[0]

    @property
    def device(self) -> str:
        return self.split("-", 1)[1]

    @property
    def fallback(self) -> BackendKey:
        """The entry a backend without its own is compared with: its framework's CPU entry."""
        return BackendKey.of(self.framework, "cpu")

    @property
    def word(self) -> str:
        """The shortest ``--repro-backend`` value that selects this key for a test of its framework."""
        return self.device if self.device in DEVICE_WORDS else str(self)


# ---- file names ----

def distinct_words(words: tuple[str, ...] | list[str], framework: str) -> list[str]:
    """The ``--repro-backend`` words that select different backends for a test on ``framework``, in their
    order: cpu,torch-cpu runs once. ``auto`` stays as it is: it resolves when the test runs."""
    by_key: dict[str, str] = {}
    for word in words:
        key = None if word == "auto" else BackendKey.for_word(word, framework)
        by_key.setdefault(key or word, word)
    return list(by_key.values())


_UNSAFE = re.compile(r"[^A-Za-z0-9._\-\[\]=+,@]")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
MAX_NAME = 100


def safe_name(text: str) -> str:
    """A file name valid on Linux, macOS and Windows; a hash suffix keeps altered names unique.

    Names with capitals get the suffix too: macOS and Windows file systems ignore case, so
    ``test[A]`` and ``test[a]`` would otherwise share one file there.
    """
    name = _UNSAFE.sub("_", text).rstrip(". ")
    if name.split(".")[0].lower() in _WINDOWS_RESERVED:
        name = "_" + name
    if name != text or len(name) > MAX_NAME or name != name.lower():
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}-{digest}"
    return name or "_"


_PART = re.compile(r"[a-z0-9_\-\[\]=+,@]{1,60}")
_HASHED = re.compile(r".*-[0-9a-f]{8}")


def name_part(text: str) -> str:
    """One dot-free part of a file name (a check name), distinct for distinct texts.

    Array files are ``<test>.<check>.<backend>.npz``: with dots in neither the check nor the backend part,
    a file name splits back into one (test, check, backend) only. A text kept as it is never ends like an
    altered one (``-`` and 8 hex digits), so ``a:b`` (``a_b-<hash>``) and ``a_b-<hash>`` get two files.
    """
    if _PART.fullmatch(text) and not _HASHED.fullmatch(text):
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{_UNSAFE.sub('_', text).replace('.', '_')[:40]}-{digest}"


def array_name(test_stem: str, check: str, backend: str) -> str:
    """``test_x.output.torch-cpu.npz``: the file a golden entry's array is kept in, beside ``test_x.json``."""
    return f"{test_stem}.{name_part(check)}.{BackendKey(backend)}.npz"


# Printable ASCII but what Windows forbids: spaces and capitals stay, as a test id shows them. Other
# characters (non-ASCII too: macOS normalises their bytes) are replaced, and the name gets a hash suffix.
_INVALID = re.compile(r'[^\x20-\x7e]|[<>:"/\\|?*]')


def readable_name(text: str) -> str:
    """A file name for a test: readable where every file system allows it, unique where it is altered.

    ``TestSD.test_a`` and ``test_x[a cat]`` stay as they are. Two ids that differ only in case share a file
    on macOS and Windows; the store notices (the file names another test) and says so.
    """
    name = _INVALID.sub("_", text).rstrip(". ").lstrip(" ")
    if name.split(".")[0].lower() in _WINDOWS_RESERVED:
        name = "_" + name
    if name != text or len(name) > MAX_NAME:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}-{digest}"
    return name or "_"


def golden_path(golden_dir: Path, test_id: str, name: Any = readable_name) -> Path:
    """``tests/test_x.py::TestA::test_b[1]`` -> ``golden_dir/tests/test_x/TestA.test_b[1].json``."""
    module, _, rest = test_id.partition("::")
    # A module path with nothing left (a test file outside the rootdir gets the node id "::test_x") still
    # gives a file name: its folder is then the golden dir itself.
    parts = [name(p) for p in Path(module or "_").with_suffix("").parts if p not in ("", ".", "..")]
    return golden_dir.joinpath(*parts, name(rest.replace("::", ".")) + ".json")


@dataclass(frozen=True)
class TestLocation:
    """One test, computed once: its pytest node id, its golden id and its golden file.

    The golden id is the node id without the ``repro_backend`` parameter, so every backend of a test
    shares one golden file (``test_x[cpu]`` and ``test_x[cuda]`` both live in ``test_x.json``).
    """

    __test__ = False  # not a test class, whatever its name says to pytest

    nodeid: str
    golden_id: str
    golden_path: Path

    @classmethod
    def of(cls, nodeid: str, backend_param: str | None, golden_dir: Path) -> TestLocation:
        golden_id = nodeid
        if backend_param is not None:
            if nodeid.endswith(f"[{backend_param}]"):
                golden_id = nodeid[: -len(backend_param) - 2]
            elif nodeid.endswith(f"-{backend_param}]"):
                golden_id = nodeid[: -len(backend_param) - 2] + "]"
        path = golden_path(golden_dir, golden_id)
        legacy = golden_path(golden_dir, golden_id, safe_name)  # pytest-repro 0.1 hashed every capital
        if legacy != path and not path.exists() and legacy.exists():
            path = legacy  # an existing golden keeps its name; new ones get the readable one
        return cls(nodeid, golden_id, path)
