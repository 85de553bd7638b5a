-- Up Migration

-- The one-time SMS consent invitation, per practice, patient and phone number (TCPA: a number that
-- has not opted in gets at most one invitation, however many results the patient has). The row is
-- the claim: written under the primary key BEFORE the invitation is sent, so of two workflows
-- racing for the same number only the first may send; the send key (workflow, version, step) lets
-- that send's own retries claim again. A claim whose send then failed still counts: not inviting
-- again is the safe side of that rule.
CREATE TABLE consent_invitation (
  practice_id TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  phone_e164 TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  result_version INTEGER NOT NULL,
  step TEXT NOT NULL,
  claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (practice_id, patient_id, phone_e164)
);

-- The rights 510's default privileges give every later table, stated here too so they do not depend
-- on which role runs the migrations.
GRANT SELECT, INSERT, UPDATE, DELETE ON consent_invitation TO labloop_app;

-- Down Migration
DROP TABLE consent_invitation;
