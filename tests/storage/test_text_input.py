"""Control characters in any text a client sends: 422 ``invalid_text`` naming the field, on
every route, never a 500. The routes come from the OpenAPI document, so a route added later is
walked too."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from httpx import AsyncClient

from tellmemore.settings import Settings
from tests.conftest import bearer, register, serve

BAD = "tapering\x00before"
OTHER_BAD = ("bell\x07", "escape \x1b[31m", "del \x7f", "c1 \x85")


_NOT_TEXT = ("uuid", "date-time", "binary", "date")


def _is_text(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "string" and schema.get("format") not in _NOT_TEXT:
        return True
    return any(_is_text(option) for option in schema.get("anyOf", []))


def _path(template: str, parameters: list[dict[str, Any]], bad: str | None = None) -> str:
    path = template
    for parameter in parameters:
        if parameter["in"] != "path":
            continue
        schema = parameter.get("schema", {})
        value = str(uuid.uuid4()) if schema.get("format") == "uuid" else "1"
        if bad is not None and parameter["name"] == bad:
            value = quote(BAD, safe="")
        path = path.replace("{" + parameter["name"] + "}", value)
    return path


def _properties(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    properties: dict[str, Any] = schema.get("properties", {})
    return properties


async def _refused(http: AsyncClient, method: str, path: str, field: str, **kw: Any) -> None:
    answer = await http.request(method, path, **kw)
    assert answer.status_code == 422, (method, path, field, answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] == "invalid_text", (method, path, error)
    assert error["details"]["field"] == field, (method, path, error)
    assert field in error["message"]


async def test_every_route_refuses_control_characters(settings: Settings, clean_db: None) -> None:
    async with serve(settings) as http:
        http.headers.update(bearer((await register(http))["tokens"]))
        spec = (await http.get("/openapi.json")).json()
        walked: list[str] = []
        for template, operations in spec["paths"].items():
            for method, operation in operations.items():
                parameters = operation.get("parameters", [])
                for parameter in parameters:
                    if not _is_text(parameter.get("schema", {})):
                        continue
                    name = parameter["name"]
                    if parameter["in"] == "query":
                        await _refused(http, method, _path(template, parameters), f"query.{name}",
                                       params={name: BAD})  # fmt: skip
                        walked.append(f"{method} {template} ?{name}")
                    elif parameter["in"] == "path":
                        await _refused(http, method, _path(template, parameters, bad=name), "path")
                        walked.append(f"{method} {template} /{name}")
                for name, schema in _properties(spec, operation).items():
                    if _is_text(schema):
                        await _refused(http, method, _path(template, parameters), f"body.{name}",
                                       json={name: BAD})  # fmt: skip
                        walked.append(f"{method} {template} {name}")
        print(f"\n{len(walked)} text inputs refused control characters")
        # The walk reached the inputs of the reports that started this: not a vacuous pass.
        for expected in (
            "get /podcasts ?q",
            "post /playlists title",
            "patch /me display_name",
            "post /auth/register display_name",
            "post /tell-me-more topic",
            "post /podcasts feed_url",
            "post /playlists/{playlist_id}/items note",
        ):
            assert expected in walked, (expected, walked)


async def test_other_controls_nested_fields_and_allowed_whitespace(
    settings: Settings, clean_db: None
) -> None:
    async with serve(settings) as http:
        http.headers.update(bearer((await register(http))["tokens"]))
        for bad in OTHER_BAD:
            await _refused(http, "POST", "/playlists", "body.title", json={"title": bad})
        # A lone surrogate only JSON's escapes can carry (it is not UTF-8).
        await _refused(http, "POST", "/playlists", "body.title",
                       content=b'{"title": "lone \\ud800"}',
                       headers={"Content-Type": "application/json"})  # fmt: skip
        # Keys count too, and nested values are named by their path.
        await _refused(http, "POST", "/playlists", "body.ti\x00tle", json={"ti\x00tle": "x"})
        await _refused(http, "PUT", f"/playlists/{uuid.uuid4()}/items", "body.items[0].note",
                       json={"items": [{"note": BAD}]})  # fmt: skip
        # Tabs and line breaks are text.
        made = await http.post("/playlists", json={"title": "Runs", "description": "a\tb\r\nc"})
        assert made.status_code == 201, made.text
        assert made.json()["description"] == "a\tb\r\nc"
        # Malformed UTF-8 in a query string is refused the same way, not decoded into junk.
        answer = await http.get("/podcasts?q=%ff%fe")
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_text"
