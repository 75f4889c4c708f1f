"""The bundled reproducibility suite: real diffusers pipelines on tiny checkpoints shipped here.

Run it with ``python -m pytest_repro suite`` from a checkout; its goldens are in ``golden/``.
"""
