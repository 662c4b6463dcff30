"""Model artifacts on our S3: the :class:`~models.artifacts.ArtifactStore` that ``models/``
asks for, over :class:`ObjectStore`, and the :class:`~models.artifacts.ModelArtifacts` every
place that loads a model passes down so an ``s3://<bucket>/models/<name>[/<digest>]`` setting is
resolved (without a digest: to the promoted version) and fetched into the node's cache first."""

from __future__ import annotations

from pathlib import Path

from models.artifacts import ModelArtifacts, ObjectMissing
from models.settings import ModelSettings
from tellmemore.settings import S3Settings
from tellmemore.storage.objects import ObjectStore, StorageError


class S3ArtifactStore:
    """One bucket of :class:`ObjectStore`, as the artifact code needs it: a missing object is
    a value (``None``) or :class:`ObjectMissing`, every other failure a :class:`StorageError`."""

    def __init__(self, objects: ObjectStore) -> None:
        self._objects = objects

    @property
    def bucket(self) -> str:
        return self._objects.bucket

    def upload(self, key: str, path: Path) -> None:
        self._objects.upload_file(key, path, "application/octet-stream")

    def put_bytes(self, key: str, data: bytes) -> None:
        self._objects.put_bytes(key, data, "application/octet-stream")

    def read(self, key: str) -> bytes | None:
        try:
            return self._objects.get_bytes(key)
        except StorageError as exc:
            if exc.code == "object_missing":
                return None
            raise

    def keys(self, prefix: str) -> list[str]:
        return self._objects.keys(prefix)

    def download(self, key: str, dest: Path) -> None:
        try:
            self._objects.download_file(key, dest)
        except StorageError as exc:
            if exc.code == "object_missing":
                raise ObjectMissing(key) from exc
            raise


def model_artifacts(s3: S3Settings, models: ModelSettings) -> ModelArtifacts:
    """The store and node cache to pass to the model classes (``artifacts=``). Building it
    opens no connection; only an artifact URI setting makes it reach S3."""
    return ModelArtifacts(store=S3ArtifactStore(ObjectStore(s3)), cache_dir=models.cache_dir)


def pinned_models(s3: S3Settings, models: ModelSettings) -> ModelSettings:
    """``models`` with every artifact URI without a digest pinned to its promoted version (a
    GET per such setting; other values unchanged). For whatever must name its model versions
    before loading them and then load exactly those: a batch run computes its target model ids
    from these and hands the same settings to its actors, so a promote during the run cannot
    make its outputs disagree with its plan. The search index's name is not among them: it is
    derived from the configured embedder setting, so derive it from ``models``, not these."""
    pin = model_artifacts(s3, models).pin
    return models.model_copy(update={
        "whisper": models.whisper.model_copy(update={"model": pin(models.whisper.model)}),
        "embedder": models.embedder.model_copy(update={"model": pin(models.embedder.model)}),
        "llm": models.llm.model_copy(update={"model": pin(models.llm.model)}),
    })  # fmt: skip
