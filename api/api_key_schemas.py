"""Request and response bodies for API keys and the LLM route."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import In, Out

Scope = Literal["read", "write", "llm"]


class ApiKeyIn(In):
    name: str = Field(min_length=1, max_length=100, description="What the key is for.")
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=3,
        description="`read` (GET routes), `write` (routes that change something), `llm` "
        "(the LLM route).",
    )
    expires_at: datetime | None = Field(
        default=None, description="When the key stops working (none: until revoked)."
    )


class ApiKeyOut(Out):
    id: UUID
    name: str
    prefix: str = Field(description="The key's public start, to tell keys apart.")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(
        description="The key itself: send it as `Authorization: Bearer <key>`. Shown only "
        "now; it is stored only as a digest."
    )


class _OpenAiIn(BaseModel):
    """An OpenAI request body: the fields the API reads are checked here; the rest goes to the
    LLM, which validates the whole request against its own schema."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    stream: bool = False


class ChatIn(_OpenAiIn):
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class CompletionIn(_OpenAiIn):
    prompt: str | list[str] | list[int] | list[list[int]]
