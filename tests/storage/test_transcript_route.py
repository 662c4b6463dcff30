"""``GET /episodes/{id}/transcript`` sends the stored JSON as stored (no parse and re-dump per
request) and carries an ETag of the episode's processing: asking again is a 304 without the
document being read; processing the episode again changes it."""

from __future__ import annotations

import json

import psycopg

from models.captions import transcript_to_dict
from models.types import ModelRef, Transcript, TranscriptSegment
from tellmemore.settings import S3Settings, Settings
from tellmemore.storage import ObjectStore
from tests.conftest import bearer, register, serve
from tests.support.http_server import LoopbackHTTPServer


async def test_the_transcript_is_sent_as_stored_and_revalidated_by_etag(
    settings: Settings,
    s3_settings: S3Settings,
    feeds: LoopbackHTTPServer,
    database_url: str,
    clean_db: None,
) -> None:
    settings = settings.model_copy(update={"s3": s3_settings})
    transcript = Transcript(
        segments=(TranscriptSegment(0.0, 2.5, "Hello and welcome."),),
        language="en",
        duration_s=2.5,
        model=ModelRef(kind="publisher", name="feed", version="1"),
    )
    # Stored with a layout json.dumps would not reproduce, to tell "as stored" from re-dumped.
    stored = json.dumps(transcript_to_dict(transcript), indent=3).encode()
    async with serve(settings) as http:
        http.headers.update(bearer((await register(http))["tokens"]))
        added = await http.post("/podcasts", json={"feed_url": feeds.url("/feeds/basic.xml")})
        podcast_id = added.json()["podcast"]["id"]
        episode_id = (await http.get(f"/podcasts/{podcast_id}/episodes")).json()["items"][0]["id"]
        key = f"transcripts/{episode_id}.json"
        ObjectStore(s3_settings).put_bytes(key, stored, "application/json")
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE episodes SET status = 'done', transcript_key = %s, "
                         "processed_at = now() WHERE id = %s", (key, episode_id))  # fmt: skip

        first = await http.get(f"/episodes/{episode_id}/transcript")
        assert first.status_code == 200 and first.content == stored
        etag = first.headers["ETag"]
        again = await http.get(f"/episodes/{episode_id}/transcript",
                               headers={"If-None-Match": etag})  # fmt: skip
        assert again.status_code == 304 and again.content == b""
        vtt = await http.get(f"/episodes/{episode_id}/transcript", params={"format": "vtt"})
        assert vtt.status_code == 200 and "Hello and welcome." in vtt.text
        assert vtt.headers["ETag"] != etag

        # Processed again: the old ETag no longer matches.
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE episodes SET processed_at = now() + interval '1 second' "
                         "WHERE id = %s", (episode_id,))  # fmt: skip
        renewed = await http.get(f"/episodes/{episode_id}/transcript",
                                 headers={"If-None-Match": etag})  # fmt: skip
        assert renewed.status_code == 200 and renewed.headers["ETag"] != etag
