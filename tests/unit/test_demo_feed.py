"""The committed demo podcast agrees with itself: the feed's enclosure lengths, types and
durations match the audio files, and episode 3's transcript is its script, within the audio.

A rerun of ``scripts/make_demo_audio.py`` that is not committed in full fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.audio import probe
from models.evaluation import normalize_words
from models.transcripts import parse_transcript
from tellmemore.catalog import parse_duration, parse_feed
from tellmemore.ops import DEMO_SCRIPTS, render_demo_feed

DEMO = Path(__file__).resolve().parents[2] / "tellmemore" / "ops" / "demo"
BASE = "http://demo.test/"
FEED = parse_feed(render_demo_feed(BASE), url=BASE + "demo/feed.xml")
EPISODES = {e.guid or "": e for e in FEED.episodes}


def test_every_script_is_an_episode_and_every_episode_a_script() -> None:
    assert sorted(EPISODES) == sorted(s.guid for s in DEMO_SCRIPTS)
    assert {s.guid: s.title for s in DEMO_SCRIPTS} == {g: e.title for g, e in EPISODES.items()}
    assert sorted(p.name for p in (DEMO / "audio").iterdir()) == sorted(
        f"{s.guid}.mp3" for s in DEMO_SCRIPTS
    )


@pytest.mark.parametrize("guid", sorted(s.guid for s in DEMO_SCRIPTS))
def test_enclosure_length_type_and_duration_match_the_file(guid: str) -> None:
    episode = EPISODES[guid]
    assert episode.enclosure_url == f"{BASE}demo/audio/{guid}.mp3"
    path = DEMO / "audio" / f"{guid}.mp3"
    assert episode.enclosure_length == path.stat().st_size
    assert episode.enclosure_type == "audio/mpeg"
    info = probe(path)
    assert info.codec.startswith("mp3") and info.sample_rate == 16_000 and info.channels == 1
    assert 45 <= info.duration_s <= 75
    assert episode.duration_s is not None and abs(episode.duration_s - info.duration_s) <= 1.0


def test_the_feed_keeps_three_duration_notations() -> None:
    """The parser's varied inputs: ``MM:SS``, plain seconds and ``H:MM:SS``."""
    raw = {g: e.duration_raw or "" for g, e in EPISODES.items()}
    assert raw["tmm-demo-0003"].count(":") == 1
    assert raw["tmm-demo-0002"].isdigit()
    assert raw["tmm-demo-0001"].count(":") == 2
    assert all(parse_duration(r) == EPISODES[g].duration_s for g, r in raw.items())


def test_episode_3_transcript_is_its_script_within_the_audio() -> None:
    (link,) = EPISODES["tmm-demo-0003"].transcripts
    assert link.url == f"{BASE}demo/transcripts/tmm-demo-0003.vtt"
    path = DEMO / "transcripts" / "tmm-demo-0003.vtt"
    transcript = parse_transcript(path.read_bytes(), "text/vtt", url=link.url)
    script = next(s for s in DEMO_SCRIPTS if s.guid == "tmm-demo-0003")
    assert normalize_words(" ".join(s.text for s in transcript.segments)) == normalize_words(
        script.text
    )
    starts = [s.start_s for s in transcript.segments]
    assert starts == sorted(starts) and all(s.start_s < s.end_s for s in transcript.segments)
    duration = probe(DEMO / "audio" / "tmm-demo-0003.mp3").duration_s
    assert transcript.segments[-1].end_s <= duration
    assert transcript.segments[-1].end_s > 0.8 * duration  # spread over the episode
