"""LanceDB tables at a backup: tagged in place, copied beside the dump, and brought back.

Lance tables are versioned, and a tag pins a version against ``cleanup_old_versions``, so the
cheap restore is ``table.restore(tag)``: a new version with the tagged rows. A tag cannot bring
back a table that was dropped (its files are gone), hence the copy of each tagged version; a
restore uses the tag when the table and tag are still there and the copy otherwise, then
rebuilds the full-text index search needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import lance
import lancedb

from tellmemore.index import ensure_fts_index, live_tables
from tellmemore.ops.backup.manifest import TableSnapshot

log = logging.getLogger(__name__)

# The text column each table's full-text index covers (summaries tables end in "summaries").
_FTS_COLUMNS = (("summaries", "summary"), ("", "text"))


def fts_column(table: str) -> str:
    return next(column for marker, column in _FTS_COLUMNS if marker in table)


def snapshot(
    db: lancedb.DBConnection,
    tag: str,
    copy_root: str | None,
    storage_options: dict[str, str] | None,
) -> list[TableSnapshot]:
    """Tag every table's current version; with ``copy_root``, copy that version there."""
    out = []
    for name, table in live_tables(db).items():
        version = int(table.version)
        table.tags.create(tag, version)
        copy_uri = None
        if copy_root is not None:
            copy_uri = f"{copy_root.rstrip('/')}/{name}.lance"
            data = table.to_lance().checkout_version(version).to_table()
            lance.write_dataset(data, copy_uri, mode="overwrite", storage_options=storage_options)
        out.append(TableSnapshot(name, version, tag, int(table.count_rows()), copy_uri))
    return out


@dataclass
class TablesRestored:
    from_tag: list[str] = field(default_factory=list)
    from_copy: list[str] = field(default_factory=list)
    not_in_backup: list[str] = field(default_factory=list)  # made later; left as they are


def restore(
    db: lancedb.DBConnection,
    tables: tuple[TableSnapshot, ...],
    storage_options: dict[str, str] | None,
) -> TablesRestored:
    report = TablesRestored()
    live = live_tables(db)
    present = set(live)
    for snap in tables:
        table = live.get(snap.name)
        if table is not None and snap.tag in table.tags.list():
            table.restore(snap.tag)
            report.from_tag.append(snap.name)
        elif snap.copy_uri is not None:
            data = lance.dataset(snap.copy_uri, storage_options=storage_options).to_table()
            table = db.create_table(snap.name, data=data, mode="overwrite")
            table.tags.create(snap.tag, int(table.version))  # later restores can use the tag
            report.from_copy.append(snap.name)
        else:
            raise LookupError(
                f"Table {snap.name} is gone and the backup has no copy of it "
                "(it was taken with copy_tables off)."
            )
        ensure_fts_index(table, fts_column(snap.name))
    report.not_in_backup = sorted(present - {s.name for s in tables})
    return report


def drop_tags(db: lancedb.DBConnection, tag: str) -> None:
    """Forget a pruned backup's tag, so Lance can clean its version up."""
    for table in live_tables(db).values():
        if tag in table.tags.list():
            table.tags.delete(tag)
