-- Newest first means by date: an episode without a (usable) date sorts after every dated one,
-- and among the undated by when we first saw it. Before, it sorted as of when we first saw
-- it, so a back catalogue without dates counted as the newest episodes (and was queued first).
-- A generated column may only use immutable expressions, and date arithmetic is not, so a
-- trigger keeps the column.
DROP INDEX IF EXISTS episodes_paging;
ALTER TABLE episodes DROP COLUMN sort_at;
ALTER TABLE episodes ADD COLUMN sort_at timestamptz;

CREATE FUNCTION episodes_sort_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.sort_at := coalesce(NEW.published_at, NEW.created_at - interval '1000 years');
    RETURN NEW;
END
$$;

CREATE TRIGGER episodes_sort_at BEFORE INSERT OR UPDATE OF published_at, created_at
    ON episodes FOR EACH ROW EXECUTE FUNCTION episodes_sort_at();

UPDATE episodes SET sort_at = coalesce(published_at, created_at - interval '1000 years');
ALTER TABLE episodes ALTER COLUMN sort_at SET NOT NULL;
CREATE INDEX episodes_paging ON episodes (podcast_id, sort_at DESC, id DESC);
