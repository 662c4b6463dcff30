"""The web app in a real browser: Debian's Chromium (/usr/bin/chromium) driven headless by
Playwright, against the shared local Serve stack (tests/support/stack.py) serving the built app
(web/dist) on its own origin, with the demo podcast processed. Nothing downloads a browser.

Every test saves screenshots under ``.local/screenshots/`` (the paths are printed) and runs
axe-core (``axe.min.js``, vendored from the npm package ``axe-core``) on every page it visits:
no serious or critical violation is allowed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tellmemore.errors import CatalogError
from tellmemore.ops import render_demo_feed
from tellmemore.wiring import open_services
from tests.support.stack import ROOT, Online

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "axe.min.js"
SCREENSHOTS = ROOT / ".local" / "screenshots"
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Demo:
    url: str
    podcast_id: str
    episodes: list[dict[str, Any]]  # the processed demo episodes, as the API lists them


async def _load_demo(online: Online) -> str:
    base = online.url + "/"
    async with open_services(online.settings, wait_for_db=True) as services:
        try:
            added = await services.catalog.add_document(
                base + "demo/feed.xml", render_demo_feed(base)
            )
            podcast_id = added.podcast_id
        except CatalogError as exc:
            if exc.code != "podcast_exists":
                raise
            podcast_id = UUID(exc.details["podcast_id"])
        await services.jobs.enqueue_newest(podcast_id, 1000)
    return str(podcast_id)


@pytest.fixture(scope="session")
def demo(online: Online) -> Demo:
    """The demo podcast loaded into the stack and every episode processed (what `make run`
    does), with the built web app on the same origin."""
    assert (ROOT / "web" / "dist" / "index.html").is_file(), (
        "web/dist is not built: scripts/dev.sh setup runs npm ci and npm run build in web/"
    )
    podcast_id = asyncio.run(_load_demo(online))
    deadline = time.monotonic() + 900
    while True:
        listed = httpx.get(f"{online.url}/podcasts/{podcast_id}/episodes", timeout=30).json()
        episodes: list[dict[str, Any]] = listed["items"]
        states = {e["status"] for e in episodes}
        if episodes and states <= {"done", "failed"}:
            break
        assert time.monotonic() < deadline, f"demo episodes not processed: {episodes}"
        time.sleep(2)
    done = [e for e in episodes if e["status"] == "done"]
    for failed in (e for e in episodes if e["status"] != "done"):
        # The serve tier tests processing; here it is only the stage. Say what went wrong.
        print(f"demo episode {failed['title']!r} not processed: {failed}")
    assert len(done) >= 2, f"the browser tests need two processed demo episodes: {episodes}"
    return Demo(online.url, podcast_id, done)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # Root has no user namespaces for Chromium's sandbox here; the page is our own app.
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(demo: Demo, browser: Browser) -> Iterator[Page]:
    """A fresh browser profile on the app, with axe-core in every document (an init script,
    which the page's CSP does not apply to) and console errors collected. ``demo`` comes
    first: Playwright's sync API holds an event loop on this thread, after which the session
    fixtures' ``asyncio.run`` could not start."""
    context = browser.new_context(base_url=demo.url, viewport={"width": 1280, "height": 900})
    context.add_init_script(path=str(AXE))
    tab = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    yield tab
    context.close()
    # The app's own code must not break the page or its CSP (4xx answers the test provoked
    # show up as failed loads, which are not what this is about).
    broken = [e for e in errors if "Content Security Policy" in e or e.startswith("page error")]
    assert not broken, broken


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def accessible(page: Page) -> None:
    """axe-core on the page as it is now: no serious or critical violations."""
    page.wait_for_load_state("load")
    page.get_by_role("heading", level=1).first.wait_for()
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: {bad}"


def audio_time(page: Page) -> float:
    return float(page.evaluate("document.querySelector('audio').currentTime"))


def until(page: Page, expression: str, timeout_s: float = 30.0) -> None:
    """Wait for a JavaScript expression to be true. Playwright's ``wait_for_function`` evals
    its predicate inside the page, which the app's CSP (no 'unsafe-eval') rightly refuses;
    ``evaluate`` goes through the DevTools protocol instead."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true after {timeout_s:.0f} s: {expression}"
        page.wait_for_timeout(200)


def wait_playing(page: Page, after_s: float = 0.0) -> None:
    until(
        page,
        "(() => { const a = document.querySelector('audio');"
        f" return !!a && !a.paused && a.readyState >= 2 && a.currentTime > {after_s}; }})()",
    )


def sign_up(page: Page) -> str:
    email = f"web-{uuid.uuid4().hex[:10]}@example.com"
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").wait_for()
    return email


def api_token(demo: Demo, email: str) -> dict[str, str]:
    """The same account over the API (a second session), to read what the page shows."""
    response = httpx.post(
        f"{demo.url}/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
