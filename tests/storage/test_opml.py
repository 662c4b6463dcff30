"""OPML import (1.0 and 2.0, nested, with broken entries) and export."""

from __future__ import annotations

from httpx import AsyncClient

from tellmemore.catalog import parse_opml
from tests.conftest import opml_fixture
from tests.storage.helpers import rows, snapshot
from tests.support.http_server import LoopbackHTTPServer

OPML = {"Content-Type": "text/x-opml"}


async def test_import_nested_opml2_and_opml1(
    client: AsyncClient, feeds: LoopbackHTTPServer, database_url: str
) -> None:
    response = await client.post(
        "/opml/import", content=opml_fixture("nested.opml", feeds), headers=OPML
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["exists"], report["failed"]) == (3, 0, 0)
    response = await client.post("/opml/import", content=opml_fixture("v1.opml", feeds))
    assert response.json()["created"] == 2
    titles = sorted(r["title"] for r in rows(database_url, "SELECT title FROM podcasts"))
    assert titles == [
        "Gene Editing Today", "Growing Show", "Ocean Currents Weekly",
        "Quirky Feed & Friends", "Rock & Roll History",
    ]  # fmt: skip


async def test_broken_entries_are_reported_and_good_ones_import(
    client: AsyncClient, feeds: LoopbackHTTPServer, database_url: str
) -> None:
    response = await client.post("/opml/import", content=opml_fixture("broken.opml", feeds))
    assert response.status_code == 200, response.text
    report = response.json()
    outcome = {i["title"]: (i["status"], (i["error"] or {}).get("code")) for i in report["items"]}
    assert outcome == {
        "Good one": ("created", None),
        "No URL at all": ("failed", "opml_entry_no_url"),
        "FTP feed": ("failed", "url_scheme_not_allowed"),
        "Not a URL": ("failed", "url_scheme_not_allowed"),
        "Gone": ("failed", "feed_not_found"),
        "A web page": ("failed", "not_a_feed"),
        "Good one again": ("failed", "opml_duplicate_entry"),
        "Another good one": ("created", None),
    }
    assert (report["created"], report["failed"]) == (2, 6)
    before = snapshot(database_url)
    # Importing the same file again adds nothing and duplicates nothing.
    again = (await client.post("/opml/import", content=opml_fixture("broken.opml", feeds))).json()
    assert (again["created"], again["exists"]) == (0, 2)
    assert snapshot(database_url) == before


async def test_bad_opml_documents(client: AsyncClient) -> None:
    cases = {
        b"": "opml_empty",
        b"<opml><body><outline": "opml_malformed",
        b"<rss version='2.0'><channel/></rss>": "opml_invalid",
        b"<opml version='2.0'><head/></opml>": "opml_invalid",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<opml><body><outline xmlUrl='&lol2;'/></body></opml>": "opml_forbidden_xml",
    }
    for body, code in cases.items():
        response = await client.post("/opml/import", content=body, headers=OPML)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == code
    wrong_type = await client.post(
        "/opml/import", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert wrong_type.json()["error"]["code"] == "unsupported_media_type"
    too_big = await client.post(
        "/opml/import", content=b"<opml>" + b" " * (3 * 2**20), headers=OPML
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "body_too_large"


async def test_export_round_trips(client: AsyncClient, feeds: LoopbackHTTPServer) -> None:
    await client.post("/opml/import", content=opml_fixture("nested.opml", feeds), headers=OPML)
    response = await client.get("/opml/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/x-opml")
    entries = parse_opml(response.content, max_entries=100)
    assert sorted(e.feed_url or "" for e in entries) == sorted(
        feeds.url(f"/feeds/{n}") for n in ("basic.xml", "atom.xml", "grow_v1.xml")
    )
    assert {e.title for e in entries} == {
        "Gene Editing Today", "Ocean Currents Weekly", "Growing Show",
    }  # fmt: skip
    # Importing our own export finds everything already there.
    again = (await client.post("/opml/import", content=response.content, headers=OPML)).json()
    assert (again["created"], again["exists"], again["failed"]) == (0, 3, 0)
