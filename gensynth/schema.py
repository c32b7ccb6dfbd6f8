"""Reading JSON/YAML files, and validated values out of plain dicts, with path-aware errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gensynth.errors import ConfigError, GensynthError, did_you_mean, located

_MISSING = object()


class Reader:
    """Walks one mapping, tracking the key path, and rejects what it does not understand.

    Args:
        data: the mapping read from a file (must be a dict).
        source: the file name used in messages.
        path: the key path of ``data`` inside the file ('' for the top).
        error: the exception class raised for bad values.

    Example:
        >>> r = Reader({"width": 32}, "spec.json")
        >>> r.int("width", low=1)
        32
        >>> r.done()
    """

    def __init__(
        self,
        data: Any,
        source: str | None = None,
        path: str = "",
        error: type[GensynthError] = ConfigError,
    ) -> None:
        self.source, self.path, self.error = source, path, error
        if not isinstance(data, dict):
            self.fail("", f"must be a mapping, got {show_value(data)}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path and key else (self.path or str(key))

    def fail(self, key: str | int, message: str) -> None:
        raise self.error(located(self.source, self.key_path(key), message))

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            strays = [k for k in self.data if isinstance(k, str) and k not in self.used]
            self.fail(key, f"is required but missing{did_you_mean(key, strays, found=True)}")
        return default

    def int(
        self, key: str, default: Any = _MISSING, low: int | None = None, high: int | None = None
    ) -> int:
        value = self.raw(key, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, got {show_value(value)}")
        self._bounds(key, value, low, high)
        return value

    def float(
        self,
        key: str,
        default: Any = _MISSING,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
    ) -> float:
        value = self.raw(key, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"must be a number, got {show_value(value)}")
        if not math.isfinite(value):  # NaN, .inf: never a meaningful limit or setting
            self.fail(key, f"must be a finite number, got {show_value(value)}")
        if low_open and low is not None and value <= low:
            self.fail(key, f"must be > {low}, got {show_value(value)}")
        self._bounds(key, value, None if low_open else low, high)
        return float(value)

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {show_value(value)}")
        return value

    def str(self, key: str, default: Any = _MISSING) -> str:
        value = self.raw(key, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be a non-empty string, got {show_value(value)}")
        return value

    def name(self, key: str, default: Any = _MISSING) -> str:
        """A name that becomes part of file paths (study, spec): see `name_problem`."""
        value = self.str(key, default)
        problem = name_problem(value)
        if problem:
            self.fail(key, f"{problem}, got {show_value(value)}")
        return value

    def choice(self, key: str, choices: Sequence[str], default: Any = _MISSING) -> str:
        value = self.raw(key, default)
        if value not in choices:
            expected = ", ".join(choices)
            self.fail(
                key,
                f"must be one of: {expected}, got {show_value(value)}"
                f"{did_you_mean(value, choices)}",
            )
        return value

    def child(self, key: str, default: Any = _MISSING) -> Reader:
        value = self.raw(key, default)
        return Reader(value, self.source, self.key_path(key), self.error)

    def list(self, key: str, default: Any = _MISSING, min_len: int = 0) -> list[Any]:
        value = self.raw(key, default)
        if not isinstance(value, list):
            self.fail(key, f"must be a list, got {show_value(value)}")
        if len(value) < min_len:
            self.fail(key, f"must have at least {min_len} item(s), got {len(value)}")
        return value

    def children(self, key: str, default: Any = _MISSING, min_len: int = 0) -> list[Reader]:
        items = self.list(key, default, min_len)
        path = self.key_path(key)
        return [
            Reader(item, self.source, f"{path}[{i}]", self.error) for i, item in enumerate(items)
        ]

    def check(self, key: str, ok: bool, message: str) -> None:
        if not ok:
            self.fail(key, message)

    def done(self, allowed_extra: Callable[[str], bool] | None = None) -> None:
        """Reject keys that were never read (typos, unknown options)."""
        for key in self.data:
            if key in self.used or (allowed_extra and allowed_extra(key)):
                continue
            known = sorted(self.used)
            self.fail(
                key, f"unknown key; expected one of: {', '.join(known)}{did_you_mean(key, known)}"
            )

    def _bounds(self, key: str, value: float, low: float | None, high: float | None) -> None:
        if low is not None and value < low:
            self.fail(key, f"must be >= {low}, got {show_value(value)}")
        if high is not None and value > high:
            self.fail(key, f"must be <= {high}, got {show_value(value)}")


NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def name_problem(name: str) -> str:
    """Why ``name`` cannot name a study or spec ('' when it can): names become file and
    folder names, so only letters, digits, '.', '_' and '-', not starting with '.'."""
    if not name or len(name) > 100:
        return "must be 1 to 100 characters"
    if name.startswith(".") or not set(name) <= NAME_CHARS:
        return (
            "must use only letters, digits, '.', '_' and '-' (no path separators), not "
            "starting with '.'"
        )
    return ""


def show_value(value: Any) -> str:
    """A short, unambiguous rendering of a received value for messages: bounded however
    large or deeply nested the value is (reprlib never renders more than it prints)."""
    import reprlib

    if value is None:
        return "nothing (null)"
    shown = reprlib.Repr()  # keyword arguments need Python 3.12
    shown.maxlevel, shown.maxstring, shown.maxother, shown.maxlong = 2, 60, 60, 30
    shown.maxdict = shown.maxlist = shown.maxtuple = shown.maxset = 4
    text = shown.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_document(path: str | Path, error: type[Exception], kind: str) -> tuple[Any, str]:
    """Read and parse a JSON/YAML file: (data, text); errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read {kind} file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            f"save the {kind} file as UTF-8"
        ) from None
    return parse_text(text, path, error), text


MAX_DOCUMENT_CHARS = 1_000_000
MAX_ALIASES = 100  # YAML aliases (*name): a few are handy, thousands are an expansion bomb


def _strict_loader() -> type:
    """yaml.SafeLoader that rejects duplicate keys and alias-expansion bombs."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                StrictLoader.aliases += 1
                if StrictLoader.aliases > MAX_ALIASES:
                    raise yaml.YAMLError(
                        f"more than {MAX_ALIASES} aliases (*name): refused, an expansion bomb"
                    )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def parse_text(text: str, path: Path, error: type[Exception]) -> Any:
    """Parse JSON or YAML (safe loader) text; a syntax error names the file and the line."""
    import yaml

    if len(text) > MAX_DOCUMENT_CHARS:
        raise error(
            f"{path}: {len(text)} characters is more than a profile, space or spec "
            f"needs (at most {MAX_DOCUMENT_CHARS})"
        )
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise error(f"{path}: nested too deeply to read") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{path}: invalid YAML{where}: {problem}") from None
