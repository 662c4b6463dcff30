"""What the API's LLM route needs from the LLM: a small port, filled by whoever builds the app.

Under Serve the LLM is its own application without a public route, reached by a deployment
handle (``serve_apps.llm_client.AppLlm``); the API never imports Ray. Without one (plain
uvicorn, most tests) the route answers ``503 llm_unavailable``. Bodies cross as plain JSON-ready
dicts and answers as bytes in OpenAI's own shape, so the API needs none of the LLM's types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Kind = Literal["chat", "completions"]


@dataclass(frozen=True)
class LlmReply:
    """A whole answer: the status and the JSON body to send as they are."""

    status: int
    body: bytes


@dataclass(frozen=True)
class LlmStream:
    """A streamed answer (status 200): the server-sent events, ``data: {...}`` chunks and a
    last ``data: [DONE]``."""

    events: AsyncIterator[str]


class LlmGateway(Protocol):
    async def complete(self, kind: Kind, body: dict[str, Any]) -> LlmReply:
        """One chat or text completion, not streamed."""
        ...

    async def stream(self, kind: Kind, body: dict[str, Any]) -> LlmStream | LlmReply:
        """One completion as server-sent events; a refusal (known before the first event) as
        a whole answer."""
        ...

    async def models(self) -> LlmReply:
        """The OpenAI model list."""
        ...
