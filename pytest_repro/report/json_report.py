"""The JSON results: the truth every other view (table, Markdown, compare) is rendered from."""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path
from typing import Any

from .. import __version__
from ..golden import atomic_write
from ..settings import Settings
from .terminal import totals, versions

FORMAT = 1


def build(settings: Settings, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "tool": f"pytest-repro {__version__}",
        "settings": {
            **{k: v for k, v in dataclasses.asdict(settings).items() if k != "base_tolerance"},
            "base_tolerance": settings.base_tolerance.as_dict(),
            "replay": f"pytest {settings.replay_flags()}",
        },
        "environment": {"python": platform.python_version(), "platform": platform.platform(), **versions()},
        "totals": totals(results),
        "results": results,
    }


def write_report(path: Path, settings: Settings, results: list[dict[str, Any]]) -> None:
    text = json.dumps(build(settings, results), indent=2, sort_keys=True, default=str)
    atomic_write(path, (text + "\n").encode("utf-8"))


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable pytest-repro report ({exc})") from None
    if not isinstance(data, dict) or "results" not in data:
        raise ValueError(f"{path}: not a pytest-repro report (no 'results'); write one with --repro-report")
    if not isinstance(data.get("format"), int) or data["format"] > FORMAT:
        raise ValueError(f"{path}: report format {data.get('format')!r} is newer than this pytest-repro reads")
    return data
