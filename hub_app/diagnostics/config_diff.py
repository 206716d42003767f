"""The configuration editor's logic: flatten a Config.Get tree, diff edits, build Config.Set.

Write-only keys never come back from the light; it reports ``<key>_set`` flags instead, which
are shown but never sent back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ConfigChange", "diff_config", "flatten", "is_flag_key", "parse_value",
           "to_partial_tree"]

_MISSING = object()


@dataclass(frozen=True)
class ConfigChange:
    """One key whose value the user changed (dotted ``key``)."""

    key: str
    old: Any
    new: Any

    def describe(self) -> str:
        """``wifi.sta.enable: false -> true``"""
        return f"{self.key}: {json.dumps(self.old, ensure_ascii=False)} -> " \
               f"{json.dumps(self.new, ensure_ascii=False)}"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (leaves only, in tree order)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def is_flag_key(key: str) -> bool:
    """Whether ``key`` is a ``<write-only key>_set`` flag (read-only, never sent)."""
    return key.endswith("_set")


def parse_value(text: str, old: Any) -> Any:
    """The value typed for a key whose current value is ``old``: parsed like the old one's type.

    Raises ValueError with a message in plain words when it cannot be.
    """
    stripped = text.strip()
    if isinstance(old, bool):
        if stripped.lower() in ("true", "yes", "on", "1"):
            return True
        if stripped.lower() in ("false", "no", "off", "0"):
            return False
        raise ValueError("must be true or false")
    if isinstance(old, int):
        try:
            return int(stripped)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if isinstance(old, float):
        try:
            return float(stripped)
        except ValueError:
            raise ValueError("must be a number") from None
    if isinstance(old, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def diff_config(original: Mapping[str, Any], edited: Mapping[str, Any]) -> list[ConfigChange]:
    """The keys whose value differs (both flattened or both trees), in the original's order."""
    old, new = flatten(original), flatten(edited)
    changes = []
    for key in list(old) + [k for k in new if k not in old]:
        if is_flag_key(key):
            continue
        before, after = old.get(key, _MISSING), new.get(key, _MISSING)
        if after is _MISSING or (before == after and type(before) is type(after)):
            continue
        changes.append(ConfigChange(key, None if before is _MISSING else before, after))
    return changes


def to_partial_tree(changes: list[ConfigChange]) -> dict[str, Any]:
    """The ``config`` argument of Config.Set for ``changes`` (only the changed keys)."""
    tree: dict[str, Any] = {}
    for change in changes:
        parts = change.key.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = change.new
    return tree
