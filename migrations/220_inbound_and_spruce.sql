-- Up Migration

-- Every inbound webhook event (a Twilio inbound SMS, a Twilio status callback, a Spruce event) is
-- recorded here under its provider key before it is acted on, so a re-delivery is recognised and
-- answered without acting twice. `processed` is set only after every side effect (consent change,
-- audit, signals) succeeded: a re-delivery of an event still at `received` is processed again, and
-- each of those steps is idempotent. Identifiers only: never a body, a name or a phone number.
CREATE TABLE inbound_event (
  id BIGSERIAL PRIMARY KEY,
  channel TEXT NOT NULL CHECK (channel IN ('sms', 'spruce')),
  -- Twilio MessageSid (inbound), `status:<MessageSid>:<status>` (callbacks), `<type>:<itemId>:<eventTime>` (Spruce)
  event_key TEXT NOT NULL,
  -- The provider object the event is about (message SID, Spruce item id), for ordering.
  subject_id TEXT,
  -- When the provider says the event happened (Spruce eventTime); stale updates are ignored by it.
  event_time TIMESTAMPTZ,
  -- What we made of it: stop, start, help, text, delivery, ignored, stale, unknown-sender.
  kind TEXT,
  practice_id TEXT,
  status TEXT NOT NULL CHECK (status IN ('received', 'processed')),
  received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  processed_at TIMESTAMPTZ,
  UNIQUE (channel, event_key)
);
CREATE INDEX inbound_event_subject ON inbound_event (channel, subject_id, event_time) WHERE subject_id IS NOT NULL;

-- Which Spruce contact is which patient, learned when a secure thread is found or created, so an
-- inbound Spruce reply reaches that patient's open workflows.
CREATE TABLE spruce_contact (
  practice_id TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (practice_id, patient_id)
);
CREATE INDEX spruce_contact_contact ON spruce_contact (contact_id);

-- The provider's conversation/thread a send went to (Spruce conversation id), so a webhook for an
-- item whose request id we never learned (the answer was lost, the retry got 422) can still be
-- matched to its send.
ALTER TABLE outbox ADD COLUMN provider_thread_id TEXT;

-- Audit events a send decided on in the same transaction as its outcome (sent, reconciled,
-- ambiguous, failed), appended to the audit log right after the commit and then cleared. A crash in
-- between leaves them here, and the next attempt appends them (idempotently, by their keys): no
-- audit row is lost, and no database connection is held while another is needed for the audit.
ALTER TABLE outbox ADD COLUMN audit_pending JSONB;

-- Down Migration
ALTER TABLE outbox DROP COLUMN audit_pending;
ALTER TABLE outbox DROP COLUMN provider_thread_id;
DROP TABLE spruce_contact;
DROP TABLE inbound_event;
