"""The one exception hierarchy of gensynth, and the helpers that word its messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class GensynthError(Exception):
    """Base class: every error gensynth raises on purpose for bad input or a failed run."""


class SpecError(GensynthError):
    """An architecture spec is malformed or inconsistent."""


class ConfigError(GensynthError):
    """A constraints file or a design-space file is malformed."""


class DataError(GensynthError):
    """A dataset cannot be read or is unusable."""


class StudyError(GensynthError):
    """A study cannot be created, resumed or read."""


class ExportError(GensynthError):
    """An architecture cannot be exported in the requested format."""


class GensynthWarning(UserWarning):
    """Something the user should know that did not stop the command (e.g. a repaired file)."""


def did_you_mean(value: Any, choices: Iterable[str], found: bool = False) -> str:
    """Return ` (did you mean 'x'?)` when a choice is close to ``value``, else ''.

    With ``found``, ``value`` is a required key and ``choices`` the unknown keys present:
    the hint then names the likely typo (` (found 'min_frac': a typo?)`)."""
    text, choices = str(value), list(choices)
    close = difflib.get_close_matches(text, choices, n=1, cutoff=0.6)
    if found:
        close = close or [c for c in choices if len(c) >= 3 and text.startswith(c)][:1]
        return f" (found {close[0]!r}: a typo?)" if close else ""
    close = close or [c for c in choices if len(text) >= 3 and c.startswith(text)][:1]
    return f" (did you mean '{close[0]}'?)" if close else ""


def located(source: str | None, path: str, message: str) -> str:
    """Word a message as `source: path: message` (source and path optional)."""
    return ": ".join(part for part in (source, path, message) if part)
