-- How far the current processing step is, next to the step itself: {"done": n, "total": n or
-- null, "unit": "seconds" | "parts" | ...}. Written by the online processor at most about once
-- a second per running episode, and cleared with every step change and outcome, so it never
-- outlives its step. NULL when the step has no measure of its own.
ALTER TABLE episodes ADD COLUMN processing_progress jsonb;
