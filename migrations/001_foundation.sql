-- Up Migration

-- Every accepted inbound message (HL7 MSH-10, FHIR bundle/event id, athena event id) is recorded
-- before it is acknowledged, so a retransmission is recognised and answered without a second
-- workflow. Holds identifiers and a digest only; the content lives (encrypted) in Temporal.
CREATE TABLE ingest_message (
  id BIGSERIAL PRIMARY KEY,
  source TEXT NOT NULL,
  practice_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  body_sha256 TEXT NOT NULL,
  workflow_ids TEXT[] NOT NULL DEFAULT '{}',
  status TEXT NOT NULL CHECK (status IN ('received', 'handed-off', 'rejected')),
  error TEXT,
  received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  handed_off_at TIMESTAMPTZ,
  UNIQUE (source, practice_id, message_id)
);

-- Down Migration
DROP TABLE ingest_message;
