"""The production Serve config with an overlay applied: only what cannot exist on this machine.

An overlay is a Serve config fragment merged as a JSON Merge Patch (RFC 7386): mappings merge
key by key and ``null`` removes a key; in addition ``applications`` and each application's
``deployments`` are lists matched by ``name`` (an entry with a new name is appended); any other
list, and every scalar, replaces the production value. The result is what
gets deployed, and :func:`diff` shows exactly how it differs from production.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from serve_apps.strict_yaml import load_file

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "cluster" / "serve" / "production.yaml"

_BY_NAME = {"applications", "deployments"}


def merge(base: Any, overlay: Any, *, key: str = "") -> Any:
    """``overlay`` on top of ``base`` (neither is changed)."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = copy.deepcopy(base)
        for k, v in overlay.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = merge(base[k], v, key=k) if k in base else copy.deepcopy(v)
        return merged
    if key in _BY_NAME and isinstance(base, list) and isinstance(overlay, list):
        merged_list = copy.deepcopy(base)
        index = {item["name"]: i for i, item in enumerate(merged_list)}
        for item in overlay:
            if item["name"] in index:
                at = index[item["name"]]
                merged_list[at] = merge(merged_list[at], item)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(overlay)


def apply(overlay_path: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The production config with ``overlay_path`` and then ``extra`` (values only known at
    run time, such as a free port) applied; both files are read strictly."""
    config = merge(load_file(PRODUCTION), load_file(overlay_path))
    result: dict[str, Any] = merge(config, extra or {})
    return result


def diff(config: dict[str, Any]) -> str:
    """A unified diff from production to ``config``, both as plain YAML."""
    before = _dump(load_file(PRODUCTION)).splitlines(keepends=True)
    after = _dump(config).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, "production.yaml", "deployed.yaml"))


def _dump(config: Any) -> str:
    return str(yaml.safe_dump(config, sort_keys=False, width=100))
