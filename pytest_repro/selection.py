"""Pick the backend for one test from its ``--repro-backend`` word, its framework and its marker."""

from __future__ import annotations

from . import backends
from .backends.base import Backend
from .identity import BackendKey
from .marker import Marker


class BackendUnavailable(RuntimeError):
    """The backend can't run here; the message says what was looked for. Under pytest: a skip.

    ``missing`` is true when the device or framework is absent (``--repro-require-backend`` fails those),
    false when the test itself opts out (its marker or framework excludes the backend).
    """

    def __init__(self, reason: str, missing: bool = True):
        super().__init__(reason)
        self.missing = missing


def select_backend(word: str, marker: Marker, nodeid: str) -> Backend:
    """The backend ``word`` selects for this test, or :class:`BackendUnavailable` saying why it can't run."""
    framework = marker.framework
    if word == "auto":
        backend = backends.resolve_auto(framework)
    else:
        key = BackendKey.for_word(word, framework)
        if key is None:
            raise BackendUnavailable(f"--repro-backend={word} selects another framework; this test runs on {framework}",
                                     missing=False)
        try:
            backend = backends.load(key)
        except KeyError as exc:
            raise BackendUnavailable(f"{exc.args[0]} (this test runs on {framework})") from None
    allowed = marker.backends  # validated words or keys
    if allowed is not None and backend.key.device not in allowed and backend.key not in allowed:
        raise BackendUnavailable(f"{nodeid} runs only on {', '.join(allowed)} (marker repro(backends=...))",
                                 missing=False)
    reason = backend.unavailable_reason()
    if reason is not None:
        raise BackendUnavailable(reason)
    return backend
