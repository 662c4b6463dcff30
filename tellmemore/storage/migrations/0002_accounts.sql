-- Accounts, refresh-token families (one per login / device) and subscriptions.

CREATE TABLE users (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email               text NOT NULL,
    email_key           text NOT NULL UNIQUE,  -- lower-cased email: one account per address
    password_hash       text NOT NULL,
    display_name        text,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- A family is one login: each refresh rotates the token within it; reusing a rotated token
-- revokes the family (and only it, so the user's other devices keep working).
CREATE TABLE token_families (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN ('logout', 'reuse', 'password_change', 'user'))
);
CREATE INDEX token_families_user ON token_families (user_id);

CREATE TABLE refresh_tokens (
    token_sha256 bytea PRIMARY KEY,
    family_id    uuid NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    rotated_at   timestamptz  -- set once used: using it again is reuse
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE subscriptions (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    podcast_id uuid NOT NULL REFERENCES podcasts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, podcast_id)
);
CREATE INDEX subscriptions_podcast ON subscriptions (podcast_id);
