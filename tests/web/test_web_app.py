"""The listener's side in Chromium: sign up, search and play the marked passage, a "tell me
more" playlist that plays item 2 after item 1's end, the transcript following the audio and a
tap seeking, an OPML import, deleting the account; /docs with nothing from another host; and
every page at a phone's width."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, ViewportSize, expect

from tests.web.conftest import (
    PASSWORD,
    Demo,
    accessible,
    api_token,
    audio_time,
    shot,
    sign_up,
    until,
    wait_playing,
)

pytestmark = [pytest.mark.slow]


def _transcript(demo: Demo, episode_id: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{demo.url}/episodes/{episode_id}/transcript", timeout=30).json()
    segments: list[dict[str, Any]] = body["segments"]
    return segments


def _phrase(demo: Demo) -> str:
    """Five words from the middle of the longest sentence the demo's first episode has."""
    longest = max(_transcript(demo, demo.episodes[0]["id"]), key=lambda s: len(s["text"]))
    words = re.findall(r"[A-Za-z']+", longest["text"])
    middle = len(words) // 2
    return " ".join(words[max(0, middle - 2) : middle + 3])


def test_sign_up(page: Page) -> None:
    page.goto("/signup")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    accessible(page)
    shot(page, "01-sign-up-form")
    sign_up(page)
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")
    ).to_have_count(0)
    accessible(page)
    shot(page, "02-signed-in-ask")


def test_search_shows_the_marked_passage_and_plays_inside_it(page: Page, demo: Demo) -> None:
    sign_up(page)
    phrase = _phrase(demo)
    page.goto("/search")
    accessible(page)
    page.get_by_role("searchbox", name="Search").fill(phrase)
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.get_by_role("list", name="Results")
    first = results.get_by_role("listitem").first
    expect(first.locator("mark").first).to_be_visible(timeout=30_000)
    marked = " ".join(first.locator("mark").all_inner_texts()).lower()
    assert any(word.lower() in marked for word in phrase.split()), (phrase, marked)
    accessible(page)
    shot(page, "03-search-marked-passage")
    hit = httpx.get(f"{demo.url}/search", params={"q": phrase}, timeout=60).json()["results"][0]
    page.get_by_role("button", name="Play passage 1").click()
    wait_playing(page, after_s=hit["start_s"])
    now = audio_time(page)
    print(f"passage {hit['start_s']:.2f}-{hit['end_s']:.2f} s, audio at {now:.2f} s")
    assert hit["start_s"] <= now <= hit["end_s"], (hit["start_s"], now, hit["end_s"])
    shot(page, "04-search-passage-playing")


def test_a_tell_me_more_playlist_plays_item_2_after_item_1_ends(page: Page, demo: Demo) -> None:
    """The demo catalog's three one-minute episodes are a passage each, on topics far apart,
    so a topic brings one passage; a second range (another episode's) is appended over the
    API, as a listener adds a search hit, before the saved playlist is played."""
    email = sign_up(page)
    page.goto("/")
    accessible(page)
    page.get_by_role("textbox", name="Topic").fill("CRISPR gene editing")
    minutes = page.get_by_role("spinbutton", name="Minutes")
    minutes.fill("10")
    page.get_by_role("button", name="Tell me more").click()
    items = page.get_by_role("list", name="Playlist").get_by_role("listitem")
    expect(items.first).to_be_visible(timeout=60_000)
    link = page.get_by_role("link", name="Open saved playlist")
    expect(link).to_be_visible(timeout=30_000)
    accessible(page)
    shot(page, "05-tell-me-more-playlist")
    playlist_id = (link.get_attribute("href") or "").rstrip("/").split("/")[-1]
    url, headers = f"{demo.url}/playlists/{playlist_id}", api_token(demo, email)
    saved = httpx.get(url, headers=headers, timeout=30).json()
    if len(saved["items"]) < 2:
        playing = saved["items"][0]["episode_id"]
        other = next(e for e in demo.episodes if e["id"] != playing and e["status"] == "done")
        second_range = {"episode_id": other["id"], "start_s": 5.0, "end_s": 45.0}
        added = httpx.post(f"{url}/items", headers=headers, json=second_range, timeout=30)
        assert added.status_code == 201, added.text
        saved = httpx.get(url, headers=headers, timeout=30).json()
    first, second = saved["items"][0], saved["items"][1]

    link.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    accessible(page)
    shot(page, "06-saved-playlist")
    page.get_by_role("button", name="Play playlist").click()
    wait_playing(page, after_s=first["start_s"])
    # Most of item 1 is skipped to save time; its last two seconds play for real.
    page.evaluate(f"document.querySelector('audio').currentTime = {first['end_s'] - 2}")
    until(
        page,
        f"""(() => {{ const a = document.querySelector('audio');
            return !!a && !a.paused && a.currentTime >= {second["start_s"]}
                   && a.currentTime <= {second["end_s"]}
                   && Math.abs(a.currentTime - {first["end_s"]}) > 0.75; }})()""",
    )
    now = audio_time(page)
    print(f"item 1 {first['start_s']:.1f}-{first['end_s']:.1f} s, item 2 "
          f"{second['start_s']:.1f}-{second['end_s']:.1f} s: audio at {now:.2f} s")  # fmt: skip
    accessible(page)
    shot(page, "07-playing-item-2")

    # The place survives a reload: the queue comes back on item 2, and Play resumes inside it.
    page.get_by_role("button", name="Pause").click()
    paused_at = audio_time(page)
    page.goto("/listen")
    page.get_by_text("Queue (2)").click()  # the queue folds away while an item is loaded
    current = page.get_by_role("list", name="Queue").locator('[aria-current="true"]')
    expect(current).to_contain_text("Play queue item 2")
    page.get_by_role("region", name="Player").get_by_role("button", name="Play").click()
    wait_playing(page, after_s=second["start_s"])
    resumed_at = audio_time(page)
    print(f"paused at {paused_at:.2f} s, reloaded, resumed at {resumed_at:.2f} s")
    assert paused_at - 2.5 <= resumed_at <= second["end_s"]


def test_the_transcript_follows_the_audio_and_a_tap_seeks(page: Page, demo: Demo) -> None:
    episode = demo.episodes[0]
    segments = _transcript(demo, episode["id"])
    page.goto(f"/episodes/{episode['id']}?t=1")
    expect(page.get_by_role("heading", level=1)).to_have_text(episode["title"])
    accessible(page)
    page.get_by_role("button", name="Play from here").click()
    wait_playing(page, after_s=1.5)
    sentences = page.get_by_role("list", name="Transcript sentences").get_by_role("button")
    current = page.get_by_role("list", name="Transcript sentences").locator('[aria-current="true"]')
    expect(current).to_have_count(1, timeout=10_000)
    # The highlighted sentence is the one the audio is in.
    now = audio_time(page)
    playing = current.inner_text().strip()
    spoken = [s for s in segments if s["start_s"] - 0.5 <= now <= s["end_s"] + 0.5]
    assert any(s["text"].strip()[:20] in playing for s in spoken), (now, playing)
    shot(page, "08-transcript-following")
    # A tap on a later sentence seeks there, and it becomes the current one.
    target = segments[-2]
    sentences.filter(has_text=target["text"].strip()[:30]).first.click()
    seeked = f"Math.abs(document.querySelector('audio').currentTime - {target['start_s']}) < 1.5"
    until(page, seeked)
    expect(current).to_contain_text(target["text"].strip()[:30], timeout=10_000)
    accessible(page)
    shot(page, "09-transcript-tap-seeked")


def test_import_an_opml_file(page: Page, demo: Demo, tmp_path: Path) -> None:
    sign_up(page)
    opml = tmp_path / "subscriptions.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>Mine</title></head><body>'
        f'<outline type="rss" text="Curious Minutes" xmlUrl="{demo.url}/demo/feed.xml"/>'
        "</body></opml>"
    )
    page.goto("/manage")
    accessible(page)
    page.get_by_label("OPML file").set_input_files(str(opml))
    page.get_by_role("button", name="Import OPML").click()
    expect(page.get_by_role("status").filter(has_text="Imported:")).to_contain_text(
        re.compile(r"Imported: \d+ new, \d+ already there, 0 failed"), timeout=30_000
    )
    subscriptions = page.get_by_role("list", name="Subscriptions")
    expect(subscriptions.get_by_role("link", name=re.compile("Curious Minutes"))).to_be_visible()
    accessible(page)
    shot(page, "10-opml-imported")


def test_delete_the_account(page: Page, demo: Demo) -> None:
    email = sign_up(page)
    page.goto("/account")
    accessible(page)
    page.get_by_label("Password to confirm").fill(PASSWORD)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete my account").click()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")
    ).to_be_visible(timeout=30_000)
    shot(page, "11-account-deleted")
    login = httpx.post(f"{demo.url}/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401, login.text


def test_the_docs_load_nothing_from_another_host(page: Page, demo: Demo) -> None:
    elsewhere: list[str] = []

    def only_ours(route: Route) -> None:
        if route.request.url.startswith(demo.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_ours)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tell Me More", timeout=30_000)
    shot(page, "12-docs-offline")
    assert not elsewhere, elsewhere


PHONE: ViewportSize = {"width": 390, "height": 844}


def test_every_page_fits_a_phone_screen(page: Page, demo: Demo) -> None:
    """At a phone's width (390 CSS px) no page scrolls sideways, the player's controls stay on
    screen, and the accessibility check still passes."""
    sign_up(page)
    page.set_viewport_size(PHONE)
    episode = demo.episodes[0]
    pages = ["/", f"/search?q={_phrase(demo).replace(' ', '+')}", f"/episodes/{episode['id']}",
             "/playlists", "/manage", "/account", "/listen"]  # fmt: skip
    for path in pages:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_attached()
        page.wait_for_load_state("networkidle")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"{path} is {wide} px wide at {PHONE['width']} px"
        play = page.get_by_role("region", name="Player").get_by_role("button", name="Play")
        box = play.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        accessible(page)
    page.goto(f"/episodes/{episode['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(episode["title"])
    shot(page, "13-phone-episode")
