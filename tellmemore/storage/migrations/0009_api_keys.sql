-- API keys: long-lived credentials a user makes for scripts and the LLM route. The key itself
-- (`tmm_<prefix id>_<secret>`) is shown once; only its SHA-256 is kept (the secret is 256 random
-- bits, so no salt or slow hash is needed). `prefix` is the public part, shown in listings and
-- used to find the row. Keys go with their account (ON DELETE CASCADE).

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix       text NOT NULL UNIQUE,
    key_sha256   bytea NOT NULL,
    scopes       text[] NOT NULL
                 CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'llm']),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
