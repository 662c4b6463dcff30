"""The one builder: composes the deployments into Tell Me More's two Serve applications.

- ``tellmemore`` (route ``/``): the API ingress, the transcriber, the embedder and the episode
  processor; ``build_app`` is its import path for Serve config files.
- ``llm`` (no route): the OpenAI-compatible LLM app from ``ray.serve.llm`` (an app has one
  ingress, and that one is Ray's router, extended in ``llm_ingress``); ``build_llm_app``. The
  Serve proxy does not expose it: the processor and the API's ``/llm/v1`` (API keys with the
  ``llm`` scope) reach it by handle, by its name ``LLM_APP_NAME``.

Both read their arguments through :class:`AppOptions` — resources, replicas, autoscaling — which
refuses unknown keys, so a typo in a config file fails the deploy instead of being ignored. The
settings come from the environment of the process that builds (``TMM_*``), built once here and
passed to every deployment explicitly.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from ray.serve.deployment import Application, Deployment

from serve_apps.autoscaling import POLICY_PATH as QUEUE_POLICY
from serve_apps.embedder import EmbedderDeployment
from serve_apps.ingress import ApiIngress
from serve_apps.llm import build_llm, llm_config, served_name
from serve_apps.processor import Processor
from serve_apps.transcriber import Transcriber
from tellmemore.settings import Settings

APP_NAME = "tellmemore"
LLM_APP_NAME = "llm"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Autoscaling(_Strict):
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    target_ongoing_requests: float = Field(default=2.0, gt=0)
    upscale_delay_s: float = Field(default=30.0, ge=0)
    downscale_delay_s: float = Field(default=600.0, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be at least min_replicas")
        return self


class QueueAutoscaling(Autoscaling):
    """The processor's autoscaling: on the job queue, not on requests (it receives almost none).

    Replicas report the queue's runnable jobs and :class:`serve_apps.autoscaling.
    QueueDepthPolicy` asks for one replica per ``jobs_per_replica`` of them (default: the
    worker's ``processing.concurrency``, i.e. every replica busy), within min/max and after
    the delays. ``target_ongoing_requests`` is not read by that policy."""

    # Scaling from zero would never start: only a running replica looks at the queue.
    min_replicas: int = Field(default=1, ge=1)
    jobs_per_replica: float | None = Field(default=None, gt=0)
    # The window Serve averages the reports over (replicas record every fifth of it).
    look_back_period_s: float = Field(default=30.0, gt=0)

    def as_config(self, concurrency: int) -> dict[str, Any]:
        config = self.model_dump(exclude={"jobs_per_replica"})
        config["policy"] = {
            "policy_function": QUEUE_POLICY,
            "policy_kwargs": {"jobs_per_replica": self.jobs_per_replica or float(concurrency)},
        }
        return config


# Ray's own resources, which have their own fields; ``resources`` is for custom ones.
_BUILTIN_RESOURCES = frozenset({"CPU", "GPU", "memory", "object_store_memory"})


def _custom_resources(value: dict[str, float]) -> dict[str, float]:
    builtin = sorted(_BUILTIN_RESOURCES & set(value))
    if builtin:
        raise ValueError(f"{builtin} have their own fields (num_cpus, num_gpus, memory_gb)")
    if any(amount <= 0 for amount in value.values()):
        raise ValueError("custom resource amounts must be positive")
    return value


CustomResources = Annotated[dict[str, float], AfterValidator(_custom_resources)]


class DeploymentOptions(_Strict):
    """How one deployment runs: resources per replica, and a fixed count or autoscaling.

    ``resources`` are custom Ray resources a replica reserves. Production gives CPU-only
    deployments one that only the CPU group's nodes declare: Serve spreads replicas over every
    node with room, and a CPU replica on a GPU node takes the CPUs Whisper needs there and
    keeps the node from ever going idle (the GPU group could not scale back to zero)."""

    num_cpus: float = Field(default=1.0, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    memory_gb: float | None = Field(default=None, gt=0)
    resources: CustomResources = Field(default_factory=dict)
    num_replicas: int | None = Field(default=1, ge=1)
    autoscaling: Autoscaling | None = None
    max_ongoing_requests: int = Field(default=5, ge=1)

    def as_options(self) -> dict[str, Any]:
        actor: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.memory_gb is not None:
            actor["memory"] = int(self.memory_gb * 2**30)
        if self.resources:
            actor["resources"] = dict(self.resources)
        options: dict[str, Any] = {
            "ray_actor_options": actor,
            "max_ongoing_requests": self.max_ongoing_requests,
        }
        if self.autoscaling is not None:
            options["autoscaling_config"] = self.autoscaling.model_dump()
            options["num_replicas"] = "auto"
        else:
            options["num_replicas"] = self.num_replicas
        return options


class ProcessorOptions(DeploymentOptions):
    """The processor: a fixed count, or ``autoscaling`` on the job queue's depth."""

    autoscaling: QueueAutoscaling | None = None

    def as_options(self, *, concurrency: int = 2) -> dict[str, Any]:
        options = super().as_options()
        if self.autoscaling is not None:
            options["autoscaling_config"] = self.autoscaling.as_config(concurrency)
        return options


class EmbedderOptions(DeploymentOptions):
    max_batch_size: int = Field(default=32, ge=1, le=1024)
    batch_wait_timeout_s: float = Field(default=0.01, ge=0, le=5)
    # Search queries: a listener is waiting, so they wait for company far shorter.
    query_batch_wait_timeout_s: float = Field(default=0.001, ge=0, le=5)


class LLMOptions(_Strict):
    """The LLM app: on CPU a placement bundle of ``num_cpus``; on GPU an accelerator type.

    ``device: cpu`` with an ``accelerator_type`` keeps the GPU-shaped placement (the bundle
    asks for a sliver of ``accelerator_type:<type>``, so replicas land only on that group's
    nodes) while the engine runs on CPU: the cluster tier's GPU nodes are resources, not
    devices."""

    accelerator_type: str | None = None  # e.g. "A10G" on g5 nodes; None runs vLLM on CPU
    device: Literal["gpu", "cpu"] = "gpu"
    num_cpus: float = Field(default=1.0, gt=0)
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    # How long an idle replica stays (Serve's default is 10 minutes); with min_replicas 0 the
    # GPU node it held is released by the autoscaler's idle timeout after it goes.
    downscale_delay_s: float = Field(default=600.0, ge=0)
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    # Custom resources of the app's router (ray.serve.llm's OpenAiIngress, CPU only): as
    # DeploymentOptions.resources, they keep it on the CPU group.
    router_resources: CustomResources = Field(default_factory=dict)


class AppOptions(_Strict):
    """Everything a Serve config's ``args`` may say, for both applications."""

    ingress: DeploymentOptions = DeploymentOptions(num_cpus=0.5, max_ongoing_requests=200)
    transcriber: DeploymentOptions = DeploymentOptions(num_cpus=1.0, max_ongoing_requests=4)
    embedder: EmbedderOptions = EmbedderOptions(num_cpus=0.5, max_ongoing_requests=256)
    processor: ProcessorOptions = ProcessorOptions(num_cpus=0.25, max_ongoing_requests=8)
    llm: LLMOptions = LLMOptions()
    # None: the processor reaches the LLM app by handle. A URL: it calls that OpenAI-compatible
    # endpoint over HTTP instead (a hosted API, a vLLM server elsewhere).
    llm_base_url: str | None = None


def compose(settings: Settings, options: AppOptions) -> Application:
    """The ``tellmemore`` application, from explicit settings (tests and the local runner)."""
    transcriber = (
        _deployment(Transcriber).options(**options.transcriber.as_options()).bind(settings)
    )
    embedder = (
        _deployment(EmbedderDeployment)
        .options(
            **options.embedder.as_options(),
            user_config={
                "max_batch_size": options.embedder.max_batch_size,
                "batch_wait_timeout_s": options.embedder.batch_wait_timeout_s,
                "query_batch_wait_timeout_s": options.embedder.query_batch_wait_timeout_s,
            },
        )
        .bind(settings)
    )
    processor = (
        _deployment(Processor)
        .options(**options.processor.as_options(concurrency=settings.processing.concurrency))
        .bind(
            processor_settings(settings, options),
            transcriber,
            embedder,
            llm_app=None if options.llm_base_url else LLM_APP_NAME,
        )
    )
    # The API logs every request itself; Serve's access log for the ingress would repeat each
    # line, at a cost per request (bench/serve_ingress.py).
    app: Application = (
        _deployment(ApiIngress)
        .options(**options.ingress.as_options(), logging_config={"enable_access_log": False})
        .bind(settings, embedder=embedder, processor=processor, llm_app=LLM_APP_NAME)
    )
    return app


def _deployment(decorated: object) -> Deployment:
    """``@serve.deployment`` classes are Deployments at run time; Ray's stubs do not say so."""
    return cast(Deployment, decorated)


def compose_llm(settings: Settings, options: AppOptions) -> Application:
    """The ``llm`` application."""
    llm = options.llm
    return build_llm(
        llm_config(
            settings,
            accelerator_type=llm.accelerator_type,
            cpu_engine=llm.device == "cpu" or llm.accelerator_type is None,
            cpus_per_replica=llm.num_cpus,
            min_replicas=llm.min_replicas,
            max_replicas=llm.max_replicas,
            downscale_delay_s=llm.downscale_delay_s,
            engine_kwargs=llm.engine_kwargs,
        ),
        router_resources=llm.router_resources,
    )


def processor_settings(settings: Settings, options: AppOptions) -> Settings:
    """The processor asks for the model by the name the LLM app serves it under; with
    ``llm_base_url`` it calls that endpoint over HTTP."""
    update: dict[str, str] = {"backend": "openai", "served_model_name": served_name(settings)}
    if options.llm_base_url:
        update["base_url"] = options.llm_base_url
    llm = settings.models.llm.model_copy(update=update)
    models = settings.models.model_copy(update={"llm": llm})
    return settings.model_copy(update={"models": models})


def build_app(args: dict[str, Any]) -> Application:
    """Import path for Serve configs: ``serve_apps.builder:build_app``."""
    return compose(Settings(), AppOptions.model_validate(args))


def build_llm_app(args: dict[str, Any]) -> Application:
    """Import path for Serve configs: ``serve_apps.builder:build_llm_app``."""
    return compose_llm(Settings(), AppOptions.model_validate(args))
