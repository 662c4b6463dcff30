"""The web app on the API's origin (api/web_app.py) and the offline /docs (api/docs.py): pages
for browsers, files with the right caching, the API untouched for everyone else."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from httpx import AsyncClient

from tellmemore.settings import Settings
from tests.conftest import serve

INDEX = b'<!doctype html><html lang="en"><script type="module" src="/assets/app-1a2b3c.js">'
NAVIGATE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Mode": "navigate"}
FETCH = {"Accept": "application/json", "Sec-Fetch-Mode": "cors"}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A build as Vite lays it out, plus what must never be served."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "app-1a2b3c.js").write_text("console.log('app')")
    (root / "favicon.svg").write_text("<svg/>")
    (root / ".vite").mkdir()
    (root / ".vite" / "manifest.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("outside the build")
    return root


@pytest.fixture
async def site(settings: Settings, clean_db: None, dist: Path) -> AsyncIterator[AsyncClient]:
    api = settings.api.model_copy(update={"web_dir": dist})
    async with serve(settings.model_copy(update={"api": api})) as http:
        yield http


def _is_index(response: object) -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == 200, response.text
    assert response.content == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def _json_error(response: object, status: int, code: str) -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code


async def test_the_root_and_app_pages_are_the_index(site: AsyncClient) -> None:
    _is_index(await site.get("/"))
    _is_index(await site.get("/", headers={"Accept": "*/*"}))  # curl sees the app too
    _is_index(await site.get("/listen?t=12", headers=NAVIGATE))
    _is_index(await site.get("/signup", headers={"Accept": "text/html"}))
    head = await site.head("/manage", headers=NAVIGATE)
    assert head.status_code == 200 and head.content == b""


async def test_pages_that_share_an_api_path_are_the_app_for_browsers_only(
    site: AsyncClient,
) -> None:
    some_id = "6d5f0e1c-2d6b-4a53-9a43-2e0c3a1b2c3d"
    for path in (f"/playlists/{some_id}", "/search?q=batteries", f"/episodes/{some_id}",
                 "/shared/playlists/abc"):  # fmt: skip
        _is_index(await site.get(path, headers=NAVIGATE))
    # The app's own fetch calls, and every API client, reach the API.
    _json_error(await site.get("/me", headers=FETCH), 401, "not_authenticated")
    listed = await site.get("/podcasts", headers=FETCH)
    assert listed.headers["content-type"] == "application/json"
    _json_error(await site.get("/playlists/nope/more", headers=FETCH), 404, "not_found")
    _json_error(await site.get("/auth/login"), 405, "method_not_allowed")


async def test_unknown_paths_stay_json_404_for_api_clients(site: AsyncClient) -> None:
    _json_error(await site.get("/no-such-route"), 404, "not_found")
    _json_error(await site.get("/no-such-route", headers=FETCH), 404, "not_found")
    _json_error(await site.post("/", json={}), 404, "not_found")
    # A browser gets the app, whose router says "page not found" in words.
    _is_index(await site.get("/no-such-route", headers=NAVIGATE))


async def test_documents_stay_the_apis_even_in_a_browser(site: AsyncClient) -> None:
    spec = await site.get("/openapi.json", headers=NAVIGATE)
    assert spec.headers["content-type"] == "application/json"
    assert (await site.get("/health", headers=NAVIGATE)).json()["status"] == "ok"
    docs = await site.get("/docs", headers=NAVIGATE)
    assert b"swagger-ui" in docs.content
    export = await site.get("/shared/playlists/abc/export", headers=NAVIGATE)
    assert export.headers["content-type"] == "application/json"  # the API's 404
    assert export.status_code == 404


async def test_hashed_assets_are_cached_for_a_year_the_rest_revalidated(
    site: AsyncClient,
) -> None:
    script = await site.get("/assets/app-1a2b3c.js")
    assert script.status_code == 200
    assert script.text == "console.log('app')"
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "etag" in script.headers
    again = await site.get(
        "/assets/app-1a2b3c.js", headers={"If-None-Match": script.headers["etag"]}
    )
    assert again.status_code == 304
    index = await site.get("/", headers=NAVIGATE)
    revalidated = await site.get("/", headers={**NAVIGATE, "If-None-Match": index.headers["etag"]})
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert (
        revalidated.headers["content-security-policy"] == index.headers["content-security-policy"]
    )
    icon = await site.get("/favicon.svg")
    assert icon.status_code == 200 and icon.headers["cache-control"] == "no-cache"
    _json_error(await site.get("/assets/gone-000000.js"), 404, "not_found")


@pytest.mark.parametrize(
    "path",
    ["/.vite/manifest.json", "/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt",
     "/assets/..%2f..%2fsecret.txt", "/assets/%00.js", "/assets\\..\\..\\secret.txt"],
)  # fmt: skip
async def test_nothing_outside_the_build_is_served(site: AsyncClient, path: str) -> None:
    response = await site.get(path)
    assert b"outside the build" not in response.content
    assert 400 <= response.status_code < 500, response.text


async def test_without_a_build_the_api_stands_alone(settings: Settings, clean_db: None) -> None:
    api = settings.api.model_copy(update={"web_dir": None})
    async with serve(settings.model_copy(update={"api": api})) as http:
        _json_error(await http.get("/", headers=NAVIGATE), 404, "not_found")
        _json_error(await http.get("/listen", headers=NAVIGATE), 404, "not_found")
        assert (await http.get("/health")).status_code == 200


_URL = re.compile(rb"""(?:src|href|url)\s*[=:(]\s*['"]?([^'")\s>]+)""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_load_nothing_from_another_host(anon: AsyncClient, page: str) -> None:
    response = await anon.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert b"cdn." not in response.content and b"fonts.googleapis" not in response.content
    urls = [u.decode() for u in _URL.findall(response.content)]
    assert urls, response.text
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url}"
        if url.startswith("/docs/assets/"):
            asset = await anon.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000
            assert asset.headers["content-type"].split(";")[0] in (
                "text/javascript", "text/css", "image/png"
            )  # fmt: skip
    assert "/openapi.json" in response.text


async def test_docs_assets_are_only_the_packaged_files(anon: AsyncClient) -> None:
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"):
        assert (await anon.get(f"/docs/assets/{name}")).status_code == 200, name
    for name in ("core.py", "..%2Fcore.py", "__init__.py", "nope.js"):
        _json_error(await anon.get(f"/docs/assets/{name}"), 404, "not_found")
