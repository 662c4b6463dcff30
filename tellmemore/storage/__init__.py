"""Storage clients every domain builds on: the PostgreSQL pool and versioned migrations, objects
on S3 (model artifacts among them), Redis and the result cache in it, the durable job queue and
keyset paging."""

from tellmemore.storage import holds
from tellmemore.storage.cache import ResultCache
from tellmemore.storage.jobs import Backoff, Job, JobQueue, wait_for_work
from tellmemore.storage.migrate import load_migrations, migrate, migration_status
from tellmemore.storage.model_store import S3ArtifactStore, model_artifacts, pinned_models
from tellmemore.storage.objects import ObjectStore, StorageError, make_s3_client
from tellmemore.storage.paging import Cursor, Page
from tellmemore.storage.pool import make_pool
from tellmemore.storage.redis import make_redis
from tellmemore.storage.timing import TimedCursor, statement_kind

__all__ = [
    "Backoff",
    "Cursor",
    "Job",
    "JobQueue",
    "ObjectStore",
    "Page",
    "ResultCache",
    "S3ArtifactStore",
    "StorageError",
    "TimedCursor",
    "holds",
    "load_migrations",
    "make_pool",
    "make_redis",
    "make_s3_client",
    "migrate",
    "migration_status",
    "model_artifacts",
    "pinned_models",
    "statement_kind",
    "wait_for_work",
]
