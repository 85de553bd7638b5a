-- Up Migration

-- Who the transport authenticated for each ingested message (lib/senders.ts): the sender registry's
-- id and how it proved it (bearer-token, mllp-certificate, mllp-plaintext-source, athena-api).
-- `sender` (560) stays what the message says about itself (MSH-3/MSH-4) and keys the retransmission
-- check; these columns say who actually sent it. Rows from before this migration have ''.
ALTER TABLE ingest_message ADD COLUMN authenticated_sender TEXT NOT NULL DEFAULT '';
ALTER TABLE ingest_message ADD COLUMN authenticated_by TEXT NOT NULL DEFAULT '';

-- Down Migration
ALTER TABLE ingest_message DROP COLUMN authenticated_by;
ALTER TABLE ingest_message DROP COLUMN authenticated_sender;
