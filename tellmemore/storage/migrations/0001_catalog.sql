-- The podcast catalog: podcasts, every URL a podcast's feed has lived at, and episodes.

CREATE TABLE podcasts (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    feed_url             text NOT NULL,
    title                text NOT NULL,
    author               text,
    description          text,
    description_html     text,
    link                 text,
    image_url            text,
    language             text,
    categories           text[] NOT NULL DEFAULT '{}',
    explicit             boolean,
    apple_id             bigint UNIQUE,
    -- validators for conditional GET, and a digest of the last body we parsed
    etag                 text,
    last_modified        text,
    body_sha256          text,
    last_fetched_at      timestamptz,
    last_success_at      timestamptz,
    last_error_code      text,
    last_error           text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    parse_warning        text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Every spelling and past location of a feed, so re-adding an old URL finds the same podcast.
CREATE TABLE podcast_feed_urls (
    url_key     text PRIMARY KEY,
    url         text NOT NULL,
    podcast_id  uuid NOT NULL REFERENCES podcasts (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (reason IN ('added', 'redirect', 'new_feed_url')),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX podcast_feed_urls_podcast ON podcast_feed_urls (podcast_id);

CREATE TABLE episodes (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    podcast_id       uuid NOT NULL REFERENCES podcasts (id) ON DELETE CASCADE,
    identity_key     text NOT NULL,
    guid             text,
    enclosure_key    text,
    title            text NOT NULL,
    description      text,
    description_html text,
    link             text,
    published_at     timestamptz,
    published_raw    text,
    duration_s       integer CHECK (duration_s >= 0),
    duration_raw     text,
    enclosure_url    text,
    enclosure_type   text,
    enclosure_length bigint CHECK (enclosure_length > 0),
    image_url        text,
    season           integer,
    episode_number   integer,
    episode_type     text,
    explicit         boolean,
    chapters_url     text,
    chapters_type    text,
    transcripts      jsonb NOT NULL DEFAULT '[]',
    content_sha256   text NOT NULL,
    status           text NOT NULL DEFAULT 'new'
                     CHECK (status IN ('new', 'queued', 'processing', 'processed', 'failed')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- episodes without a date sort by when we first saw them
    sort_at          timestamptz GENERATED ALWAYS AS (coalesce(published_at, created_at)) STORED,
    UNIQUE (podcast_id, identity_key)
);
CREATE INDEX episodes_enclosure ON episodes (podcast_id, enclosure_key);
CREATE INDEX episodes_paging ON episodes (podcast_id, sort_at DESC, id DESC);
CREATE INDEX episodes_published ON episodes (podcast_id, published_at);
