-- Batch runs (Ray Data backfills) and what each did to each episode.
-- `plan_key` identifies what a run produces (stages, models, target index): a rerun of the same
-- command has the same key, so episodes already done (or failed for good) are not redone.

CREATE TABLE batch_runs (
    id           uuid PRIMARY KEY,
    plan_key     text NOT NULL,
    stages       text[] NOT NULL,
    target_index text NOT NULL,
    selection    jsonb NOT NULL,
    models       jsonb NOT NULL,
    state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'finished', 'failed')),
    selected     integer NOT NULL DEFAULT 0,
    done         integer NOT NULL DEFAULT 0,
    skipped      integer NOT NULL DEFAULT 0,
    failed       integer NOT NULL DEFAULT 0,
    activated    boolean NOT NULL DEFAULT false,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX batch_runs_started ON batch_runs (started_at DESC);

CREATE TABLE batch_items (
    plan_key      text NOT NULL,
    episode_id    uuid NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,
    run_id        uuid NOT NULL REFERENCES batch_runs (id) ON DELETE CASCADE,
    outcome       text NOT NULL CHECK (outcome IN ('done', 'failed')),
    stage         text,
    error_code    text,
    error_message text,
    retryable     boolean NOT NULL DEFAULT false,
    segment_count integer,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_key, episode_id)
);
CREATE INDEX batch_items_run ON batch_items (run_id);
