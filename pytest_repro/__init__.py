"""pytest-repro: reproducible diffusion pipelines, checked against per-backend goldens.

Importing this package imports nothing heavy; see ``plugin.py`` for the pytest entry point.
``Repro`` (the plain API, ``api.py``), ``ReproTestCase`` (the unittest mixin, ``testcase.py``) and
``ReproPitfallWarning`` / ``ReproPitfallError`` (generator misuse, ``pitfalls.py``) load on first use.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Repro", "ReproPitfallError", "ReproPitfallWarning", "ReproTestCase", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Repro":
        from .api import Repro

        return Repro
    if name in ("ReproPitfallWarning", "ReproPitfallError"):
        from . import pitfalls

        return getattr(pitfalls, name)
    if name == "ReproTestCase":
        from .testcase import ReproTestCase

        return ReproTestCase
    raise AttributeError(f"module 'pytest_repro' has no attribute {name!r}")
