-- Playlists (manual, or built from a topic), their items, and what each user has heard.

CREATE TABLE playlists (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        text NOT NULL,
    description  text,
    visibility   text NOT NULL DEFAULT 'private'
                 CHECK (visibility IN ('private', 'unlisted', 'public')),
    -- the secret in an unlisted playlist's link; regenerating it revokes the old link
    share_token  text NOT NULL UNIQUE,
    kind         text NOT NULL DEFAULT 'manual' CHECK (kind IN ('manual', 'topic')),
    topic        jsonb,  -- {"query", "minutes", "filters"} for topic playlists
    skip_heard   boolean NOT NULL DEFAULT false,
    refreshed_at timestamptz,
    -- bumped by every change: the ETag clients send back in If-Match
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'topic') = (topic IS NOT NULL))
);
CREATE INDEX playlists_owner ON playlists (owner_id, created_at DESC, id DESC);
CREATE INDEX playlists_public ON playlists (created_at DESC, id DESC) WHERE visibility = 'public';

CREATE TABLE playlist_items (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    playlist_id uuid NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    position    integer NOT NULL CHECK (position >= 0),
    episode_id  uuid NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,
    start_s     double precision,  -- both or neither: a time range, or the whole episode
    end_s       double precision,
    note        text,
    segment_id  text,              -- what the topic builder matched, when it added the item
    reason      text,
    summary     text,
    score       real,
    added_by    text NOT NULL DEFAULT 'user' CHECK (added_by IN ('user', 'topic')),
    added_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((start_s IS NULL) = (end_s IS NULL)),
    CHECK (start_s IS NULL OR (start_s >= 0 AND start_s < end_s)),
    -- checked at the end of each statement, so one UPDATE can shift a run of positions
    CONSTRAINT playlist_items_dense UNIQUE (playlist_id, position) DEFERRABLE INITIALLY IMMEDIATE
);
CREATE INDEX playlist_items_episode ON playlist_items (episode_id);

-- One row per "I heard this" (a whole episode when the times are null); merged on read.
CREATE TABLE listening_history (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    episode_id uuid NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,
    start_s    double precision,
    end_s      double precision,
    heard_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((start_s IS NULL) = (end_s IS NULL)),
    CHECK (start_s IS NULL OR (start_s >= 0 AND start_s < end_s))
);
CREATE INDEX listening_history_recent ON listening_history (user_id, heard_at DESC, id DESC);
CREATE INDEX listening_history_episode ON listening_history (user_id, episode_id);
