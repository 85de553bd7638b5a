-- Up Migration

-- How far the athena changed-data feed has been read AND handed off, per practice. The poller
-- moves it only after every record of a poll reached Temporal, and every poll re-reads (with
-- athena's showprocessed* window) everything processed since a little before it, so a batch
-- whose destructive read succeeded but whose hand-off did not is read again.
CREATE TABLE athena_feed_checkpoint (
  practice_id TEXT PRIMARY KEY,
  polled_through TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- athena lab results that cannot be ingested for a reason retrying cannot fix (the document is
-- malformed, belongs to another patient, athena refuses the request as given). Kept so nothing
-- is silently dropped: an operator fixes the cause and replays. Identifiers and a reason only.
CREATE TABLE athena_ingest_dead_letter (
  practice_id TEXT NOT NULL,
  lab_result_id TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  trigger TEXT NOT NULL CHECK (trigger IN ('webhook', 'feed', 'replay')),
  attempts INTEGER NOT NULL DEFAULT 1,
  first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  resolved_at TIMESTAMPTZ,
  PRIMARY KEY (practice_id, lab_result_id)
);

-- Down Migration
DROP TABLE athena_ingest_dead_letter;
DROP TABLE athena_feed_checkpoint;
