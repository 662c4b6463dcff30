"""YAML that refuses duplicate mapping keys.

YAML says keys are unique, but PyYAML (like most loaders) quietly keeps the last of two equal
keys: a second ``deployments:`` under one Serve application replaced the first, and the
Processor's graceful shutdown timeout vanished without a word. Every file of ours (Serve
configs, KubeRay manifests, alert rules, ``ray_cluster.yaml``) is read through this loader, so a
duplicate fails loudly with the file, the key and both lines.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the environment

__all__ = ["DuplicateKeyError", "load", "load_all", "load_file"]


class DuplicateKeyError(yaml.constructor.ConstructorError):  # type: ignore[misc]
    """A mapping names the same key twice."""


class StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
    """``SafeLoader`` that raises :class:`DuplicateKeyError` instead of keeping the last key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged in with << may be overridden: that is what << is for
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader's own error for unhashable keys comes below
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(
                    None,
                    None,
                    f"duplicate key {key!r} in {key_node.start_mark.name}: first on line "
                    f"{seen[key]}, again on line {line} (YAML keeps only the last)",
                    key_node.start_mark,
                )
            seen[key] = line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def load(text: str, *, name: str = "<string>") -> Any:
    """The single document in ``text``; ``name`` (a file name) appears in errors."""
    loader = StrictLoader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_all(text: str, *, name: str = "<string>") -> Iterator[Any]:
    """Every document in ``text`` (a multi-document stream such as rendered manifests)."""
    loader = StrictLoader(text)
    loader.name = name
    try:
        while loader.check_data():
            yield loader.get_data()
    finally:
        loader.dispose()


def load_file(path: str | Path) -> Any:
    """The single document in the file at ``path``, with the path in errors."""
    return load(Path(path).read_text(encoding="utf-8"), name=str(path))
