"""LanceDB connections on the configured object storage (or a local folder).

Lance reads S3 itself (not through boto3), so it gets the same endpoint and keys as
``storage_options``; without keys, Lance's object store uses AWS's default credential chain as
boto3 does. The bucket must exist first: LanceDB does not create buckets.
"""

from __future__ import annotations

import threading
from pathlib import Path

import lancedb

from tellmemore.settings import LanceSettings, S3Settings
from tellmemore.storage import ObjectStore


def storage_options(s3: S3Settings) -> dict[str, str]:
    """Lance's S3 options: region and endpoint always, keys only when configured (an empty
    key would be taken as a key; leaving them out lets an IAM role apply)."""
    options = {"aws_region": s3.region}
    keys = s3.static_keys()
    if keys:
        options["aws_access_key_id"], options["aws_secret_access_key"] = keys
    if s3.endpoint_url:
        options["aws_endpoint"] = s3.endpoint_url
        if s3.endpoint_url.startswith("http://"):
            options["allow_http"] = "true"
    return options


def lance_uri(lance: LanceSettings, s3: S3Settings) -> str:
    if lance.location == "s3":
        return f"s3://{s3.bucket}/{lance.prefix.strip('/')}"
    return str(Path(lance.location) / lance.prefix)


def connect(
    lance: LanceSettings, s3: S3Settings, *, create_bucket: bool = True
) -> lancedb.DBConnection:
    """A LanceDB connection; on S3 the bucket is created first if missing (writers), while
    readers (``create_bucket=False``) connect without touching S3 until they read."""
    uri = lance_uri(lance, s3)
    if uri.startswith("s3://"):
        if create_bucket:
            ObjectStore(s3).ensure_bucket()
        return lancedb.connect(uri, storage_options=storage_options(s3))
    Path(uri).mkdir(parents=True, exist_ok=True)
    return lancedb.connect(uri)


def live_tables(db: lancedb.DBConnection) -> dict[str, lancedb.table.Table]:
    """The tables that open, by name. A dropped table's empty folder can stay listed (SeaweedFS
    keeps directories), so a listed name alone does not mean the table is there."""
    out = {}
    for name in sorted(db.list_tables().tables):
        try:
            out[name] = db.open_table(name)
        except (ValueError, FileNotFoundError):
            continue
    return out


class LazyConnection:
    """A reader's connection, opened on first use: a server starts (and says why it is not
    ready) without S3, and a missing bucket reads as "no tables yet"."""

    def __init__(self, lance: LanceSettings, s3: S3Settings) -> None:
        self._lance = lance
        self._s3 = s3
        self._db: lancedb.DBConnection | None = None
        self._lock = threading.Lock()

    def open_table(self, name: str) -> lancedb.table.Table:
        with self._lock:
            if self._db is None:
                self._db = connect(self._lance, self._s3, create_bucket=False)
            db = self._db
        return db.open_table(name)
