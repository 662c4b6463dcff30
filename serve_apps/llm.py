"""The summarizer's LLM, served by ``ray.serve.llm`` (vLLM inside) as an OpenAI-compatible app.

The app has no HTTP route: its ingress (``serve_apps.llm_ingress.LlmIngress``, Ray's OpenAI
router with handle-friendly entry points) is reached by handle, by the processor's summarizer
and by the API's ``/llm/v1``, where researchers' ``openai`` clients come in with an API key
(``base_url=http://HOST:8000/llm/v1``). On CPU (development, CI) the engine gets the
settings vLLM needs there: fp32, eager mode and an explicit KV cache; on GPU nodes it gets
``accelerator_type`` and whatever ``engine_kwargs`` the production config sets.

A model setting that is an artifact URI (``s3://<bucket>/models/<name>/<digest>``, from ``tmm
models publish``) is handed to ``ray.serve.llm``'s own cloud loading as a mirror config: every
node downloads it before the engine starts. A URI without a digest (``s3://<bucket>/models/
<name>``, the promoted version) is resolved when the config is built: ``bucket_uri`` must be one
concrete prefix, so Ray downloads exactly one version and every replica serves the same.
Its downloader builds a plain ``boto3.client("s3")``, so our endpoint and keys reach it
through the standard AWS variables in the runtime env.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.serve.deployment import Application
from ray.serve.llm import LLMConfig, build_openai_app

from models.artifacts import is_artifact_uri, parse_location
from models.registry import llm_path
from serve_apps.llm_ingress import LlmIngress
from tellmemore.settings import S3Settings, Settings
from tellmemore.storage import model_artifacts


def served_name(settings: Settings) -> str:
    """The name clients ask for; an artifact is known by its published name, not its URI."""
    llm = settings.models.llm
    if llm.served_model_name:
        return llm.served_model_name
    return parse_location(llm.model).name if is_artifact_uri(llm.model) else llm.model


def llm_config(
    settings: Settings,
    *,
    accelerator_type: str | None,
    cpu_engine: bool,
    cpus_per_replica: float,
    min_replicas: int,
    max_replicas: int,
    downscale_delay_s: float,
    engine_kwargs: dict[str, Any],
) -> LLMConfig:
    llm = settings.models.llm
    engine: dict[str, Any] = {
        "max_model_len": llm.max_model_len,
        "dtype": llm.dtype,
        "enforce_eager": llm.enforce_eager,
    }
    options: dict[str, Any] = {}
    if cpu_engine:  # CPU: vLLM refuses to start without an explicit KV cache
        engine["kv_cache_memory_bytes"] = llm.kv_cache_bytes
        options["accelerator_config"] = {"kind": "cpu"}
        bundle: dict[str, float] = {"CPU": cpus_per_replica}
        if accelerator_type is not None:  # GPU-shaped placement, CPU engine (cluster tier)
            bundle[f"accelerator_type:{accelerator_type}"] = 0.001
        options["placement_group_config"] = {"bundles": [bundle]}
    else:
        options["accelerator_type"] = accelerator_type
    engine.update(engine_kwargs)
    source: str | dict[str, str]
    if is_artifact_uri(llm.model):
        # Pinned here, once: a name-only URI becomes the promoted digest's prefix (one GET).
        source = {"bucket_uri": model_artifacts(settings.s3, settings.models).pin(llm.model)}
        # Downloaded into a local folder: vLLM must never be sent to a hub for it.
        env: dict[str, str] | None = {"HF_HUB_OFFLINE": "1", **s3_env(settings.s3)}
    else:
        source = llm_path(llm.model, settings.models.dir)
        # A prepared local folder must never send vLLM to a hub; a hub name may.
        env = {"HF_HUB_OFFLINE": "1"} if Path(source).is_dir() else None
    return LLMConfig(
        model_loading_config={"model_id": served_name(settings), "model_source": source},
        engine_kwargs=engine,
        deployment_config={
            "autoscaling_config": {
                "min_replicas": min_replicas,
                "max_replicas": max_replicas,
                "downscale_delay_s": downscale_delay_s,
            },
        },
        runtime_env={"env_vars": env} if env else None,
        **options,
    )


def s3_env(s3: S3Settings) -> dict[str, str]:
    """The AWS variables that point ``boto3.client("s3")`` (ray.serve.llm's downloader) at our
    object storage: the endpoint only when one is configured (not AWS itself), the keys only
    when both are set, so that without keys the default credential chain (instance role,
    IRSA, ~/.aws) applies."""
    env = {"AWS_DEFAULT_REGION": s3.region, "AWS_REGION": s3.region}
    if s3.endpoint_url:
        env["AWS_ENDPOINT_URL_S3"] = s3.endpoint_url
    keys = s3.static_keys()
    if keys is not None:
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = keys
    return env


def build_llm(config: LLMConfig, *, router_resources: dict[str, float]) -> Application:
    """The OpenAI-compatible app; its router reserves ``router_resources`` per replica."""
    args: dict[str, Any] = {
        "llm_configs": [config],
        "ingress_cls_config": {"ingress_cls": LlmIngress},
    }
    if router_resources:
        args["ingress_deployment_config"] = {
            "ray_actor_options": {"resources": dict(router_resources)}
        }
    return build_openai_app(args)
