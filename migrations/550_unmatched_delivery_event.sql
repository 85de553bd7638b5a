-- Up Migration

-- Delivery reports that arrived before we knew the message they are about: a Twilio status callback
-- for a SID the outbox has not recorded yet (the send's answer was lost and reconciliation finds the
-- message later), a Spruce `conversationItem.created` that beat the write of its request id. They
-- are parked here instead of being dropped, and replayed (audited, signalled to the workflow) as
-- soon as the outbox records that provider message ID. Identifiers and codes only.
CREATE TABLE unmatched_delivery_event (
  id BIGSERIAL PRIMARY KEY,
  provider TEXT NOT NULL CHECK (provider IN ('twilio', 'spruce')),
  -- The provider's key for this event (`status:<MessageSid>:<status>`, `<type>:<itemId>:<eventTime>`).
  event_key TEXT NOT NULL,
  -- What the outbox will record: Twilio MessageSid, Spruce requestId.
  provider_message_id TEXT NOT NULL,
  status TEXT NOT NULL,
  error_code TEXT,
  -- Spruce: the conversation and item, for adopting a send recorded only as pending.
  thread_id TEXT,
  item_id TEXT,
  -- Spruce pages: the `Ref LLP-…` reference in the page text (a digest of the outbox key, no PHI).
  reference TEXT,
  received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  replayed_at TIMESTAMPTZ,
  UNIQUE (provider, event_key)
);
CREATE INDEX unmatched_delivery_event_waiting ON unmatched_delivery_event (provider_message_id) WHERE replayed_at IS NULL;

-- Down Migration
DROP TABLE unmatched_delivery_event;
