"""The work the app does: feeds, Apple's directory, processing, batch runs, search,
playlists, backups, the demo and logs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, HttpUrl


class FeedSettings(BaseModel):
    """Fetching RSS/Atom feeds and OPML-listed feeds from the open internet."""

    max_bytes: int = Field(default=25 * 2**20, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=20.0, gt=0)
    # Wall-clock bound on one whole fetch, redirects included (a slow-drip server is cut off).
    total_timeout_s: float = Field(default=45.0, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    # itunes:new-feed-url hops followed in one fetch; the chain is recorded on the podcast.
    max_feed_moves: int = Field(default=3, ge=0, le=10)
    user_agent: str = "TellMeMore/0.1 (+podcast playlists)"
    # Refuse URLs that resolve to loopback, private, link-local or reserved addresses (SSRF).
    # Tests and the local demo serve feeds on 127.0.0.1 and turn this on.
    allow_private_hosts: bool = False
    refresh_concurrency: int = Field(default=8, ge=1, le=64)


class AppleSettings(BaseModel):
    """The iTunes Search API used for podcast discovery."""

    base_url: HttpUrl = HttpUrl("https://itunes.apple.com")
    country: str = Field(default="US", pattern=r"^[A-Za-z]{2}$")
    timeout_s: float = Field(default=10.0, gt=0)
    cache_ttl_s: int = Field(default=3600, ge=0)
    cache_max_entries: int = Field(default=2048, ge=1)
    # Apple allows roughly 20 calls a minute and answers 403 beyond; we stop before that.
    calls_per_minute: int = Field(default=20, ge=1)


class LogSettings(BaseModel):
    """Logging: JSON lines in production, readable lines elsewhere (unless told)."""

    json_lines: bool | None = None


class ProcessingSettings(BaseModel):
    """Episode processing: what gets queued, how jobs retry, and download limits."""

    # Subscribing queues a podcast's newest N unprocessed episodes; refreshing queues new ones.
    enqueue_newest: int = Field(default=3, ge=0, le=1000)
    enqueue_on_refresh: bool = True
    max_attempts: int = Field(default=3, ge=1, le=50)
    backoff_base_s: float = Field(default=30.0, ge=0)
    backoff_max_s: float = Field(default=3600.0, ge=0)
    # A job's lease (visibility timeout), renewed every third of it while the worker lives.
    lease_s: float = Field(default=300.0, ge=2)
    poll_s: float = Field(default=10.0, gt=0)  # fallback poll when no NOTIFY arrives
    concurrency: int = Field(default=2, ge=1, le=64)  # episodes at once per worker
    worker_enabled: bool = True
    # How often a processor replica publishes the queue's depth and dead letters as metrics
    # (Ray drops a gauge not re-set within two of its 10 s export intervals).
    metrics_interval_s: float = Field(default=5.0, gt=0, le=15)
    # Enclosure downloads.
    max_audio_bytes: int = Field(default=1024 * 2**20, gt=0)
    download_timeout_s: float = Field(default=900.0, gt=0)
    # Prefer the publisher's transcript (podcast:transcript) over speech recognition.
    prefer_publisher_transcript: bool = True
    transcribe_parallel_chunks: int = Field(default=4, ge=1, le=64)
    # The longest one audio chunk may wait for its transcript, queueing for a replica included.
    # Per chunk, not per attempt, so a long episode is never failed for being long; when no
    # transcriber can be placed (no GPU capacity) the attempt fails `transcriber_unavailable`
    # and the queue retries it with backoff, instead of the episode waiting forever.
    transcribe_deadline_s: float = Field(default=900.0, gt=0)


class BackupSettings(BaseModel):
    """Backups (``tmm backup``): where in the bucket, and how long they are kept."""

    prefix: str = "backups"
    retention_days: float = Field(default=7.0, gt=0)
    # Copy each LanceDB table (at the tagged version) beside the dump: tags alone cannot bring
    # back a dropped table. Off, a backup only tags the live tables.
    copy_tables: bool = True


class BatchSettings(BaseModel):
    """Batch runs on Ray Data (``tmm-batch``): block sizes and the actor pools per stage.

    GPU nodes set ``*_gpus`` (e.g. 1 for Whisper and the LLM, 0.25 for the embedder) so Ray
    places those actors on GPU workers; CPU runs leave them at 0."""

    episodes_per_block: int = Field(default=2, ge=1, le=256)
    download_concurrency: int = Field(default=4, ge=1, le=256)  # parallel download tasks
    transcribe_actors: int = Field(default=1, ge=1, le=1024)
    transcribe_gpus: float = Field(default=0.0, ge=0)
    transcribe_cpus: float = Field(default=1.0, gt=0)
    summarize_actors: int = Field(default=1, ge=1, le=1024)
    summarize_gpus: float = Field(default=0.0, ge=0)
    summarize_cpus: float = Field(default=1.0, gt=0)
    embed_actors: int = Field(default=1, ge=1, le=1024)
    embed_gpus: float = Field(default=0.0, ge=0)
    embed_cpus: float = Field(default=1.0, gt=0)
    # Episodes per embedding call: their passages are encoded together.
    embed_batch_episodes: int = Field(default=8, ge=1, le=1024)
    write_actors: int = Field(default=1, ge=1, le=64)
    # Re-embedding: rounds that embed episodes the online processor finished meanwhile, before
    # the new index is activated.
    catch_up_rounds: int = Field(default=3, ge=0, le=20)
    # The run's hold on the episodes it processes (the online worker's job lease), renewed every
    # third of it while the driver lives: a killed driver's episodes go back after this long.
    lease_s: float = Field(default=600.0, ge=2)
    # The Ray Job entry point a `tmm-batch submit` runs on the cluster (its image has it).
    job_entrypoint: str = "tmm-batch run"


class SearchSettings(BaseModel):
    """Search over the LanceDB tables, its indexes and its Redis cache."""

    default_limit: int = Field(default=10, ge=1, le=100)
    max_limit: int = Field(default=50, ge=1, le=500)
    max_query_chars: int = Field(default=500, ge=10, le=10_000)
    # Candidates each method contributes before fusion.
    candidates: int = Field(default=50, ge=10, le=1000)
    # Hybrid fusion: relative scores (alpha = the semantic side's weight) or reciprocal ranks.
    fusion: Literal["relative_score", "rrf"] = "relative_score"
    hybrid_alpha: float = Field(default=0.7, ge=0, le=1)
    rrf_k: int = Field(default=60, ge=1)
    # Below this many rows search is exact (flat); above it an IVF-PQ vector index is built.
    vector_index_min_rows: int = Field(default=50_000, ge=256)
    # Rows added since the last index build after which `optimize` rebuilds rather than appends.
    vector_index_rebuild_fraction: float = Field(default=0.2, gt=0, le=1)
    # IVF-PQ search: partitions probed, and candidates re-ranked by exact distance (x limit).
    # At 1M passages (bench/search.py --sweep) 20 / 5 found 0.90 of the exact top 10, 40 / 10
    # 0.975 for ~8 ms more.
    nprobes: int = Field(default=40, ge=1)
    refine_factor: int = Field(default=10, ge=1)
    cache_ttl_s: float = Field(default=300.0, ge=0)  # 0 turns the cache off
    # Podcast reads (GET /podcasts, /podcasts/{id}); invalidated on every catalog write too.
    catalog_cache_ttl_s: float = Field(default=60.0, ge=0)
    # A search replica looks for newer table versions at most this often.
    read_consistency_s: float = Field(default=2.0, ge=0)
    # How often a processor replica runs the index maintenance (optimize / build index).
    maintenance_interval_s: float = Field(default=900.0, gt=0)
    # ...and this long after a replica's last stored episode, so episodes that just landed are
    # compacted and indexed in seconds: unmaintained, each episode's write is a fragment that
    # every query scans (246 passages in 25 fragments: 119 ms a vector query, 25 compacted).
    maintenance_settle_s: float = Field(default=20.0, gt=0)
    # "Tell me more": bounds on the requested length and the diversity trade-off.
    max_playlist_minutes: int = Field(default=240, ge=1)
    mmr_lambda: float = Field(default=0.7, ge=0, le=1)
    near_duplicate_similarity: float = Field(default=0.92, gt=0, le=1)
    # A topic playlist takes a new segment only above this fused relevance (semantic cosine).
    topic_min_similarity: float = Field(default=0.35, ge=-1, le=1)


class PlaylistSettings(BaseModel):
    """Limits that keep one user's playlists bounded."""

    max_playlists_per_user: int = Field(default=500, ge=1)
    max_items: int = Field(default=1000, ge=1)
    max_title_chars: int = Field(default=200, ge=1)
    max_description_chars: int = Field(default=5000, ge=0)
    max_note_chars: int = Field(default=2000, ge=0)


class DemoSettings(BaseModel):
    """The demo podcast that ships with the app."""

    # Serve the demo feed (and, later, its audio) from the API under /demo/.
    enabled: bool = False
