"""Views of the result model (``results.py``): terminal table, failure text; each reads the model only."""


def fmt_metric(value: object) -> str:
    """How every view prints a metric: ``-`` where it is undefined (cosine against a black image)."""
    return "-" if value is None else f"{value:.2e}"
