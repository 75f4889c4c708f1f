"""pytest-repro: reproducible diffusion pipelines, checked against per-backend goldens.

Importing this package imports nothing heavy; see ``plugin.py`` for the pytest entry point.
``Repro`` (the plain API, ``api.py``) and ``ReproTestCase`` (the unittest mixin, ``testcase.py``)
load on first use.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Repro", "ReproTestCase", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Repro":
        from .api import Repro

        return Repro
    if name == "ReproTestCase":
        from .testcase import ReproTestCase

        return ReproTestCase
    raise AttributeError(f"module 'pytest_repro' has no attribute {name!r}")
