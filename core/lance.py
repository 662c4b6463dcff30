"""LanceDB connections on the configured object storage (or a local folder).

Lance reads S3 itself (not through boto3), so it gets the same endpoint and keys as
``storage_options``. The bucket must exist first: LanceDB does not create buckets.
"""

from __future__ import annotations

from pathlib import Path

import lancedb

from core.objects import ObjectStore
from core.settings import LanceSettings, S3Settings


def storage_options(s3: S3Settings) -> dict[str, str]:
    options = {
        "aws_access_key_id": s3.access_key_id,
        "aws_secret_access_key": s3.secret_access_key.get_secret_value(),
        "aws_region": s3.region,
    }
    if s3.endpoint_url:
        options["aws_endpoint"] = s3.endpoint_url
        if s3.endpoint_url.startswith("http://"):
            options["allow_http"] = "true"
    return options


def lance_uri(lance: LanceSettings, s3: S3Settings) -> str:
    if lance.location == "s3":
        return f"s3://{s3.bucket}/{lance.prefix.strip('/')}"
    return str(Path(lance.location) / lance.prefix)


def connect(lance: LanceSettings, s3: S3Settings) -> lancedb.DBConnection:
    """A LanceDB connection; on S3 the bucket is created first if missing."""
    uri = lance_uri(lance, s3)
    if uri.startswith("s3://"):
        ObjectStore(s3).ensure_bucket()
        return lancedb.connect(uri, storage_options=storage_options(s3))
    Path(uri).mkdir(parents=True, exist_ok=True)
    return lancedb.connect(uri)
