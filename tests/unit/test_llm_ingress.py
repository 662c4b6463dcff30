"""The LLM app's handle entry points and their two callers, without a cluster: Ray's OpenAI
router (``LlmIngress``) over a stand-in engine deployment, and the summarizer's backend and the
API's gateway over a stand-in handle. The real engine behind real handles is the serve tier's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from ray.llm._internal.serve.core.configs.openai_api_models import ModelCard
from ray.serve.llm.openai_api_models import ChatCompletionResponse, ChatCompletionStreamResponse

from api.llm_gateway import LlmReply, LlmStream
from models.errors import ModelError
from models.settings import LLMSettings
from serve_apps.llm_client import AppLlm, HandleChat
from serve_apps.llm_ingress import LlmIngress

MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "Say hi."}]


class _Method:
    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call

    def remote(self, *args: Any) -> Any:
        return self._call(*args)


class StandInEngine:
    """What ``LLMServer``'s handle yields: one response, or lists of stream chunks."""

    def options(self, **_: Any) -> StandInEngine:
        return self

    @property
    def chat(self) -> _Method:
        async def answer(body: Any, _raw: Any) -> AsyncIterator[Any]:
            if body.stream:
                for piece in ("Hel", "lo"):
                    delta = {"index": 0, "delta": {"content": piece}}
                    yield [ChatCompletionStreamResponse(id="c", created=0, model=body.model,
                                                        choices=[delta])]  # fmt: skip
                return
            content = f"max {body.max_completion_tokens or body.max_tokens}"
            choice = {"index": 0, "finish_reason": "stop",
                      "message": {"role": "assistant", "content": content}}  # fmt: skip
            usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            yield ChatCompletionResponse(id="c", created=0, model=body.model, choices=[choice],
                                         usage=usage)  # fmt: skip

        return _Method(answer)


@pytest.fixture(scope="module")
def ingress() -> LlmIngress:
    card = ModelCard(id="m", object="model", owned_by="tmm", permission=[], metadata={})
    engine: Any = StandInEngine()
    return LlmIngress(llm_deployments={"m": engine}, model_cards={"m": card})


def test_a_whole_answer_and_the_refusals_are_plain_data(ingress: LlmIngress) -> None:
    def relay(body: dict[str, Any]) -> tuple[int, Any]:
        status, raw = asyncio.run(ingress.relay("chat", body))
        return status, json.loads(raw)

    status, body = relay({"model": "m", "messages": MESSAGES, "max_tokens": 7})
    assert status == 200 and body["choices"][0]["message"]["content"] == "max 7"
    status, body = relay({"model": "gpt-4", "messages": MESSAGES})
    assert status == 404 and body["error"]["code"] == "model_not_found"
    status, body = relay({"model": "m", "messages": "not a list"})
    assert status == 400 and body["error"]["message"].startswith("messages:")
    status, raw = asyncio.run(ingress.model_list())
    assert status == 200 and [m["id"] for m in json.loads(raw)["data"]] == ["m"]


def test_a_stream_is_its_status_then_server_sent_events(ingress: LlmIngress) -> None:
    async def collect(body: dict[str, Any]) -> list[int | str]:
        return [item async for item in ingress.relay_stream("chat", body)]

    status, *events = asyncio.run(collect({"model": "m", "messages": MESSAGES}))
    assert status == 200 and events[-1] == "data: [DONE]\n\n"
    pieces = [json.loads(str(e)[6:])["choices"][0]["delta"]["content"] for e in events[:-1]]
    assert pieces == ["Hel", "lo"]
    status, error = asyncio.run(collect({"model": "gpt-4", "messages": MESSAGES}))
    assert status == 404 and "model_not_found" in str(error)


class StandInHandle:
    """The LLM app's handle, answering from a real ``LlmIngress``."""

    def __init__(self, ingress: LlmIngress) -> None:
        self._ingress = ingress
        self.bodies: list[dict[str, Any]] = []
        self.relay = _Method(self._relay)
        self.relay_stream = _Method(ingress.relay_stream)

    def _relay(self, kind: str, body: dict[str, Any]) -> Any:
        self.bodies.append(body)
        return self._ingress.relay(kind, body)

    def options(self, **_: Any) -> StandInHandle:
        return self


async def test_the_summarizer_backend_asks_for_json_and_reads_the_answers(
    ingress: LlmIngress,
) -> None:
    """As in a processor replica: the summarizer's thread waits, the calls run on the loop."""
    loop = asyncio.get_running_loop()
    chat = HandleChat("llm", LLMSettings(served_model_name="m"), loop=loop, concurrency=2)
    handle = StandInHandle(ingress)
    chat._app._handle = handle  # type: ignore[assignment]  # what serve.get_app_handle gives
    assert chat.model.id == "llm:m@serve:llm"
    answers = await asyncio.to_thread(chat.complete, [MESSAGES] * 3, {"type": "object"}, 9, None)
    assert answers == ["max 9"] * 3
    assert handle.bodies[0]["response_format"]["json_schema"]["schema"] == {"type": "object"}
    broken = HandleChat("llm", LLMSettings(served_model_name="gpt-4"), loop=loop)
    broken._app._handle = handle  # type: ignore[assignment]
    with pytest.raises(ModelError, match="answered 404"):
        await asyncio.to_thread(broken.complete, [MESSAGES], {}, 9, 0.0)


def test_the_api_gateway_streams_and_passes_refusals_on(ingress: LlmIngress) -> None:
    gateway = AppLlm("llm")
    gateway._app._handle = StandInHandle(ingress)  # type: ignore[assignment]

    async def stream(model: str) -> list[str] | LlmReply:
        answer = await gateway.stream("chat", {"model": model, "messages": MESSAGES})
        return [e async for e in answer.events] if isinstance(answer, LlmStream) else answer

    events = asyncio.run(stream("m"))
    assert isinstance(events, list) and events[-1] == "data: [DONE]\n\n" and len(events) == 3
    refused = asyncio.run(stream("gpt-4"))
    assert isinstance(refused, LlmReply) and refused.status == 404
