-- The publisher's own chapters (podcast:chapters, fetched and read when the episode is
-- processed): [{"start_s", "end_s", "title"}]. NULL until fetched; [] when the feed offers
-- none. Kept apart from the summary, which holds the summarizer's chapters, so a batch run
-- that only re-summarizes never loses them; the read-along shows these when there are any.
ALTER TABLE episodes ADD COLUMN publisher_chapters jsonb;
