-- Up Migration

-- Every send records its intent here, under a unique key, BEFORE the provider is called, and the
-- provider's message ID after. A retried activity that finds a recorded ID does not send again; one
-- that finds an intent without an ID reconciles with the provider before deciding.
CREATE TABLE outbox (
  id BIGSERIAL PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE,
  workflow_id TEXT NOT NULL,
  result_version INTEGER NOT NULL,
  step TEXT NOT NULL,
  channel TEXT NOT NULL CHECK (channel IN ('sms', 'spruce', 'portal', 'call', 'page')),
  practice_id TEXT NOT NULL,
  patient_id TEXT,
  template TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('intent', 'sent', 'failed', 'ambiguous')),
  provider_message_id TEXT,
  delivery_status TEXT,
  error_code TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  sent_at TIMESTAMPTZ,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outbox_workflow ON outbox (workflow_id);
CREATE UNIQUE INDEX outbox_provider_message ON outbox (channel, provider_message_id) WHERE provider_message_id IS NOT NULL;

-- SMS consent per patient and phone number. Checked before every send; revocations apply at once.
CREATE TABLE sms_consent (
  practice_id TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  phone_e164 TEXT NOT NULL,
  consented BOOLEAN NOT NULL,
  source TEXT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (practice_id, patient_id, phone_e164)
);
CREATE INDEX sms_consent_phone ON sms_consent (phone_e164);

-- Which open workflows concern which patient/phone, so a STOP or a consent change reaches them.
CREATE TABLE workflow_patient (
  workflow_id TEXT PRIMARY KEY,
  practice_id TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  phone_e164 TEXT,
  open BOOLEAN NOT NULL DEFAULT true,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX workflow_patient_patient ON workflow_patient (practice_id, patient_id) WHERE open;
CREATE INDEX workflow_patient_phone ON workflow_patient (phone_e164) WHERE open;

-- Down Migration
DROP TABLE workflow_patient;
DROP TABLE sms_consent;
DROP TABLE outbox;
