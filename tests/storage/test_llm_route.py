"""The API's ``/llm/v1`` with a stand-in LLM behind its port: the ``openai`` client works with a
Tell Me More API key (whole and streamed answers, the model list), the LLM's refusals pass
through as they are, and the API's body limit holds before anything reaches the LLM. The real
LLM behind a real handle is the serve tier's (tests/serve/test_online.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import httpx2
import openai
import pytest
from httpx import ASGITransport, AsyncClient

from api.app import create_app
from api.llm_gateway import Kind, LlmReply, LlmStream
from tellmemore.settings import Settings
from tests.conftest import bearer, register

MODEL = "smollm2-135m"


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "cmpl-1", "object": "chat.completion", "created": 0, "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
    }  # fmt: skip


def _chunk(content: str | None) -> str:
    delta = {"content": content} if content else {}
    chunk = {
        "id": "cmpl-1", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None if content else "stop"}],
    }  # fmt: skip
    return f"data: {json.dumps(chunk)}\n\n"


class StandInLlm:
    """What the LLM application answers, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def complete(self, kind: Kind, body: dict[str, Any]) -> LlmReply:
        self.calls.append((kind, body))
        if body["model"] != MODEL:
            error = {
                "error": {"code": "model_not_found", "message": "No such model.", "details": {}}
            }
            return LlmReply(404, json.dumps(error).encode())
        return LlmReply(200, json.dumps(_completion("Hello there.")).encode())

    async def stream(self, kind: Kind, body: dict[str, Any]) -> LlmStream | LlmReply:
        self.calls.append((kind, body))

        async def events() -> AsyncIterator[str]:
            for piece in ("Hel", "lo", None):
                yield _chunk(piece)
            yield "data: [DONE]\n\n"

        return LlmStream(events())

    async def models(self) -> LlmReply:
        listed = {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                              "owned_by": "tellmemore"}]}  # fmt: skip
        return LlmReply(200, json.dumps(listed).encode())


class LlmApp(NamedTuple):
    http: AsyncClient
    key: str  # with the llm scope
    llm: StandInLlm
    openai_http: httpx2.AsyncClient  # the openai package's own httpx, on the same app


@pytest.fixture
async def llm_app(settings: Settings, clean_db: None) -> AsyncIterator[LlmApp]:
    """The API with the stand-in behind /llm/v1, and an API key with the llm scope."""
    llm = StandInLlm()
    app = create_app(settings, llm_gateway=llm)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://api.test") as http,
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as openai_http,
    ):
        tokens = (await register(http))["tokens"]
        made = await http.post(
            "/me/api-keys", json={"name": "llm", "scopes": ["llm"]}, headers=bearer(tokens)
        )
        assert made.status_code == 201, made.text
        yield LlmApp(http, made.json()["key"], llm, openai_http)


async def test_the_openai_client_works_with_an_api_key(llm_app: LlmApp) -> None:
    _, key, llm, openai_http = llm_app
    client = openai.AsyncOpenAI(
        base_url="http://api.test/llm/v1", api_key=key, http_client=openai_http
    )
    messages: Any = [{"role": "user", "content": "Say hello."}]
    answer = await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8)
    assert answer.choices[0].message.content == "Hello there."

    pieces = [
        chunk.choices[0].delta.content or ""
        async for chunk in await client.chat.completions.create(
            model=MODEL, messages=messages, stream=True
        )
    ]
    assert "".join(pieces) == "Hello"
    assert [m.id async for m in client.models.list()] == [MODEL]

    with pytest.raises(openai.NotFoundError) as refused:
        await client.chat.completions.create(model="gpt-4", messages=messages)
    assert "No such model." in str(refused.value)
    # The request goes on as the client sent it (what the API reads is checked, not dropped).
    assert llm.calls[0] == ("chat", {"model": MODEL, "messages": messages, "max_tokens": 8})
    assert llm.calls[1][1]["stream"] is True


async def test_a_streamed_answer_is_server_sent_events(llm_app: LlmApp) -> None:
    http, key, _, _ = llm_app
    body = {"model": MODEL, "prompt": "Once upon", "stream": True}
    async with http.stream(
        "POST", "/llm/v1/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join([part async for part in response.aiter_text()])
    assert text.startswith("data: {") and text.endswith("data: [DONE]\n\n")


async def test_bad_and_oversized_requests_never_reach_the_llm(llm_app: LlmApp) -> None:
    http, key, llm, _ = llm_app
    headers = {"Authorization": f"Bearer {key}"}
    huge = {"model": MODEL, "messages": [{"role": "user", "content": "x" * (80 * 1024)}]}
    too_large = await http.post("/llm/v1/chat/completions", json=huge, headers=headers)
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "body_too_large"
    no_messages = await http.post("/llm/v1/chat/completions", json={"model": MODEL},
                                  headers=headers)  # fmt: skip
    assert no_messages.status_code == 422
    assert no_messages.json()["error"]["code"] == "validation_error"
    assert llm.calls == []
