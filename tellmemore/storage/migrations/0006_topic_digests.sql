-- Topic playlists grow as episodes are processed; opted-in owners get an email digest.

ALTER TABLE users
    ADD COLUMN email_digest   boolean NOT NULL DEFAULT false,
    ADD COLUMN digest_sent_at timestamptz;

-- Items the topic refresher added and no digest has reported yet.
ALTER TABLE playlist_items ADD COLUMN notified_at timestamptz;
CREATE INDEX playlist_items_unnotified ON playlist_items (playlist_id)
    WHERE added_by = 'topic' AND notified_at IS NULL;

CREATE INDEX playlists_topic ON playlists (refreshed_at) WHERE kind = 'topic';
CREATE INDEX episodes_processed ON episodes (processed_at) WHERE status = 'done';
