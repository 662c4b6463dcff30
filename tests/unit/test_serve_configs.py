"""The Serve config files in cluster/serve: strict loading, and both applications building.

Loading is pure Python. Building runs the real builders; ``ray.serve.llm`` reads Ray's runtime
context while building, so those tests share one small local Ray cluster and are marked slow.
"""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the environment
from ray.serve.config import ProxyLocation
from ray.serve.deployment import Application, Deployment
from ray.serve.schema import ServeApplicationSchema, ServeDeploySchema

from models.artifacts import publish
from serve_apps import strict_yaml
from serve_apps.builder import APP_NAME, LLM_APP_NAME, AppOptions
from serve_apps.configs import build_applications, load_serve_config
from tellmemore.settings import ApiSettings, S3Settings
from tellmemore.storage import ObjectStore, S3ArtifactStore

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "cluster" / "serve" / "local.yaml"
PRODUCTION = ROOT / "cluster" / "serve" / "production.yaml"
JWT_SECRET = "production-test-secret-" + "x" * 17  # 40 characters
# Settings that come from Kubernetes Secrets, never from a config file.
SECRET_PREFIXES = ("TMM_AUTH__", "TMM_DATABASE__", "TMM_REDIS__", "TMM_S3__")


def raw(path: Path) -> dict[str, Any]:
    data = strict_yaml.load_file(path)
    assert isinstance(data, dict)
    return data


def app_of(data: dict[str, Any], name: str) -> dict[str, Any]:
    apps: list[dict[str, Any]] = data["applications"]
    return next(app for app in apps if app["name"] == name)


def index_of(data: dict[str, Any], name: str) -> int:
    return [app["name"] for app in data["applications"]].index(name)


def app_named(config: ServeDeploySchema, name: str) -> ServeApplicationSchema:
    return next(app for app in config.applications if app.name == name)


def env_vars(app: ServeApplicationSchema) -> dict[str, str]:
    return dict(app.runtime_env.get("env_vars", {}))


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# -- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LOCAL, PRODUCTION], ids=["local", "production"])
def test_config_files_load(path: Path) -> None:
    config = load_serve_config(path)
    routes = {app.name: (app.route_prefix, app.import_path) for app in config.applications}
    # The LLM app has no route: the proxy does not expose it (the API's /llm/v1 is the way in).
    assert routes == {
        APP_NAME: ("/", "serve_apps.builder:build_app"),
        LLM_APP_NAME: (None, "serve_apps.builder:build_llm_app"),
    }
    assert config.logging_config is not None and config.logging_config.encoding == "JSON"


def test_local_config_is_what_the_local_runner_deploys() -> None:
    config = load_serve_config(LOCAL)
    assert config.proxy_location == ProxyLocation.HeadOnly
    assert (config.http_options.host, config.http_options.port) == ("127.0.0.1", 8000)
    # The API (and its /llm/v1) is served at TMM_API__PORT: the proxy must listen there.
    assert config.http_options.port == ApiSettings().port
    for app in config.applications:
        assert AppOptions.model_validate(app.args) == AppOptions(), app.name
        assert app.deployments == []
    assert AppOptions().transcriber.num_gpus == 0
    assert AppOptions().llm.accelerator_type is None


def test_production_config_asks_for_gpus_and_carries_no_secrets() -> None:
    config = load_serve_config(PRODUCTION)
    assert config.proxy_location == ProxyLocation.EveryNode
    assert config.http_options.host == "0.0.0.0"
    main = AppOptions.model_validate(app_named(config, APP_NAME).args)
    llm = AppOptions.model_validate(app_named(config, LLM_APP_NAME).args).llm
    assert main.transcriber.num_gpus > 0
    assert main.ingress.autoscaling is not None and main.ingress.autoscaling.min_replicas >= 2
    assert llm.accelerator_type == "A10G"
    assert "kv_cache_memory_bytes" not in llm.engine_kwargs  # a CPU-only knob
    # The app logs each request itself; Serve's access log for the ingress stays off.
    ingress = [d for d in app_named(config, APP_NAME).deployments if d.name == "Api"]
    assert ingress and ingress[0].logging_config is not None
    assert ingress[0].logging_config.enable_access_log is False
    for app in config.applications:
        env = env_vars(app)
        assert env["TMM_ENVIRONMENT"] == "production"
        # Every model is an artifact in object storage (never a hub, never baked into an
        # image), the same LLM in both apps, served under the name clients ask for.
        kinds = ("WHISPER", "LLM", "EMBEDDER") if app.name == APP_NAME else ("LLM",)
        for kind in kinds:
            assert env[f"TMM_MODELS__{kind}__MODEL"].startswith("s3://"), kind
        assert env["TMM_MODELS__LLM__MODEL"] == "s3://tellmemore/models/qwen2.5-7b-instruct"
        assert env["TMM_MODELS__LLM__SERVED_MODEL_NAME"] == "Qwen/Qwen2.5-7B-Instruct"
        assert Path(env["TMM_MODELS__CACHE_DIR"]).is_absolute()
        # The processor budgets prompts by the same context length the engine was given.
        assert int(env["TMM_MODELS__LLM__MAX_MODEL_LEN"]) == llm.engine_kwargs["max_model_len"]
        assert not [key for key in env if key.startswith(SECRET_PREFIXES)]
        assert not [key for key in env if "SECRET" in key or "PASSWORD" in key]


# -- strictness --------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(*keys: str | int, value: Any) -> Callable[[Any], None]:
    def mutate(node: Any) -> None:
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return mutate


def _at_app(name: str, mutate: Callable[[Any], None]) -> Mutation:
    return lambda data: mutate(app_of(data, name))


# (mutation of production.yaml, the path the error must name with the app's index, whether Ray's
# own schema would have let it through)
UNKNOWN_KEYS: list[tuple[str, Mutation, str, bool]] = [
    ("top level", _set("proxy_locaton", value="HeadOnly"), "proxy_locaton", True),
    ("application", _at_app(APP_NAME, _set("route_prefx", value="/x")),
     "applications[{main}].route_prefx", True),
    ("http_options", _set("http_options", "hots", value="0.0.0.0"), "http_options.hots", True),
    ("logging_config", _set("logging_config", "level", value="DEBUG"),
     "logging_config.level", False),
    ("deployment override", _at_app(APP_NAME, _set("deployments", 0, "graceful_shutdown_s",
     value=5)), "applications[{main}].deployments[0].graceful_shutdown_s", True),
    ("deployment ray_actor_options",
     _at_app(APP_NAME, _set("deployments", 0, "ray_actor_options", value={"num_gpu": 1})),
     "applications[{main}].deployments[0].ray_actor_options.num_gpu", True),
    ("deployment autoscaling_config",
     _at_app(APP_NAME, _set("deployments", 0, "autoscaling_config",
     value={"min_replicas": 1, "max_replica": 2})),
     "applications[{main}].deployments[0].autoscaling_config.max_replica", True),
    ("args", _at_app(APP_NAME, _set("args", "ingres", value={})),
     "applications[{main}].args.ingres", True),
    ("args deployment", _at_app(APP_NAME, _set("args", "ingress", "num_cpu", value=1)),
     "applications[{main}].args.ingress.num_cpu", True),
    ("args autoscaling", _at_app(APP_NAME, _set("args", "transcriber", "autoscaling",
     "min_replica", value=0)), "applications[{main}].args.transcriber.autoscaling.min_replica",
     True),
    ("args llm", _at_app(LLM_APP_NAME, _set("args", "llm", "acelerator_type", value="A10G")),
     "applications[{llm}].args.llm.acelerator_type", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "where", "ray_ignores"),
    [case[1:] for case in UNKNOWN_KEYS],
    ids=[case[0] for case in UNKNOWN_KEYS],
)
def test_unknown_keys_are_refused_with_their_path(
    tmp_path: Path, mutate: Mutation, where: str, ray_ignores: bool
) -> None:
    data = copy.deepcopy(raw(PRODUCTION))
    mutate(data)
    where = where.format(main=index_of(data, APP_NAME), llm=index_of(data, LLM_APP_NAME))
    if ray_ignores:  # the reason for the strict check: Ray takes the typo without a word
        ServeDeploySchema.model_validate(data)
    with pytest.raises(ValueError, match="unknown key") as caught:
        load_serve_config(write(tmp_path, data))
    assert f"'{where}'" in str(caught.value)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (_at_app(APP_NAME, _set("args", "processor", "num_replicas", value=-1)),
         "applications[{main}].args.processor.num_replicas"),
        (_at_app(APP_NAME, _set("args", "ingress", "autoscaling",
         value={"min_replicas": 5, "max_replicas": 2})), "applications[{main}].args.ingress"),
        (_at_app(APP_NAME, _set("deployments", 0, "num_replicas", value=-1)),
         "applications[{main}].deployments[0].num_replicas"),
        (_set("logging_config", "log_level", value="LOUD"), "logging_config.log_level"),
    ],
    ids=["args replicas", "args autoscaling bounds", "override replicas", "log level"],
)  # fmt: skip
def test_invalid_values_are_refused_with_their_path(
    tmp_path: Path, mutate: Mutation, where: str
) -> None:
    data = copy.deepcopy(raw(PRODUCTION))
    mutate(data)
    where = where.format(main=index_of(data, APP_NAME), llm=index_of(data, LLM_APP_NAME))
    with pytest.raises(ValueError, match="invalid Serve config") as caught:
        load_serve_config(write(tmp_path, data))
    assert where in str(caught.value)


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    """The defect this guards against: production.yaml had two ``deployments:`` under one
    application, and YAML kept only the second (the Processor's shutdown timeout was lost)."""
    text = PRODUCTION.read_text(encoding="utf-8")
    merged = "      # The API logs every request itself"
    assert merged in text  # the one list today; split it again as the old file had it
    old = tmp_path / "production-old.yaml"
    old.write_text(text.replace(merged, "    deployments:\n" + merged.replace("  #", "#", 1)))
    assert yaml.safe_load(old.read_text())  # PyYAML alone takes it without a word
    with pytest.raises(strict_yaml.DuplicateKeyError) as caught:
        load_serve_config(old)
    message = str(caught.value)
    first, second = (i + 1 for i, line in enumerate(old.read_text().splitlines())
                     if line == "    deployments:")  # fmt: skip
    assert "'deployments'" in message and str(old) in message
    assert f"line {first}" in message and f"line {second}" in message
    # Both overrides survive in today's file.
    names = [d.name for d in app_named(load_serve_config(PRODUCTION), APP_NAME).deployments]
    assert names == ["Processor", "Api"]


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must be a mapping"):
        load_serve_config(path)


# -- building ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A small private Ray cluster (``ray.serve.llm`` needs one to build); reuses a running one."""
    import ray

    if ray.is_initialized():
        yield
        return
    from raykit.local import start_ray

    start_ray(num_cpus=2, object_store_mb=128)  # on loopback, as every local cluster
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse (and record) every Python-level connection or name lookup off loopback."""
    attempts: list[str] = []
    loopback = {"127.0.0.1", "::1", "localhost", "", None}
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    )  # fmt: skip

    def host_of(address: Any) -> Any:
        return address[0] if isinstance(address, tuple) else None

    def guarded(real: Any) -> Any:
        def call(sock: socket.socket, address: Any) -> Any:
            if (
                sock.family in (socket.AF_INET, socket.AF_INET6)
                and host_of(address) not in loopback
            ):
                attempts.append(str(address))
                raise OSError(f"test: no network ({address})")
            return real(sock, address)

        return call

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in loopback:
            attempts.append(str(host))
            raise socket.gaierror(f"test: no network ({host})")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded(connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return attempts


def settings_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    app: ServeApplicationSchema,
    *,
    production: bool,
) -> None:
    """The environment Serve would build ``app`` in: the app's runtime_env over a clean slate
    (no stray TMM_* or .env of the developer's), and in production the JWT secret that a
    Kubernetes Secret provides."""
    for key in list(os.environ):
        if key.startswith("TMM_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TMM_MODELS__DIR", str(ROOT / ".local" / "models"))
    monkeypatch.setenv("TMM_ENVIRONMENT", "production" if production else "development")
    if production:
        monkeypatch.setenv("TMM_AUTH__JWT_SECRET", JWT_SECRET)
    for key, value in env_vars(app).items():
        monkeypatch.setenv(key, value)


def _published_llm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3: S3Settings) -> None:
    """Publish a small stand-in folder under the production LLM's artifact name in ``s3``'s
    bucket and point the environment there (the digest differs; the name and shape do not)."""
    model = os.environ["TMM_MODELS__LLM__MODEL"]
    name = model.rsplit("/", 1)[1]
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "qwen2"}')
    publish(folder, name, S3ArtifactStore(ObjectStore(s3)))
    monkeypatch.setenv("TMM_MODELS__LLM__MODEL", f"s3://{s3.bucket}/models/{name}")
    monkeypatch.setenv("TMM_S3__ENDPOINT_URL", s3.endpoint_url or "")
    monkeypatch.setenv("TMM_S3__BUCKET", s3.bucket)
    keys = s3.static_keys()
    if keys is not None:
        monkeypatch.setenv("TMM_S3__ACCESS_KEY_ID", keys[0])
        monkeypatch.setenv("TMM_S3__SECRET_ACCESS_KEY", keys[1])


def deployments(app: Application) -> dict[str, Deployment]:
    """Every deployment of a built application by name: the ingress and, recursively, those
    bound into its constructor (Ray has no public accessor for the bound deployment)."""
    found: dict[str, Deployment] = {}

    def visit(value: Any) -> None:
        if isinstance(value, Application):
            deployment: Deployment = value._bound_deployment
            found[deployment.name] = deployment
            visit(deployment.init_args)
            visit(deployment.init_kwargs)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    visit(app)
    return found


def build_one(config: ServeDeploySchema, name: str) -> Application:
    return build_applications(
        config.model_copy(update={"applications": [app_named(config, name)]})
    )[name]


@pytest.mark.slow
@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.parametrize("path", [LOCAL, PRODUCTION], ids=["local", "production"])
@pytest.mark.parametrize("name", [APP_NAME, LLM_APP_NAME])
def test_each_application_builds(
    path: Path,
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_network: list[str],
    s3_settings: S3Settings,
) -> None:
    config = load_serve_config(path)
    app = app_named(config, name)
    if (
        path == LOCAL
        and name == LLM_APP_NAME
        and not (ROOT / ".local" / "models" / "smollm2-135m-instruct" / "config.json").exists()
    ):
        pytest.skip("the local LLM is not prepared; run `tmm models prepare`")
    settings_env(monkeypatch, tmp_path, app, production=path == PRODUCTION)
    if path == PRODUCTION and name == LLM_APP_NAME:
        # Building pins the LLM's current version in object storage (ray.serve.llm downloads
        # exactly one): the production names, in this session's bucket on the loopback S3
        # server, as an overlay moves them to an environment's bucket.
        _published_llm(monkeypatch, tmp_path, s3_settings)

    built = build_one(config, name)

    assert isinstance(built, Application)
    assert no_network == []
    parts = deployments(built)
    # Serve refuses overrides for deployments the application does not have.
    assert {override.name for override in app.deployments} <= parts.keys()
    if name == APP_NAME:
        gpus = (parts["Transcriber"].ray_actor_options or {}).get("num_gpus", 0)
        assert gpus > 0 if path == PRODUCTION else gpus == 0
        # Both reach the LLM app by handle (it has no route), by its name.
        for bound in ("Api", "Processor"):
            assert cast(dict[str, Any], parts[bound].init_kwargs)["llm_app"] == LLM_APP_NAME
    else:
        # Ray's OpenAI router with the entry points the handles call.
        assert "LlmIngress" in parts
        # The engine's replica reserves the accelerator through its placement bundle.
        bundles = [
            bundle
            for deployment in parts.values()
            for bundle in deployment._replica_config.placement_group_bundles or []
        ]
        wants_a10g = any("accelerator_type:A10G" in bundle for bundle in bundles)
        assert wants_a10g if path == PRODUCTION else not wants_a10g
