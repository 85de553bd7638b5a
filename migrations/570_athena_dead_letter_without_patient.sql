-- Up Migration

-- A changed-feed record that names no patient cannot be read (the document's path needs one), and
-- retrying will not give it one. It is dead-lettered like any other unusable document instead of
-- being skipped, so the feed can move on while an operator sees exactly which result needs attention.
ALTER TABLE athena_ingest_dead_letter ALTER COLUMN patient_id DROP NOT NULL;

-- Down Migration
DELETE FROM athena_ingest_dead_letter WHERE patient_id IS NULL;
ALTER TABLE athena_ingest_dead_letter ALTER COLUMN patient_id SET NOT NULL;
