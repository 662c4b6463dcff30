"""The LLM, OpenAI-compatible, for researchers: ``/llm/v1/chat/completions``,
``/llm/v1/completions`` and ``/llm/v1/models``.

The LLM's own Serve application has no public route; this is the only way in from outside, so
it gets what every API route gets (the body limit, the caller's rate limit, the access log) and
needs an API key with the ``llm`` scope: ``OpenAI(base_url="http://HOST:8000/llm/v1",
api_key="tmm_...")``. ``"stream": true`` is answered with server-sent events.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from api.api_key_schemas import ChatIn, CompletionIn
from api.deps import LlmCaller
from api.llm_gateway import Kind, LlmGateway, LlmStream
from api.schemas import ERROR_RESPONSES
from tellmemore.errors import CatalogError, ErrorKind

router = APIRouter(prefix="/llm/v1", tags=["llm"], responses=ERROR_RESPONSES)


async def get_gateway(request: Request) -> LlmGateway:
    gateway: LlmGateway | None = getattr(request.app.state, "llm", None)
    if gateway is None:
        raise CatalogError(
            "llm_unavailable", "The LLM is not deployed with this server.", ErrorKind.UNAVAILABLE
        )
    return gateway


GatewayDep = Annotated[LlmGateway, Depends(get_gateway)]


async def _answer(gateway: LlmGateway, kind: Kind, body: ChatIn | CompletionIn) -> Response:
    payload = body.model_dump(exclude_unset=True)
    answer = await (gateway.stream if body.stream else gateway.complete)(kind, payload)
    if isinstance(answer, LlmStream):
        return StreamingResponse(answer.events, media_type="text/event-stream")
    return Response(answer.body, status_code=answer.status, media_type="application/json")


@router.post("/chat/completions", summary="A chat completion (OpenAI's API)")
async def chat_completions(body: ChatIn, _: LlmCaller, gateway: GatewayDep) -> Response:
    return await _answer(gateway, "chat", body)


@router.post("/completions", summary="A text completion (OpenAI's API)")
async def completions(body: CompletionIn, _: LlmCaller, gateway: GatewayDep) -> Response:
    return await _answer(gateway, "completions", body)


@router.get("/models", summary="The models served (OpenAI's API)")
async def models(_: LlmCaller, gateway: GatewayDep) -> Response:
    answer = await gateway.models()
    return Response(answer.body, status_code=answer.status, media_type="application/json")
