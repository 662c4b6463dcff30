"""The LLM application's ingress: ``ray.serve.llm``'s OpenAI router, reached only by handle.

The LLM app has no HTTP route (``route_prefix: null``), so the Serve proxy never exposes it:
the API's ``/llm/v1`` (API keys with the ``llm`` scope, rate limits, body limits) and the
processor's summarizer call it through a deployment handle. The router's own HTTP methods
(``chat``, ``completions``) take a Starlette request and answer a Starlette response, which do
not cross a handle; the methods added here take a plain JSON-ready dict, validate it into
``ray.serve.llm``'s request types inside this replica (so callers never import vLLM) and
answer plain data: ``(status, body)``, or for a stream the status and then the server-sent
events, one string each, as the router would have sent them over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from ray.serve.llm.ingress import OpenAiIngress
from ray.serve.llm.openai_api_models import ChatCompletionRequest, CompletionRequest
from starlette.responses import Response, StreamingResponse

_REQUESTS: dict[str, type[ChatCompletionRequest] | type[CompletionRequest]] = {
    "chat": ChatCompletionRequest,
    "completions": CompletionRequest,
}
_CODES = {400: "llm_invalid_request", 404: "model_not_found", 408: "llm_timeout"}


def error_body(status: int, message: str) -> bytes:
    """The API's error shape (``message`` is where OpenAI clients look)."""
    code = _CODES.get(status, "llm_failed")
    return json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()


def _failure(exc: Exception) -> tuple[int, bytes]:
    """The router raises OpenAIHTTPException (``status_code``, ``message``) or FastAPI's
    HTTPException (``status_code``, ``detail``); both become an answer, not a crash."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first.get("loc", ())) or "request"
        return 400, error_body(400, f"{where}: {first.get('msg', 'invalid')}")
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        raise exc
    message = getattr(exc, "message", None) or getattr(exc, "detail", None) or str(exc)
    return status, error_body(status, str(message))


class LlmIngress(OpenAiIngress):
    """``OpenAiIngress`` plus handle-friendly entry points (``ingress_cls`` of the LLM app)."""

    async def _respond(self, kind: str, body: dict[str, Any], *, stream: bool) -> Response:
        request = _REQUESTS[kind].model_validate({**body, "stream": stream})
        # The router's own path: model lookup, time limit, error chunks, SSE formatting.
        response: Response = await self._process_llm_request(
            request, call_method=kind, raw_request=None
        )
        return response

    async def relay(self, kind: str, body: dict[str, Any]) -> tuple[int, bytes]:
        """A whole chat or text completion: ``(status, JSON body)``."""
        try:
            response = await self._respond(kind, body, stream=False)
        except Exception as exc:  # _failure re-raises what is not an answer
            return _failure(exc)
        return response.status_code, bytes(response.body)

    async def relay_stream(self, kind: str, body: dict[str, Any]) -> AsyncIterator[int | str]:
        """A streamed completion: its status first; then the events (status 200) or the
        error body (any other)."""
        try:
            response = await self._respond(kind, body, stream=True)
        except Exception as exc:
            status, error = _failure(exc)
            yield status
            yield error.decode()
            return
        yield response.status_code
        if isinstance(response, StreamingResponse):
            async for event in response.body_iterator:
                yield event if isinstance(event, str) else bytes(event).decode()
        else:
            yield bytes(response.body).decode()

    async def model_list(self) -> tuple[int, bytes]:
        """The OpenAI model list."""
        return 200, json.dumps((await self.models()).model_dump()).encode()
