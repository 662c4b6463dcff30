"""Reading the database directly, to check what the API says against what is stored."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row


def rows(database_url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query.encode(), params)
        return cur.fetchall()


def snapshot(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every catalog row, for before/after comparisons (fetch bookkeeping excluded)."""
    return {
        "podcasts": rows(
            database_url,
            "SELECT id, feed_url, title, author, description, link, image_url, language,"
            " categories, explicit, apple_id, updated_at FROM podcasts ORDER BY id",
        ),
        "urls": rows(database_url, "SELECT * FROM podcast_feed_urls ORDER BY url_key"),
        "episodes": rows(database_url, "SELECT * FROM episodes ORDER BY id"),
    }
