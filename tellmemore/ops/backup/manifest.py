"""What one backup holds, written as ``<prefix>/<id>/manifest.json`` beside the dump."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

FORMAT = "tellmemore.backup/1"
# The S3 layout the catalog uses (audio/, transcripts/<episode>.json, the LanceDB prefix); a
# restore refuses a backup of a layout it does not know.
S3_LAYOUT_VERSION = 1


@dataclass(frozen=True)
class TableSnapshot:
    name: str
    version: int  # the LanceDB table version at backup time, tagged ``tag``
    tag: str
    rows: int
    copy_uri: str | None  # a full copy of that version (brings back a dropped table)


@dataclass(frozen=True)
class BackupManifest:
    id: str  # the UTC time it was taken, 20261125T043000Z: sorts by age
    created_at: datetime
    schema_version: int  # the last applied migration
    s3_layout_version: int
    postgres_key: str
    postgres_bytes: int
    tables: tuple[TableSnapshot, ...]
    # The dump's digest, checked before a restore touches anything (older backups lack it).
    postgres_sha256: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["format"] = FORMAT
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> BackupManifest:
        data: dict[str, Any] = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"Not a backup manifest of format {FORMAT}.")
        return cls(
            id=data["id"],
            created_at=datetime.fromisoformat(data["created_at"]),
            schema_version=int(data["schema_version"]),
            s3_layout_version=int(data["s3_layout_version"]),
            postgres_key=data["postgres_key"],
            postgres_bytes=int(data["postgres_bytes"]),
            tables=tuple(TableSnapshot(**t) for t in data["tables"]),
            postgres_sha256=data.get("postgres_sha256"),
        )


def new_backup_id(now: datetime) -> str:
    """Sortable and unique per run: to the microsecond, since two backups in one second (a
    retry, a test) would otherwise share their keys and their Lance tags."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
