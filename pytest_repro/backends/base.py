"""The small interface every backend implements.

A backend is one framework on one kind of device (``torch`` on ``cuda``, ``mindspore`` on
``ascend``...). Its ``key`` (``torch-cuda``) names its entries in golden files. Constructing a
backend imports nothing heavy; frameworks are imported inside the methods that need them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import os
import platform
from collections.abc import Iterator
from typing import Any

from ..identity import BackendKey


@functools.cache  # versions don't change within a session; the look-up scans every installed package
def dist_version(name: str) -> str | None:
    """A distribution's version without importing it."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache  # what can't change within a process: read once, not on every check
def _static_fingerprint() -> dict[str, Any]:
    return {"python": platform.python_version(), "machine": platform.machine(), "numpy": dist_version("numpy"),
            "diffusers": dist_version("diffusers")}


def has_module(name: str) -> bool:
    """Presence without import: importing torch_npu without CANN breaks ``import torch`` itself."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cann_version() -> str | None:
    """CANN has no public version API; the toolkit writes ``Version=`` into version.info."""
    home = os.environ.get("ASCEND_HOME_PATH") or os.environ.get("ASCEND_TOOLKIT_HOME")
    candidates = [os.path.join(home, "compiler", "version.info")] if home else []
    candidates.append("/usr/local/Ascend/ascend-toolkit/latest/compiler/version.info")
    for path in candidates:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Version="):
                        return line.split("=", 1)[1].strip()
        except OSError:
            continue
    return None


class Backend:
    """One framework on one device kind. Subclasses fill in the framework-specific parts."""

    framework: str = ""
    device_kind: str = ""  # cpu, cuda, ascend
    # Set by the plugin from --repro-precision-mode before setup(); Ascend backends apply it.
    precision_mode: str = "must_keep_origin_dtype"

    @property
    def key(self) -> BackendKey:
        """``torch-cuda``: names this backend's entries in goldens and reports."""
        return BackendKey.of(self.framework, self.device_kind)

    @property
    def name(self) -> str:
        """The backend's name in reports and goldens: its :attr:`key` as text. (What a user types,
        ``--repro-backend=cuda``, is the key's :attr:`~pytest_repro.identity.BackendKey.word`.)"""
        return str(self.key)

    @property
    def device(self) -> str:
        """What a test passes to ``.to()`` (or the framework's device setter)."""
        return self.device_kind

    def unavailable_reason(self) -> str | None:
        """``None`` when usable here, else a sentence saying what was looked for and what to install."""
        raise NotImplementedError

    def setup(self) -> str | None:
        """Make this device current (MindSpore's set_device) before a test; a reason string if it can't."""
        return None

    def seed_all(self, seed: int) -> None:
        """Seed the framework's global RNGs (only called once the backend is in use)."""
        raise NotImplementedError

    def rng_state(self) -> Any:
        """The framework's global RNG state, so that an audit rerun starts where run 1 started (after
        whatever a fixture or ``setUp`` drew or seeded); ``None`` where it can't be read: reruns then
        start from ``seed_all`` alone."""
        return None

    def set_rng_state(self, state: Any) -> None:
        """Restore a state :meth:`rng_state` returned."""
        raise NotImplementedError

    def generator(self, seed: int) -> Any:
        """A fresh generator seeded with ``seed``, of the kind this framework's pipelines take."""
        raise NotImplementedError

    def deterministic(self, enabled: bool) -> contextlib.AbstractContextManager[None]:
        """Switch full determinism on for the duration of the block and restore the old state."""
        return contextlib.nullcontext()

    def to_numpy(self, obj: Any) -> Any:
        """Convert a pipeline output (tensor on any device, PIL image, diffusers output) to numpy."""
        from ..convert import to_array

        return to_array(obj)[0]

    def fingerprint(self) -> dict[str, Any]:
        """What decides bitwise equality: versions, device name, threads, determinism flags."""
        return {"backend": str(self.key), **_static_fingerprint()}


@contextlib.contextmanager
def env_var(name: str, value: str | None) -> Iterator[None]:
    """Set (or unset, with ``None``) an environment variable for a block, then restore it."""
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
