-- The online processor's effective, non-secret settings (what an episode may fetch or accept,
-- and the model names), recorded by each processor replica when it starts, keyed by the
-- environment variable that sets each one: `tmm-batch run` compares its own before it starts.

CREATE TABLE server_settings (
    role        text PRIMARY KEY,  -- 'processor'
    settings    jsonb NOT NULL,    -- {"TMM_FEEDS__ALLOW_PRIVATE_HOSTS": true, ...}
    host        text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
