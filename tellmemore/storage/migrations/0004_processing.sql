-- Episode processing: where each episode is, what made its outputs, and why it failed.
-- 'processed' becomes 'done' (the word the API and the job queue use).

ALTER TABLE episodes DROP CONSTRAINT episodes_status_check;
UPDATE episodes SET status = 'done' WHERE status = 'processed';
ALTER TABLE episodes ADD CONSTRAINT episodes_status_check
    CHECK (status IN ('new', 'queued', 'processing', 'done', 'failed'));

ALTER TABLE episodes
    ADD COLUMN processing_step   text,          -- downloading, transcribing, ... while processing
    ADD COLUMN error_code        text,          -- the last failure (kept while retrying)
    ADD COLUMN error_message     text,
    ADD COLUMN attempts          integer NOT NULL DEFAULT 0,
    ADD COLUMN processed_at      timestamptz,
    ADD COLUMN transcript_key    text,          -- S3 key of the transcript JSON
    ADD COLUMN transcript_source text CHECK (transcript_source IN ('publisher', 'asr')),
    ADD COLUMN transcript_model  text,          -- ModelRef ids: what made each output
    ADD COLUMN segmenter_model   text,
    ADD COLUMN llm_model         text,
    ADD COLUMN embedding_model   text,
    ADD COLUMN segment_count     integer CHECK (segment_count >= 0),
    ADD COLUMN audio_duration_s  double precision,
    ADD COLUMN summary           jsonb;         -- {summary, topics, chapters} for display

CREATE INDEX episodes_status ON episodes (status, updated_at DESC);

-- Operators (failed-job routes): granted with `tmm admin grant EMAIL`.
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;
