"""pytest-repro: reproducible diffusion pipelines, checked against per-backend goldens.

Importing this package imports nothing heavy; see ``plugin.py`` for the pytest entry point.
"""

__version__ = "0.1.0"
