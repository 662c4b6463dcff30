"""Taking, listing, pruning and restoring backups (what ``tmm backup`` runs).

Order makes a backup consistent without stopping writers: PostgreSQL is dumped first (one
snapshot), the LanceDB tables are tagged after. Processing writes an episode's passages to
LanceDB before it marks the episode done in PostgreSQL, so every episode the dump calls done
has its passages in the tagged versions; the tables may also hold episodes finished during the
dump, which is harmless (their ids merge if they are processed again).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tellmemore.index import connect, lance_uri, storage_options
from tellmemore.ops.backup import lance_snapshots, postgres
from tellmemore.ops.backup.lance_snapshots import TablesRestored
from tellmemore.ops.backup.manifest import S3_LAYOUT_VERSION, BackupManifest, new_backup_id
from tellmemore.ops.backup.postgres import BackupError
from tellmemore.settings import Settings
from tellmemore.storage import ObjectStore, StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreReport:
    backup_id: str
    database_tables: int
    lance: TablesRestored
    seconds: float


class Backups:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._objects = ObjectStore(settings.s3)
        self._prefix = settings.backup.prefix.strip("/")
        self._on_s3 = settings.lance.location == "s3"
        self._options = storage_options(settings.s3) if self._on_s3 else None

    def _key(self, backup_id: str, name: str) -> str:
        return f"{self._prefix}/{backup_id}/{name}"

    def _copy_root(self, backup_id: str) -> str:
        if self._on_s3:
            return f"s3://{self._settings.s3.bucket}/{self._key(backup_id, 'lance')}"
        return str(Path(lance_uri(self._settings.lance, self._settings.s3)).parent
                   / self._prefix / backup_id / "lance")  # fmt: skip

    def create(self, now: datetime | None = None) -> BackupManifest:
        """Dump PostgreSQL to S3, then tag (and copy) every LanceDB table; the manifest is
        written last, so a backup without one is incomplete and is never restored."""
        taken = now or datetime.now(UTC)
        backup_id = new_backup_id(taken)
        url = self._settings.database.url
        self._objects.ensure_bucket()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "postgres.dump"
            size, digest = postgres.dump(url, path)
            self._objects.upload_file(self._key(backup_id, "postgres.dump"), path,
                                      "application/octet-stream")  # fmt: skip
        db = connect(self._settings.lance, self._settings.s3)
        copy_root = self._copy_root(backup_id) if self._settings.backup.copy_tables else None
        tables = lance_snapshots.snapshot(db, f"backup-{backup_id}", copy_root, self._options)
        manifest = BackupManifest(
            id=backup_id, created_at=taken, schema_version=postgres.schema_version(url),
            s3_layout_version=S3_LAYOUT_VERSION,
            postgres_key=self._key(backup_id, "postgres.dump"), postgres_bytes=size,
            tables=tuple(tables), postgres_sha256=digest,
        )  # fmt: skip
        self._objects.put_bytes(self._key(backup_id, "manifest.json"),
                                manifest.to_json().encode(), "application/json")  # fmt: skip
        log.info("backup %s: %d bytes of PostgreSQL, %d tables", backup_id, size, len(tables))
        return manifest

    def backups(self) -> list[BackupManifest]:
        """Complete backups (those with a manifest), oldest first."""
        keys = [k for k in self._objects.keys(f"{self._prefix}/") if k.endswith("/manifest.json")]
        found = [BackupManifest.from_json(self._objects.get_bytes(k).decode()) for k in keys]
        return sorted(found, key=lambda m: m.id)

    def get(self, backup_id: str) -> BackupManifest:
        try:
            text = self._objects.get_bytes(self._key(backup_id, "manifest.json")).decode()
        except StorageError as exc:
            raise BackupError(f"There is no backup {backup_id!r} (`tmm backup list`).",
                              code="backup_not_found") from exc  # fmt: skip
        return BackupManifest.from_json(text)

    def prune(self, now: datetime | None = None) -> list[str]:
        """Delete backups older than ``backup.retention_days`` (their objects, copies and
        tags); the newest backup is always kept."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self._settings.backup.retention_days)
        backups = self.backups()
        doomed = [m for m in backups[:-1] if m.created_at < cutoff]
        db = connect(self._settings.lance, self._settings.s3)
        for manifest in doomed:
            lance_snapshots.drop_tags(db, f"backup-{manifest.id}")
            for key in self._objects.keys(f"{self._prefix}/{manifest.id}/"):
                self._objects.delete(key)
            if not self._on_s3:
                shutil.rmtree(self._copy_root(manifest.id), ignore_errors=True)
        return [m.id for m in doomed]

    def restore(
        self, backup_id: str, *, database_url: str | None = None, force: bool = False
    ) -> RestoreReport:
        """Bring PostgreSQL (``database_url``, by default the configured one) and the LanceDB
        tables back to the backup. A database that has tables is refused unless ``force``.

        Nothing live is touched until the dump is downloaded, verified against the manifest
        and fully restored into a new database; that one then takes the live one's name (open
        sessions ended), and the old one is dropped once LanceDB is restored too. A failure
        on the way leaves the live database as it was."""
        started = time.monotonic()
        manifest = self.get(backup_id)
        if manifest.s3_layout_version != S3_LAYOUT_VERSION:
            raise BackupError(
                f"Backup {backup_id} uses S3 layout {manifest.s3_layout_version}; this version "
                f"reads layout {S3_LAYOUT_VERSION}.", code="layout_mismatch",
            )  # fmt: skip
        url = database_url or self._settings.database.url
        existing = postgres.user_tables(url) if postgres.database_exists(url) else []
        if existing and not force:
            raise BackupError(
                f"The target database has {len(existing)} tables; restoring would overwrite "
                "them. Restore into an empty database, or pass --force.", code="target_not_empty",
            )  # fmt: skip
        name = postgres.database_name(url)
        staging = postgres.with_database(url, f"{name[:40]}_restoring_{backup_id.lower()}")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "postgres.dump"
            self._objects.download_file(manifest.postgres_key, path)
            postgres.verify(path, manifest.postgres_bytes, manifest.postgres_sha256)
            postgres.drop_database(staging)  # a leftover of an interrupted restore
            postgres.create_database(staging)
            try:
                postgres.restore(staging, path)
            except BaseException:
                postgres.drop_database(staging)
                raise
        replaced = postgres.replace_database(url, postgres.database_name(staging))
        db = connect(self._settings.lance, self._settings.s3)
        try:
            lance = lance_snapshots.restore(db, manifest.tables, self._options)
        except BaseException:
            if replaced:
                log.error("LanceDB restore failed; the database it replaced is kept as %s",
                          replaced)  # fmt: skip
            raise
        if replaced:
            postgres.drop_database(postgres.with_database(url, replaced))
        return RestoreReport(backup_id, len(postgres.user_tables(url)), lance,
                             time.monotonic() - started)  # fmt: skip
