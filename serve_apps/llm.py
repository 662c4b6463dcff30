"""The summarizer's LLM, served by ``ray.serve.llm`` (vLLM inside) as an OpenAI-compatible app.

The same ``/v1/chat/completions`` the processor calls is open to researchers with the ``openai``
client (``base_url=http://HOST:8000/llm/v1``). On CPU (development, CI) the engine gets the
settings vLLM needs there: fp32, eager mode and an explicit KV cache; on GPU nodes it gets
``accelerator_type`` and whatever ``engine_kwargs`` the production config sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.serve.deployment import Application
from ray.serve.llm import LLMConfig, build_openai_app

from models.registry import llm_path
from tellmemore.settings import Settings


def served_name(settings: Settings) -> str:
    return settings.models.llm.served_model_name or settings.models.llm.model


def llm_config(
    settings: Settings,
    *,
    accelerator_type: str | None,
    cpus_per_replica: float,
    min_replicas: int,
    max_replicas: int,
    engine_kwargs: dict[str, Any],
) -> LLMConfig:
    llm = settings.models.llm
    engine: dict[str, Any] = {
        "max_model_len": llm.max_model_len,
        "dtype": llm.dtype,
        "enforce_eager": llm.enforce_eager,
    }
    options: dict[str, Any] = {}
    if accelerator_type is None:  # CPU: vLLM refuses to start without an explicit KV cache
        engine["kv_cache_memory_bytes"] = llm.kv_cache_bytes
        options["accelerator_config"] = {"kind": "cpu"}
        options["placement_group_config"] = {"bundles": [{"CPU": cpus_per_replica}]}
    else:
        options["accelerator_type"] = accelerator_type
    engine.update(engine_kwargs)
    source = llm_path(llm.model, settings.models.dir)
    return LLMConfig(
        model_loading_config={"model_id": served_name(settings), "model_source": source},
        engine_kwargs=engine,
        deployment_config={
            "autoscaling_config": {"min_replicas": min_replicas, "max_replicas": max_replicas},
        },
        # A prepared local folder must never send vLLM to a hub; a hub name (production) may.
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}} if Path(source).is_dir() else None,
        **options,
    )


def build_llm(config: LLMConfig) -> Application:
    return build_openai_app({"llm_configs": [config]})
