"""Model artifacts, the pure logic: manifests and their digest, URIs (pinned and name-only),
the manifest's and the pointer's own checks, promoting and resolving over an in-memory store,
the cache-dir setting, and the S3 env the LLM app hands ray.serve.llm. Storage itself
(publish, fetch, promote, tampering, concurrency) is tested against the real S3 server in
tests/storage/test_model_artifacts.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from models.artifacts import (
    MANIFEST_NAME,
    RAY_HASH_NAME,
    ArtifactError,
    ArtifactName,
    ArtifactNotPromoted,
    ArtifactNotPublished,
    ArtifactRef,
    ArtifactUnresolved,
    Manifest,
    ModelArtifacts,
    ObjectMissing,
    artifact_identity,
    current,
    fetch,
    is_artifact_uri,
    is_pinned_uri,
    list_versions,
    local_model,
    manifest_of,
    parse_location,
    parse_uri,
    promote,
    publish,
    resolve,
)
from models.errors import ModelUnavailable
from models.registry import model_ref
from models.settings import ModelSettings
from tellmemore.settings import S3Settings, Settings

DIGEST = "ab" * 32


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


FILES = {"config.json": b'{"a": 1}', "model.bin": bytes(range(256)) * 40, "sub/t.txt": b"x"}


def test_manifest_lists_every_file_and_its_digest_is_stable(tmp_path: Path) -> None:
    one = _folder(tmp_path / "one", FILES)
    two = _folder(tmp_path / "two", dict(reversed(FILES.items())))  # other creation order
    manifest = manifest_of(one, "m")
    assert [(e.path, e.size) for e in manifest.files] == [
        ("config.json", 8), ("model.bin", 10240), ("sub/t.txt", 1),
    ]  # fmt: skip
    assert manifest.total_bytes == 10249
    assert manifest.digest == manifest_of(two, "other-name").digest  # names are not content
    assert len(manifest.digest) == 64
    # A round trip through JSON keeps the digest; one changed byte changes it.
    assert Manifest.from_json(manifest.to_json()).digest == manifest.digest
    (two / "model.bin").write_bytes(bytes([1]) + FILES["model.bin"][1:])
    assert manifest_of(two, "m").digest != manifest.digest
    # The manifest and Ray's hash object (written next to a fetched folder) are not content.
    (one / MANIFEST_NAME).write_bytes(manifest.to_json())
    (one / RAY_HASH_NAME).write_text(manifest.digest)
    assert manifest_of(one, "m").digest == manifest.digest


def test_bad_folders_and_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="no files"):
        manifest_of(tmp_path / "empty", "m")
    with pytest.raises(ArtifactError, match="not a folder"):
        manifest_of(tmp_path / "missing", "m")
    with pytest.raises(ArtifactError, match="name"):
        manifest_of(tmp_path / "empty", "../escape")


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "/abs", "a/../../b", "a\\b", "", "./a", MANIFEST_NAME]
)
def test_a_manifest_cannot_write_outside_its_folder(path: str) -> None:
    body = {"name": "m", "files": [{"path": path, "size": 1, "sha256": "0" * 64}]}
    with pytest.raises(ArtifactError, match="not readable"):
        Manifest.from_json(json.dumps(body).encode())


def test_a_manifest_with_a_bad_hash_or_size_is_refused() -> None:
    for entry in ({"size": 1, "sha256": "xyz"}, {"size": -1, "sha256": "0" * 64}):
        body = {"name": "m", "files": [{"path": "a", **entry}]}
        with pytest.raises(ArtifactError):
            Manifest.from_json(json.dumps(body).encode())
    with pytest.raises(ArtifactError):
        Manifest.from_json(b"not json")


def test_uris_round_trip_and_bad_ones_are_not_artifacts() -> None:
    ref = ArtifactRef("tellmemore", "whisper-large-v3", DIGEST)
    assert ref.uri == f"s3://tellmemore/models/whisper-large-v3/{DIGEST}"
    assert parse_uri(ref.uri) == ref == parse_uri(ref.uri + "/")
    assert ref.manifest_key == f"models/whisper-large-v3/{DIGEST}/{MANIFEST_NAME}"
    assert ref.version == DIGEST[:12]
    for bad in ("large-v3", "tiny.en", "/srv/models/x", f"s3://b/other/x/{DIGEST}",
                "s3://tellmemore/models/x/abc", f"gs://tellmemore/models/x/{DIGEST}"):  # fmt: skip
        assert not is_artifact_uri(bad)
        with pytest.raises(ArtifactError):
            parse_uri(bad)


def test_a_uri_setting_without_a_store_is_a_clear_error() -> None:
    uri = f"s3://tellmemore/models/x/{DIGEST}"
    with pytest.raises(ModelUnavailable, match="no store"):
        local_model(uri, None)
    assert local_model("tiny.en", None) == "tiny.en"


def test_model_refs_of_an_artifact_uri_and_its_fetched_folder_agree(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "cache" / "whisper-x" / "d", FILES)
    manifest = manifest_of(folder, "whisper-x")
    (folder / MANIFEST_NAME).write_bytes(manifest.to_json())
    uri = ArtifactRef("tellmemore", "whisper-x", manifest.digest).uri
    from_uri = model_ref("asr", f"whisper-{uri}", uri)
    assert from_uri == model_ref("asr", "whisper-whatever", str(folder))
    assert from_uri.id == f"asr:whisper-x@{manifest.digest[:12]}"
    assert artifact_identity(str(tmp_path)) is None  # a plain folder is not an artifact


def test_the_cache_dir_is_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert ModelSettings().cache_dir.is_absolute()
    with pytest.raises(ValidationError, match="absolute"):
        ModelSettings(cache_dir=Path("relative/cache"))
    monkeypatch.setenv("TMM_MODELS__CACHE_DIR", str(tmp_path / "node-cache"))
    assert Settings().models.cache_dir == tmp_path / "node-cache"
    monkeypatch.setenv("TMM_MODELS__CACHE_DIR", "cache")
    with pytest.raises(ValidationError):
        Settings()


def test_the_llm_runtime_env_reaches_our_s3_only_as_configured() -> None:
    from serve_apps.llm import s3_env

    local = S3Settings(endpoint_url="http://127.0.0.1:8333", access_key_id="k",
                       secret_access_key=SecretStr("s"))  # fmt: skip
    assert s3_env(local) == {
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:8333", "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }  # fmt: skip
    # AWS itself on an IAM role: no endpoint, no keys, so boto3's default chain applies.
    aws = S3Settings(endpoint_url=None, region="eu-west-1")
    assert s3_env(aws) == {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1"}


class MemoryStore:
    """An :class:`~models.artifacts.ArtifactStore` in a dict, for the logic above storage."""

    def __init__(self, bucket: str = "tellmemore") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.reads: list[str] = []

    def upload(self, key: str, path: Path) -> None:
        self.objects[key] = path.read_bytes()

    def put_bytes(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def read(self, key: str) -> bytes | None:
        self.reads.append(key)
        return self.objects.get(key)

    def download(self, key: str, dest: Path) -> None:
        if key not in self.objects:
            raise ObjectMissing(key)
        dest.write_bytes(self.objects[key])

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))


def test_name_only_uris_parse_but_name_no_version() -> None:
    uri = "s3://tellmemore/models/whisper-large-v3"
    assert is_artifact_uri(uri) and is_artifact_uri(uri + "/")
    assert not is_pinned_uri(uri) and is_pinned_uri(f"{uri}/{DIGEST}")
    location = parse_location(uri)
    assert location == ArtifactName("tellmemore", "whisper-large-v3")
    assert isinstance(location, ArtifactName)
    assert location.current_key == "models/whisper-large-v3/current"
    assert location.uri == uri and location.at(DIGEST) == parse_uri(f"{uri}/{DIGEST}")
    # Where one version must be named without storage, a name-only URI is a typed refusal:
    # guessing would record an id no loaded model has.
    with pytest.raises(ArtifactUnresolved, match="no digest"):
        parse_uri(uri)
    with pytest.raises(ArtifactUnresolved):
        model_ref("asr", "whisper", uri)
    assert ArtifactUnresolved.code == "artifact_unresolved"


def test_current_follows_publish_and_promote_and_pins_stay(tmp_path: Path) -> None:
    store = MemoryStore()
    one = publish(_folder(tmp_path / "one", FILES), "m", store)
    name_uri = "s3://tellmemore/models/m"
    assert current(store, "m") == one == resolve(name_uri, store)
    two = publish(_folder(tmp_path / "two", {**FILES, "more.txt": b"2"}), "m", store)
    assert two.digest != one.digest
    assert resolve(name_uri, store) == two  # publishing promotes by default
    assert resolve(one.uri, store) == one  # a pinned URI does not move
    three = publish(_folder(tmp_path / "three", {"x": b"3"}), "m", store, promote=False)
    assert resolve(name_uri, store) == two  # --no-promote leaves current alone
    assert promote(store, "m", one.digest) == one
    assert resolve(name_uri, store) == one  # a rollback is a promote
    assert ModelArtifacts(store, tmp_path / "c").pin(name_uri) == one.uri
    assert ModelArtifacts(store, tmp_path / "c").pin(three.uri) == three.uri
    assert ModelArtifacts(store, tmp_path / "c").pin("large-v3") == "large-v3"
    listed = {(v.ref.digest, v.current, v.files) for v in list_versions(store)}
    assert listed == {(one.digest, True, 3), (two.digest, False, 4), (three.digest, False, 1)}
    # Re-publishing what is current writes nothing; promoting the unpublished is refused.
    store.objects.pop("models/m/current")
    publish(_folder(tmp_path / "again", FILES), "m", store)
    assert current(store, "m") == one
    before = dict(store.objects)
    publish(tmp_path / "again", "m", store)
    assert store.objects == before
    with pytest.raises(ArtifactNotPublished, match="publish it before"):
        promote(store, "m", "cd" * 32)
    with pytest.raises(ArtifactError, match="digest"):
        promote(store, "m", "not-a-digest")
    assert resolve(name_uri, store) == one


def test_a_name_only_uri_fetches_the_resolved_digest_and_records_it(tmp_path: Path) -> None:
    store = MemoryStore()
    ref = publish(_folder(tmp_path / "src", FILES), "m", store)
    cache = tmp_path / "cache"
    store.reads.clear()
    folder = fetch("s3://tellmemore/models/m", cache, store)
    assert folder == cache / "m" / ref.digest
    assert store.reads[0] == "models/m/current"  # one small GET resolves it
    assert model_ref("llm", "whatever", str(folder)).version == ref.version
    store.reads.clear()
    assert fetch("s3://tellmemore/models/m", cache, store) == folder  # cached: pointer only
    assert store.reads == ["models/m/current"]


def test_a_missing_or_damaged_pointer_is_a_clear_typed_error(tmp_path: Path) -> None:
    store = MemoryStore()
    ref = publish(_folder(tmp_path / "src", FILES), "m", store, promote=False)
    with pytest.raises(ArtifactNotPromoted, match="no promoted version") as missing:
        fetch("s3://tellmemore/models/m", tmp_path / "cache", store)
    assert missing.value.code == "artifact_not_promoted"
    assert isinstance(missing.value, ModelUnavailable)
    assert not (tmp_path / "cache").exists()
    for bad in (b"not json", json.dumps({"name": "other", "digest": ref.digest}).encode(),
                json.dumps({"name": "m", "digest": "abc"}).encode()):  # fmt: skip
        store.objects["models/m/current"] = bad
        with pytest.raises(ArtifactError, match="pointer"):
            resolve("s3://tellmemore/models/m", store)
    with pytest.raises(ArtifactError, match="bucket"):
        resolve("s3://elsewhere/models/m", store)
