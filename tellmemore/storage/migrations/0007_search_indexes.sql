-- Search indexes: one pair of LanceDB tables (passages, episode summaries) per embedding space
-- (model + prefixes). Re-embedding with a new model builds a new index beside the active one;
-- readers and the online processor follow `active`, flipped only when the new one is complete.
-- The previous index stays for rollback.

CREATE TABLE search_indexes (
    name             text PRIMARY KEY,
    segments_table   text NOT NULL,
    summaries_table  text NOT NULL,
    embedder         jsonb NOT NULL,  -- {"model", "query_prefix", "passage_prefix"}
    embedding_model  text,            -- the model's id (name@digest) once something was written
    state            text NOT NULL DEFAULT 'building' CHECK (state IN ('building', 'ready')),
    active           boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    ready_at         timestamptz,
    activated_at     timestamptz,
    CHECK (NOT active OR state = 'ready')
);
CREATE UNIQUE INDEX search_indexes_one_active ON search_indexes (active) WHERE active;
