"""A stand-in for Apple's iTunes Search API: a real HTTP server answering ``/search`` and
``/lookup`` in Apple's response format (``resultCount`` + ``results`` with collectionId,
collectionName, artistName, feedUrl — absent for Apple-only shows —, artworkUrl600, genres,
trackCount ...), from a fixture catalogue. Apple is a third party we cannot run here; the client
under test is the production one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.http_server import LoopbackHTTPServer, Route

FIXTURE = Path(__file__).parent.parent / "fixtures" / "apple" / "podcasts.json"


class FakeApple:
    def __init__(self, server: LoopbackHTTPServer, feeds_base: str) -> None:
        self.server = server
        text = FIXTURE.read_text().replace("{{base}}", feeds_base)
        self.records: list[dict[str, Any]] = json.loads(text)
        self.throttled = False
        server.add("/search", Route(handler=self._search))
        server.add("/lookup", Route(handler=self._lookup))

    def _answer(self, results: list[dict[str, Any]]) -> tuple[int, bytes, dict[str, str]]:
        if self.throttled:
            return 403, b"", {"Content-Type": "text/html"}
        body = json.dumps({"resultCount": len(results), "results": results}).encode()
        # Apple really does label its JSON as JavaScript.
        return 200, body, {"Content-Type": "text/javascript; charset=utf-8"}

    def _search(self, query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]]:
        term = query.get("term", [""])[0].lower()
        limit = int(query.get("limit", ["50"])[0])
        words = term.split()
        hits = [
            r
            for r in self.records
            if all(w in (r["collectionName"] + " " + r["artistName"]).lower() for w in words)
        ]
        return self._answer(hits[:limit])

    def _lookup(self, query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]]:
        ids = {int(i) for i in query.get("id", [""])[0].split(",") if i.isdigit()}
        return self._answer([r for r in self.records if r["collectionId"] in ids])

    def calls(self) -> int:
        return len(self.server.hits("/search")) + len(self.server.hits("/lookup"))
