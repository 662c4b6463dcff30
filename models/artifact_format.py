"""What a model artifact is in object storage: its manifest and digest, its URIs, the pointer
that promotes one version of a name, the errors, and the little of a store it needs.

Split out of :mod:`models.artifacts` (publishing, promoting, resolving) so that
:mod:`models.artifact_cache` (fetching into a node's cache) builds on these definitions without
importing its own caller. Everything here is pure: no network, no cache.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from models.errors import ModelUnavailable

# The manifest's name in storage and inside every fetched folder (model loaders ignore it).
MANIFEST_NAME = ".tmm-artifact.json"
# ray.serve.llm's own downloader names its snapshot folder after a ``hash`` object under the
# prefix (otherwise every version shares ``snapshots/000...``); publish writes the digest there.
RAY_HASH_NAME = "hash"
# The pointer object ``models/<name>/current``: which digest a URI without one resolves to.
CURRENT_NAME = "current"
RESERVED = frozenset({MANIFEST_NAME, RAY_HASH_NAME})
FORMAT = 1

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_DIGEST = r"[0-9a-f]{64}"
_URI = re.compile(
    rf"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9])/models/(?P<name>{_NAME})"
    rf"(?:/(?P<digest>{_DIGEST}))?/?$"
)
_CHUNK = 8 * 2**20


class ArtifactError(ModelUnavailable):
    """A model artifact cannot be used; the model does not load."""

    code = "artifact_invalid"


class ArtifactNotPublished(ArtifactError):
    """No manifest (never published, or a publish that did not finish) or a listed object
    missing: nothing is fetched."""

    code = "artifact_missing"


class ArtifactNotPromoted(ArtifactNotPublished):
    """A URI without a digest, and no ``current`` pointer for its name: no version was ever
    promoted, so there is nothing to resolve it to (and nothing is guessed)."""

    code = "artifact_not_promoted"


class ArtifactUnresolved(ArtifactError):
    """A URI without a digest where a version must be named without reaching storage (a model
    id): resolve it first (:meth:`models.artifacts.ModelArtifacts.pin`)."""

    code = "artifact_unresolved"


class ArtifactIntegrityError(ArtifactError):
    """A fetched file (or the manifest) does not match what the digest promises."""

    code = "artifact_corrupt"

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"The artifact file {path!r} does not match its manifest: "
                         f"expected {expected}, got {actual}.")  # fmt: skip
        self.path = path
        self.expected = expected
        self.actual = actual


class ObjectMissing(LookupError):
    """Raised by an :class:`ArtifactStore` when asked to download an object that is not there."""


class ArtifactStore(Protocol):
    """The little of object storage that artifacts need (one bucket)."""

    @property
    def bucket(self) -> str: ...

    def upload(self, key: str, path: Path) -> None: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    def download(self, key: str, dest: Path) -> None:
        """Write the object to ``dest``; raise :class:`ObjectMissing` when it is not there."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (only listing versions needs it)."""
        ...


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # relative, POSIX separators
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """Every file of a model folder; its digest names the artifact."""

    name: str
    files: tuple[ManifestEntry, ...]

    @property
    def digest(self) -> str:
        """sha256 over the entries sorted by path (the name is not part of it: the same bytes
        published under two names are one artifact)."""
        lines = "".join(f"{e.path}\t{e.size}\t{e.sha256}\n"
                        for e in sorted(self.files, key=lambda e: e.path))  # fmt: skip
        return hashlib.sha256(lines.encode()).hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.files)

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT,
            "name": self.name,
            "digest": self.digest,
            "files": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in self.files],
        }
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and check a manifest: paths stay inside the folder, sizes and hashes are sane."""
        try:
            body = json.loads(data)
            files = tuple(
                ManifestEntry(_safe_path(str(f["path"])), int(f["size"]), str(f["sha256"]))
                for f in body["files"]
            )
            manifest = cls(name=str(body["name"]), files=files)
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"The artifact manifest is not readable: {exc}") from exc
        if any(e.size < 0 or not re.fullmatch(_DIGEST, e.sha256) for e in files):
            raise ArtifactError("The artifact manifest lists a bad size or hash.")
        return manifest


@dataclass(frozen=True)
class ArtifactRef:
    """Where one published artifact lives: ``s3://<bucket>/models/<name>/<digest>``."""

    bucket: str
    name: str
    digest: str

    @property
    def prefix(self) -> str:
        return f"models/{self.name}/{self.digest}/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.rstrip('/')}"

    @property
    def manifest_key(self) -> str:
        return self.prefix + MANIFEST_NAME

    @property
    def version(self) -> str:
        """The digest as results record it (``ModelRef.version``): its first 12 hex digits."""
        return self.digest[:12]


@dataclass(frozen=True)
class ArtifactName:
    """A name without a version, ``s3://<bucket>/models/<name>``: whichever digest its
    ``current`` pointer names when it is resolved."""

    bucket: str
    name: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/models/{self.name}"

    @property
    def current_key(self) -> str:
        return f"models/{self.name}/{CURRENT_NAME}"

    def at(self, digest: str) -> ArtifactRef:
        return ArtifactRef(self.bucket, self.name, digest)


def is_artifact_uri(value: str) -> bool:
    """An artifact URI, with a digest (pinned) or without one (the promoted version)."""
    return _URI.match(value) is not None


def is_pinned_uri(value: str) -> bool:
    match = _URI.match(value)
    return match is not None and match["digest"] is not None


def parse_location(uri: str) -> ArtifactRef | ArtifactName:
    """A pinned :class:`ArtifactRef` or, for a URI without a digest, an :class:`ArtifactName`."""
    match = _URI.match(uri)
    if match is None:
        raise ArtifactError(f"{uri!r} is not a model artifact URI "
                            "(s3://<bucket>/models/<name>[/<sha256>]).")  # fmt: skip
    if match["digest"] is None:
        return ArtifactName(match["bucket"], match["name"])
    return ArtifactRef(match["bucket"], match["name"], match["digest"])


def parse_uri(uri: str) -> ArtifactRef:
    """A pinned URI's reference; a URI without a digest is refused (resolve it first)."""
    location = parse_location(uri)
    if isinstance(location, ArtifactName):
        raise ArtifactUnresolved(f"{uri} names no digest: it means whichever version is "
                                 "promoted, so resolve it against the store first.")  # fmt: skip
    return location


def pointer_json(ref: ArtifactRef) -> bytes:
    return json.dumps({"format": FORMAT, "name": ref.name, "digest": ref.digest}).encode()


def pointer_digest(data: bytes, name: ArtifactName) -> str:
    """The digest a ``current`` pointer names, checked (a damaged pointer is not guessed at)."""
    try:
        body = json.loads(data)
        digest, named = str(body["digest"]), str(body["name"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"The pointer {name.current_key} is not readable: {exc}") from exc
    if named != name.name or not re.fullmatch(_DIGEST, digest):
        raise ArtifactError(f"The pointer {name.current_key} names {named!r}@{digest!r}.")
    return digest


def check_name(name: str) -> None:
    if not re.fullmatch(_NAME, name):
        raise ArtifactError(f"{name!r} is not a usable artifact name (letters, digits, . _ -).")


def check_digest(digest: str) -> None:
    if not re.fullmatch(_DIGEST, digest):
        raise ArtifactError(f"{digest!r} is not an artifact digest (64 hex digits).")


def manifest_of(folder: Path, name: str) -> Manifest:
    """Hash every file under ``folder`` (the reserved top-level names excepted)."""
    check_name(name)
    if not folder.is_dir():
        raise ArtifactError(f"{folder} is not a folder.")
    entries = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder).as_posix()
        if relative in RESERVED:
            continue
        entries.append(ManifestEntry(relative, file.stat().st_size, sha256_of(file)))
    if not entries:
        raise ArtifactError(f"{folder} holds no files to publish.")
    return Manifest(name=name, files=tuple(entries))


def sha256_of(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_path(value: str) -> str:
    path = PurePosixPath(value)
    if (not value or "\\" in value or path.is_absolute() or ".." in path.parts
            or value in RESERVED or str(path) != value):  # fmt: skip
        raise ValueError(f"unsafe path in manifest: {value!r}")
    return value
