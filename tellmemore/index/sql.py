"""Values rendered into Lance SQL predicates: never pasted from a request."""

from __future__ import annotations


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal for a Lance filter (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"
