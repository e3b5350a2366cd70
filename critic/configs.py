"""Strict configs: every config read from YAML/JSON rejects an unknown key with one line that names it and the
nearest valid key.

:class:`StrictConfig` is the pydantic base (``extra="forbid"``); :func:`config_error_line` turns a pydantic
``ValidationError`` into that one line; :func:`unknown_key_line` is the same sentence for parsers that are not pydantic
(trl's ``TrlParser``, see ``training/strict_trl.py``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictConfig(BaseModel):
    """Base of every run configuration: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ConfigError(ValueError):
    """A configuration problem, already phrased as one line for the user."""


def nearest_key(key: str, valid: Iterable[str]) -> str | None:
    """The valid key closest to ``key`` (difflib ratio >= 0.6), or None."""
    matches = difflib.get_close_matches(key, sorted(set(valid)), n=1, cutoff=0.6)
    return matches[0] if matches else None


LISTING_CHARS = 60  # the most characters of valid names an unknown-key line lists when none is near


def unknown_key_line(key: str, valid: Iterable[str], what: str = "key") -> str:
    """``unknown key 'tempreature' (nearest valid key: 'temperature')`` - one line; ``valid`` is spelled like
    ``key`` (``--flag`` names for flags). With no valid name near, a few of them (at most :data:`LISTING_CHARS`
    characters, then how many there are in all)."""
    valid = sorted(set(valid))
    near = nearest_key(key, valid)
    if near:
        return f"unknown {what} {key!r} (nearest valid {what}: {near!r})"
    return f"unknown {what} {key!r} (valid {what}s: {bounded_listing(valid)})"


def bounded_listing(names: list[str], limit: int = LISTING_CHARS) -> str:
    """``a, b, c`` - or, past ``limit`` characters, ``a, b, ... (40 in all; see --help)``; ``none`` when empty."""
    shown: list[str] = []
    for name in names:
        if len(", ".join([*shown, name])) > limit:
            return ", ".join([*shown, f"... ({len(names)} in all; see --help)"])
        shown.append(name)
    return ", ".join(shown) or "none"


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model that holds the key at ``loc`` (its last element)."""
    current = model
    for part in loc[:-1]:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return []
        annotation = current.model_fields[part].annotation
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return list(current.model_fields) if current is not None else []


def config_error_line(error: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line for a pydantic ValidationError: unknown keys with their nearest valid key, other problems as
    ``field: message``; several problems are joined by ``; ``."""
    unknown: list[str] = []
    parts: list[str] = []
    for err in error.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden" and loc:
            unknown.append(unknown_key_line(str(loc[-1]), _fields_at(model, loc)))
        else:
            where = ".".join(map(str, loc)) or "config"
            message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            parts.append(f"{where}: {message}")
    return bounded_join(unknown + parts) or str(error).splitlines()[0]


def bounded_join(parts: list[str], limit: int = 2 * LISTING_CHARS) -> str:
    """``parts`` joined by ``; `` - the first always, the rest while the line stays within ``limit`` characters,
    then ``; N more problems``."""
    line = parts[0] if parts else ""
    for at, part in enumerate(parts[1:], start=1):
        if len(line) + len(part) + 2 > limit:
            return f"{line}; {len(parts) - at} more problem{'s' if len(parts) - at > 1 else ''}"
        line = f"{line}; {part}"
    return line


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON, which is YAML) file holding a mapping; ConfigError (one line) otherwise."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such config file: {path}")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{path}: not valid YAML/JSON ({first})") from None
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    return dict(loaded)
