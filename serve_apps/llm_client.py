"""The LLM application reached by deployment handle, for the two that call it.

- :class:`AppLlm` fills the API's ``LlmGateway`` port (``/llm/v1``): async, streaming.
- :class:`HandleChat` is a summarizer backend (``models.summarizer.ChatBackend``, the same
  protocol as ``OpenAIChat``) for the processor: synchronous, since the summarizer runs in a
  worker thread, with the same JSON-schema decoding the HTTP backend asks for; its calls are
  made on the replica's event loop, which the handle belongs to.

The LLM is its own Serve application (it has no HTTP route), so its handle is found by name
when first needed (``serve.get_app_handle``, a blocking call made off the event loop): replicas
start whatever the order the two applications come up in.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any, cast

from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from api.llm_gateway import Kind, LlmReply, LlmStream
from models.errors import ModelError
from models.settings import LLMSettings
from models.summarizer.prompts import Message
from models.types import ModelRef
from tellmemore.errors import CatalogError, ErrorKind


class LlmApp:
    """A handle to the LLM application's ingress, looked up once, when first needed."""

    def __init__(self, app_name: str) -> None:
        self.app_name = app_name
        self._handle: DeploymentHandle[Any] | None = None
        self._lock = threading.Lock()

    def handle(self) -> DeploymentHandle[Any]:
        """Blocking (it asks Serve's controller): call it from a thread, not the event loop."""
        with self._lock:
            if self._handle is None:
                self._handle = serve.get_app_handle(self.app_name)
            return self._handle


def _unavailable(exc: Exception) -> CatalogError:
    return CatalogError(
        "llm_unavailable",
        f"The LLM cannot be reached right now ({type(exc).__name__}); try again shortly.",
        ErrorKind.UNAVAILABLE,
        retry_after_s=5,
    )


class AppLlm:
    """The API's ``LlmGateway`` over the LLM application's handle."""

    def __init__(self, app_name: str) -> None:
        self._app = LlmApp(app_name)

    async def _handle(self) -> DeploymentHandle[Any]:
        try:
            return await asyncio.to_thread(self._app.handle)
        except Exception as exc:  # the app is not deployed (yet), or Serve is not there
            raise _unavailable(exc) from exc

    async def complete(self, kind: Kind, body: dict[str, Any]) -> LlmReply:
        handle = await self._handle()
        try:
            status, raw = await handle.relay.remote(kind, body)
        except Exception as exc:  # a replica died, or the app went away mid-call
            raise _unavailable(exc) from exc
        return LlmReply(status, raw)

    async def stream(self, kind: Kind, body: dict[str, Any]) -> LlmStream | LlmReply:
        handle = await self._handle()
        streaming = handle.options(stream=True)
        events = cast(DeploymentResponseGenerator[Any], streaming.relay_stream.remote(kind, body))
        try:
            status = await events.__anext__()
        except Exception as exc:
            raise _unavailable(exc) from exc
        if status != 200:
            return LlmReply(status, (await events.__anext__()).encode())
        return LlmStream(_texts(events))

    async def models(self) -> LlmReply:
        handle = await self._handle()
        try:
            status, raw = await handle.model_list.remote()
        except Exception as exc:
            raise _unavailable(exc) from exc
        return LlmReply(status, raw)


async def _texts(events: DeploymentResponseGenerator[Any]) -> AsyncIterator[str]:
    async for event in events:
        yield str(event)


class HandleChat:
    """The summarizer's chat backend over the LLM application's handle.

    The summarizer is synchronous and runs in a worker thread, but a handle made in a replica
    belongs to the replica's event loop (Serve's throughput-optimized mode runs no router loop
    of its own), so the calls are made on ``loop`` and this thread waits for their answers."""

    def __init__(
        self,
        app_name: str,
        settings: LLMSettings,
        *,
        loop: asyncio.AbstractEventLoop,
        concurrency: int = 4,
    ) -> None:
        self._app = LlmApp(app_name)
        self._settings = settings
        self._loop = loop
        self._concurrency = concurrency
        self._model_name = settings.served_model_name or settings.model
        self.model = ModelRef(kind="llm", name=self._model_name, version=f"serve:{app_name}")
        self.context_tokens = settings.max_model_len

    def complete(
        self,
        conversations: list[list[Message]],
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float | None,
    ) -> list[str]:
        """One answer per conversation, in order; at most ``concurrency`` in flight."""
        try:
            handle = self._app.handle()
        except Exception as exc:
            raise ModelError(f"The LLM app is not reachable: {exc}", code="llm_failed") from exc
        bodies = [self._body(m, schema, max_tokens, temperature) for m in conversations]
        asked = asyncio.run_coroutine_threadsafe(self._ask(handle, bodies), self._loop)
        return [self._answer(status, raw) for status, raw in asked.result()]

    async def _ask(
        self, handle: DeploymentHandle[Any], bodies: list[dict[str, Any]]
    ) -> list[tuple[int, bytes]]:
        slots = asyncio.Semaphore(self._concurrency)

        async def one(body: dict[str, Any]) -> tuple[int, bytes]:
            async with slots:
                try:
                    answer: tuple[int, bytes] = await asyncio.wait_for(
                        handle.relay.remote("chat", body), self._settings.timeout_s
                    )
                except Exception as exc:
                    raise ModelError(f"The LLM app failed: {exc!r}", code="llm_failed") from exc
                return answer

        return list(await asyncio.gather(*(one(body) for body in bodies)))

    def _body(
        self,
        messages: list[Message],
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float | None,
    ) -> dict[str, Any]:
        return {
            "model": self._model_name,
            "messages": messages,
            "temperature": self._settings.temperature if temperature is None else temperature,
            "max_tokens": max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            },
        }

    @staticmethod
    def _answer(status: int, raw: bytes) -> str:
        body = json.loads(raw)
        if status != 200:
            message = body.get("error", {}).get("message", "no message")
            raise ModelError(f"The LLM app answered {status}: {message}", code="llm_failed")
        content = body["choices"][0]["message"]["content"]
        return str(content or "")
