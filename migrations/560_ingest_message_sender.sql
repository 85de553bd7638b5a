-- Up Migration

-- A message control ID (HL7 MSH-10) is unique only per sender: two labs of one practice may both
-- send message 1001. The retransmission check is therefore keyed on who numbered the message too
-- (HL7 MSH-3 and MSH-4; '' for sources whose message ID is a digest), so the second lab's message
-- is taken in instead of refused as "already used". Rows recorded before this migration have sender
-- '' and are not matched by a later resend of theirs: that resend is handed off once more, and the
-- lab-result workflow ignores a message ID it has already seen, so nothing is delivered twice.
ALTER TABLE ingest_message ADD COLUMN sender TEXT NOT NULL DEFAULT '';
ALTER TABLE ingest_message DROP CONSTRAINT ingest_message_source_practice_id_message_id_key;
ALTER TABLE ingest_message
  ADD CONSTRAINT ingest_message_source_practice_id_sender_message_id_key UNIQUE (source, practice_id, sender, message_id);

-- Down Migration
-- Fails, naming the constraint, while two senders' rows share a message ID: resolve those first.
ALTER TABLE ingest_message DROP CONSTRAINT ingest_message_source_practice_id_sender_message_id_key;
ALTER TABLE ingest_message
  ADD CONSTRAINT ingest_message_source_practice_id_message_id_key UNIQUE (source, practice_id, message_id);
ALTER TABLE ingest_message DROP COLUMN sender;
