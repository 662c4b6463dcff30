"""Two ways to reach the LLM behind one small interface.

``VllmChat`` runs vLLM in this process (batch jobs: many conversations in one call).
``OpenAIChat`` talks to any OpenAI-compatible endpoint — our own ``ray.serve.llm`` app, a vLLM
server, or a hosted API. Both decode under the JSON schema where the server supports it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from models.errors import ModelError
from models.registry import llm_path, model_ref
from models.settings import LLMSettings
from models.summarizer.prompts import Message
from models.types import ModelRef


def llm_model(settings: LLMSettings, models_dir: Path) -> ModelRef:
    """Which model a backend built from ``settings`` records, without loading it."""
    if settings.backend == "openai":
        return ModelRef(kind="llm", name=settings.served_model_name or settings.model,
                        version=f"endpoint:{settings.base_url}")  # fmt: skip
    return model_ref("llm", settings.model, llm_path(settings.model, models_dir))


def make_backend(settings: LLMSettings, models_dir: Path) -> ChatBackend:
    """In-process vLLM or an OpenAI-compatible endpoint, as ``settings.backend`` says."""
    if settings.backend == "openai":
        return OpenAIChat(settings)
    return VllmChat(settings, models_dir)


class ChatBackend(Protocol):
    model: ModelRef
    context_tokens: int

    def complete(
        self,
        conversations: list[list[Message]],
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float | None,
    ) -> list[str]:
        """One answer per conversation, in order (``temperature`` None: the configured one)."""
        ...


class VllmChat:
    """vLLM's offline engine (``vllm.LLM``), loaded once."""

    def __init__(self, settings: LLMSettings, models_dir: Path) -> None:
        # In-process engine without a worker process: starts in seconds on CPU.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from vllm import LLM

        path = llm_path(settings.model, models_dir)
        self._settings = settings
        self._llm = LLM(
            model=path,
            dtype=settings.dtype,  # type: ignore[arg-type]
            enforce_eager=settings.enforce_eager,
            max_model_len=settings.max_model_len,
            kv_cache_memory_bytes=settings.kv_cache_bytes,
            seed=0,
        )
        self.model: ModelRef = model_ref("llm", settings.model, path)
        self.context_tokens = settings.max_model_len

    def complete(
        self,
        conversations: list[list[Message]],
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float | None,
    ) -> list[str]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = SamplingParams(
            temperature=self._settings.temperature if temperature is None else temperature,
            max_tokens=max_tokens,
            structured_outputs=StructuredOutputsParams(json=schema),
        )
        try:
            outputs = self._llm.chat(conversations, params, use_tqdm=False)  # type: ignore[arg-type]
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"vLLM failed: {exc}", code="llm_failed") from exc
        return [o.outputs[0].text if o.outputs else "" for o in outputs]


class OpenAIChat:
    """Any OpenAI-compatible chat endpoint."""

    def __init__(self, settings: LLMSettings, *, concurrency: int = 4) -> None:
        import openai

        self._settings = settings
        self._client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key.get_secret_value(),
            timeout=settings.timeout_s,
            max_retries=2,
        )
        self._model_name = settings.served_model_name or settings.model
        self._concurrency = concurrency
        self.model: ModelRef = llm_model(settings, Path("."))
        self.context_tokens = settings.max_model_len

    def complete(
        self,
        conversations: list[list[Message]],
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float | None,
    ) -> list[str]:
        def one(messages: list[Message]) -> str:
            try:
                response = self._client.chat.completions.create(  # type: ignore[call-overload]
                    model=self._model_name,
                    messages=messages,
                    temperature=(
                        self._settings.temperature if temperature is None else temperature
                    ),
                    max_tokens=max_tokens,
                    response_format={
                        "type": "json_schema",
                        "json_schema": {"name": "answer", "schema": schema, "strict": True},
                    },
                )
            except Exception as exc:  # the openai package raises a family of its own errors
                raise ModelError(f"The LLM endpoint failed: {exc}", code="llm_failed") from exc
            return response.choices[0].message.content or ""

        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            return list(pool.map(one, conversations))
