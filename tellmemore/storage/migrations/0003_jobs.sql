-- A durable job queue (replaces a message broker): claimed with FOR UPDATE SKIP LOCKED, retried
-- with backoff, reclaimed after a visibility timeout, dead-lettered with the last error.

CREATE TABLE jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL,
    key             text NOT NULL,  -- what the job is about (an episode id): one live job per key
    payload         jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    run_after       timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    locked_by       text,
    last_error_code text,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE UNIQUE INDEX jobs_one_live_per_key ON jobs (kind, key) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_ready ON jobs (kind, run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_dead ON jobs (kind, updated_at DESC) WHERE state = 'dead';
