"""Model folders as content-addressed artifacts in object storage, fetched into a node cache.

Production nodes never reach a model hub and no image bakes weights in: a prepared model folder
is published once to ``s3://<bucket>/models/<name>/<digest>/`` and every replica fetches it into
a node-local cache, ``<cache_dir>/<name>/<digest>/``. The digest is a sha256 over the folder's
manifest (each file's relative path, size and sha256), so a URI names exactly one set of bytes:
a fetched file that does not match is refused, and results record the digest (``ModelRef``).

Publishing writes the manifest last, so an artifact is visible only once every file is there,
and then (unless told not to) the pointer ``models/<name>/current`` naming its digest. A config
can then say ``s3://<bucket>/models/<name>`` without a digest (no config can carry the digest of
weights published later, elsewhere): it is resolved to the promoted digest when it is fetched,
one small GET, and everything after (cache folder, model id, logs) uses the resolved digest, so
outputs still record exactly which weights made them. A URI with a digest stays pinned.

Fetching downloads into a temporary sibling, verifies each file, and renames it into place
atomically, under a lock file, so replicas on one node download once and never see half a folder.

This module imports nothing of ours but :mod:`models`: object storage comes in through
:class:`ArtifactStore`, which ``tellmemore.storage.model_store`` implements over S3. The
definitions (manifest, URIs, errors) live in :mod:`models.artifact_format`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from models.artifact_format import (
    CURRENT_NAME,
    MANIFEST_NAME,
    RAY_HASH_NAME,
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactName,
    ArtifactNotPromoted,
    ArtifactNotPublished,
    ArtifactRef,
    ArtifactStore,
    ArtifactUnresolved,
    Manifest,
    ManifestEntry,
    ObjectMissing,
    check_digest,
    check_name,
    is_artifact_uri,
    is_pinned_uri,
    manifest_of,
    parse_location,
    parse_uri,
    pointer_digest,
    pointer_json,
    sha256_of,
)
from models.errors import ModelUnavailable

__all__ = [
    "CURRENT_NAME", "MANIFEST_NAME", "RAY_HASH_NAME", "ArtifactError", "ArtifactIdentity",
    "ArtifactIntegrityError", "ArtifactName", "ArtifactNotPromoted", "ArtifactNotPublished",
    "ArtifactRef", "ArtifactStore", "ArtifactUnresolved", "ArtifactVersion", "Manifest",
    "ManifestEntry", "ModelArtifacts", "ObjectMissing", "artifact_identity", "current",
    "fetch", "is_artifact_uri", "is_pinned_uri", "list_versions", "local_model", "manifest_of",
    "parse_location", "parse_uri", "promote", "publish", "resolve",
]  # fmt: skip

log = logging.getLogger(__name__)
_MANIFEST_KEY = re.compile(rf"^models/(?P<name>[^/]+)/(?P<digest>[0-9a-f]{{64}})/"
                           rf"{re.escape(MANIFEST_NAME)}$")  # fmt: skip


def publish(folder: Path, name: str, store: ArtifactStore, *, promote: bool = True) -> ArtifactRef:
    """Upload ``folder`` as an artifact; the manifest goes last, so readers never see half of
    it, and then, with ``promote``, the ``current`` pointer. Publishing what is already
    published (same bytes) uploads nothing but a pointer that does not name it yet."""
    manifest = manifest_of(folder, name)
    ref = ArtifactRef(store.bucket, name, manifest.digest)
    if store.read(ref.manifest_key) is None:
        for entry in manifest.files:
            store.upload(ref.prefix + entry.path, folder / entry.path)
        store.put_bytes(ref.prefix + RAY_HASH_NAME, ref.digest.encode())
        store.put_bytes(ref.manifest_key, manifest.to_json())
    if promote:
        _point(store, ref)
    return ref


def promote(store: ArtifactStore, name: str, digest: str) -> ArtifactRef:
    """Make ``digest`` the version ``s3://<bucket>/models/<name>`` resolves to. Refused unless
    that version's manifest is there (a pointer to half an upload would break every node)."""
    check_name(name)
    check_digest(digest)
    ref = ArtifactRef(store.bucket, name, digest)
    raw = store.read(ref.manifest_key)
    if raw is None:
        raise ArtifactNotPublished(f"{ref.uri} has no manifest: publish it before promoting it.")
    if Manifest.from_json(raw).digest != digest:
        raise ArtifactIntegrityError(MANIFEST_NAME, digest, Manifest.from_json(raw).digest)
    _point(store, ref)
    return ref


def current(store: ArtifactStore, name: str) -> ArtifactRef:
    """The promoted version of ``name`` (one small GET); :class:`ArtifactNotPromoted` if none."""
    check_name(name)
    location = ArtifactName(store.bucket, name)
    raw = store.read(location.current_key)
    if raw is None:
        raise ArtifactNotPromoted(f"{location.uri} has no promoted version (no "
                                  f"{location.current_key}): publish one, or `tmm models "
                                  "promote NAME DIGEST`.")  # fmt: skip
    return location.at(pointer_digest(raw, location))


def resolve(ref_or_uri: ArtifactRef | ArtifactName | str, store: ArtifactStore) -> ArtifactRef:
    """The pinned version a URI means: itself when it has a digest, else the promoted one."""
    location = parse_location(ref_or_uri) if isinstance(ref_or_uri, str) else ref_or_uri
    if location.bucket != store.bucket:
        raise ArtifactError(f"{location.uri} is in bucket {location.bucket!r}; the configured "
                            f"object storage is bucket {store.bucket!r}.")  # fmt: skip
    if isinstance(location, ArtifactRef):
        return location
    ref = current(store, location.name)
    log.info("model artifact %s resolved to %s", location.uri, ref.uri,
             extra={"artifact": ref.name, "digest": ref.digest})  # fmt: skip
    return ref


@dataclass(frozen=True)
class ArtifactVersion:
    """One published version, as ``tmm models list`` shows it."""

    ref: ArtifactRef
    files: int
    total_bytes: int
    current: bool


def list_versions(store: ArtifactStore, name: str | None = None) -> list[ArtifactVersion]:
    """Every fully published version (those with a manifest), by name, the promoted one marked.
    A GET per version and per name: an operator's listing, not a hot path."""
    if name is not None:
        check_name(name)
    found: list[ArtifactVersion] = []
    promoted: dict[str, str | None] = {}
    for key in sorted(store.keys(f"models/{name}/" if name else "models/")):
        match = _MANIFEST_KEY.match(key)
        if match is None:
            continue
        ref = ArtifactRef(store.bucket, match["name"], match["digest"])
        raw = store.read(ref.manifest_key)
        if raw is None:  # deleted while we listed
            continue
        if ref.name not in promoted:
            pointer = store.read(ArtifactName(store.bucket, ref.name).current_key)
            promoted[ref.name] = (pointer_digest(pointer, ArtifactName(store.bucket, ref.name))
                                  if pointer is not None else None)  # fmt: skip
        manifest = Manifest.from_json(raw)
        found.append(ArtifactVersion(ref, len(manifest.files), manifest.total_bytes,
                                     promoted[ref.name] == ref.digest))  # fmt: skip
    return found


def fetch(ref_or_uri: ArtifactRef | ArtifactName | str, cache_dir: Path,
          store: ArtifactStore) -> Path:  # fmt: skip
    """The artifact's local folder, ``<cache_dir>/<name>/<digest>``, downloaded on first use;
    a URI without a digest is resolved first (the folder is the resolved digest's).

    A complete cached copy costs a stat per file. Otherwise, under a per-artifact lock file,
    every file is downloaded into a temporary sibling and checked against the manifest (size
    and sha256), and the folder is renamed into place only when all match: on any failure
    nothing is left in the cache."""
    ref = resolve(ref_or_uri, store)
    parent = cache_dir / ref.name
    final = parent / ref.digest
    if _complete(final, ref.digest):
        return final
    parent.mkdir(parents=True, exist_ok=True)
    with _locked(parent / f".{ref.digest}.lock"):
        if _complete(final, ref.digest):  # another replica finished while we waited
            return final
        for stale in parent.glob(f".{ref.digest}.partial-*"):  # left by a killed fetch
            shutil.rmtree(stale, ignore_errors=True)
        if final.exists():  # damaged since it was fetched: fetch again
            shutil.rmtree(final)
        raw = store.read(ref.manifest_key)
        if raw is None:
            raise ArtifactNotPublished(f"{ref.uri} has no manifest: it was never published, or "
                                       "its publishing did not finish.")  # fmt: skip
        manifest = Manifest.from_json(raw)
        if manifest.digest != ref.digest:
            raise ArtifactIntegrityError(MANIFEST_NAME, ref.digest, manifest.digest)
        staging = Path(tempfile.mkdtemp(prefix=f".{ref.digest}.partial-", dir=parent))
        try:
            for entry in manifest.files:
                _download_checked(store, ref, entry, staging)
            (staging / MANIFEST_NAME).write_bytes(raw)
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    log.info("model artifact %s fetched into %s", ref.uri, final,
             extra={"artifact": ref.name, "digest": ref.digest})  # fmt: skip
    return final


@dataclass(frozen=True)
class ArtifactIdentity:
    name: str
    digest: str


def artifact_identity(path: str) -> ArtifactIdentity | None:
    """The artifact a pinned URI or a fetched folder holds, or None for anything else. A URI
    without a digest raises :class:`ArtifactUnresolved`: its version is only known once it is
    resolved, and guessing would record an id no loaded model has."""
    if is_artifact_uri(path):
        ref = parse_uri(path)
        return ArtifactIdentity(ref.name, ref.digest)
    manifest_file = Path(path) / MANIFEST_NAME
    if not manifest_file.is_file():
        return None
    manifest = Manifest.from_json(manifest_file.read_bytes())
    return ArtifactIdentity(manifest.name, manifest.digest)


@dataclass(frozen=True)
class ModelArtifacts:
    """A store and a node-local cache: what a model class needs to turn an artifact URI setting
    into a folder it can load."""

    store: ArtifactStore
    cache_dir: Path

    def local(self, value: str) -> str:
        """``value`` itself, unless it is an artifact URI: then its fetched folder."""
        if not is_artifact_uri(value):
            return value
        return str(fetch(value, self.cache_dir, self.store))

    def pin(self, value: str) -> str:
        """``value`` itself, unless it is an artifact URI without a digest: then the pinned URI
        of the promoted version, for whatever must name one version before it loads anything
        (a batch plan's model ids, ray.serve.llm's ``bucket_uri``)."""
        if not is_artifact_uri(value) or is_pinned_uri(value):
            return value
        return resolve(value, self.store).uri


def local_model(value: str, artifacts: ModelArtifacts | None) -> str:
    """A model setting with any artifact URI replaced by its fetched folder."""
    if not is_artifact_uri(value):
        return value
    if artifacts is None:
        raise ModelUnavailable(
            f"The model {value} is an artifact in object storage, and no store was given "
            "to fetch it (pass ModelArtifacts; see tellmemore.storage.model_artifacts)."
        )
    return artifacts.local(value)


def _point(store: ArtifactStore, ref: ArtifactRef) -> None:
    """Write the ``current`` pointer, unless it already names ``ref`` (a re-publish of the
    promoted bytes writes nothing)."""
    location = ArtifactName(ref.bucket, ref.name)
    raw = store.read(location.current_key)
    if raw is not None and raw == pointer_json(ref):
        return
    store.put_bytes(location.current_key, pointer_json(ref))
    log.info("model artifact %s promoted to %s", location.uri, ref.digest,
             extra={"artifact": ref.name, "digest": ref.digest})  # fmt: skip


def _download_checked(
    store: ArtifactStore, ref: ArtifactRef, entry: ManifestEntry, staging: Path
) -> None:
    dest = staging / entry.path
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        store.download(ref.prefix + entry.path, dest)
    except ObjectMissing as exc:
        raise ArtifactNotPublished(
            f"{ref.uri} lists {entry.path!r}, which is not in object storage."
        ) from exc
    size = dest.stat().st_size
    if size != entry.size:
        raise ArtifactIntegrityError(entry.path, f"{entry.size} bytes", f"{size} bytes")
    actual = sha256_of(dest)
    if actual != entry.sha256:
        raise ArtifactIntegrityError(entry.path, f"sha256 {entry.sha256}", f"sha256 {actual}")


def _complete(folder: Path, digest: str) -> bool:
    """A cheap check of a cached copy: its manifest has the digest and every file its size
    (the bytes were verified when it was fetched; this catches deletion and truncation)."""
    try:
        manifest = Manifest.from_json((folder / MANIFEST_NAME).read_bytes())
        return manifest.digest == digest and all(
            (folder / e.path).stat().st_size == e.size for e in manifest.files
        )
    except (OSError, ArtifactError):
        return False


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """An exclusive ``flock``: it holds across processes and across threads (each opens its
    own file description), and the kernel releases it if the holder dies."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
