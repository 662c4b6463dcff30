"""Object storage over the S3 protocol (boto3): AWS in production, SeaweedFS on loopback locally.

Keys are the layout the design names: ``audio/`` (temporary), ``transcripts/<episode>.json``
and the LanceDB tables under ``lance/``. Failures become :class:`StorageError` with a code, so
a pipeline can record a per-episode reason instead of crashing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tellmemore.settings import S3Settings


class StorageError(RuntimeError):
    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def make_s3_client(settings: S3Settings) -> Any:
    """A boto3 S3 client; without static keys in ``settings`` boto3's default credential chain
    applies (an IAM role through IRSA or the instance profile, ~/.aws, AWS_* variables)."""
    keys = settings.static_keys()
    credentials = {"aws_access_key_id": keys[0], "aws_secret_access_key": keys[1]} if keys else {}
    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        **credentials,
        config=Config(
            connect_timeout=settings.connect_timeout_s,
            read_timeout=settings.read_timeout_s,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )


def _error(exc: Exception, what: str) -> StorageError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return StorageError(f"{what}: no such object.", code="object_missing")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            return StorageError(f"{what}: the storage refused our credentials.", code="denied")
        return StorageError(f"{what}: {code or exc}.", code="storage_error")
    return StorageError(f"{what}: object storage unreachable ({exc}).", code="unreachable")


class ObjectStore:
    """One bucket, with JSON and file helpers."""

    def __init__(self, settings: S3Settings, client: Any | None = None) -> None:
        self.bucket = settings.bucket
        self._s3 = client or make_s3_client(settings)

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (LanceDB does not create buckets)."""
        try:
            self._s3.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise _error(exc, f"bucket {self.bucket}") from exc
        except BotoCoreError as exc:
            raise _error(exc, f"bucket {self.bucket}") from exc
        try:
            self._s3.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou", "BucketAlreadyExists",
            ):  # fmt: skip
                raise _error(exc, f"bucket {self.bucket}") from exc

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, key) from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, key) from exc
        return body

    def put_json(self, key: str, value: Any) -> None:
        self.put_bytes(key, json.dumps(value, separators=(",", ":")).encode(), "application/json")

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def upload_file(self, key: str, path: Path, content_type: str) -> None:
        try:
            self._s3.upload_file(str(path), self.bucket, key,
                                 ExtraArgs={"ContentType": content_type})  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, key) from exc

    def download_file(self, key: str, path: Path) -> None:
        try:
            self._s3.download_file(self.bucket, key, str(path))
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, key) from exc

    def delete(self, key: str) -> None:
        """Delete an object; deleting what is not there is not an error (idempotent)."""
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, key) from exc

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _error(exc, key) from exc
        except BotoCoreError as exc:
            raise _error(exc, key) from exc
        return True

    def keys(self, prefix: str) -> list[str]:
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            return [o["Key"] for page in pages for o in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, prefix) from exc
