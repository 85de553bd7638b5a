-- Up Migration

-- The append-only, hash-chained audit log (lib/audit/). Every routing decision, hold, escalation,
-- page, send, delivery status, consent change, sign-off, annotation, fallback and export is one row.
--
-- Tamper evidence: row_hash = sha256_hex(prev_hash || '\n' || canonical_json(every column except
-- row_hash)), with prev_hash = the previous row's row_hash (64 zeros for seq 1). The canonical form is
-- computed in Node (lib/audit/record.ts) by both the appender and the verifier, so it is defined once.
--
-- Protection, in two independent layers:
--  1. Triggers refuse UPDATE, DELETE (row level) and TRUNCATE (statement level) for everyone, the
--     table owner included. A superuser can still switch them off (session_replication_role =
--     replica, ALTER TABLE ... DISABLE TRIGGER); that is what the hash chain and `npm run
--     audit:verify` are for.
--  2. Grants: the application never owns this table. It logs in as its own LOGIN role that is
--     granted `labloop_app` (GRANT labloop_app TO <login role>), and labloop_app holds only SELECT
--     and INSERT here, so UPDATE/DELETE/TRUNCATE are "permission denied" for it even if the
--     triggers were disabled. Migrations run as the owner, a different role.

-- Roles are cluster-wide while this migration runs once per database (tests create many databases
-- on one server, some at the same moment), so create the role only if it is missing and tolerate
-- losing that race to a concurrent migration.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'labloop_app') THEN
    BEGIN
      CREATE ROLE labloop_app NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
END
$$;

-- Appends are serialised by a transaction-scoped advisory lock on this key, taken by the appender
-- (lib/audit/append.ts) and again by the link-check trigger below (advisory locks are re-entrant).
-- A function rather than a literal in two languages so the key is defined once. The value is
-- 'labloop' in ASCII followed by 0x01, to stay clear of other advisory-lock users (node-pg-migrate).
CREATE FUNCTION audit_log_chain_lock_key() RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT 7809631446702714881::bigint $$;

CREATE TABLE audit_log (
  -- Gapless: assigned as tail + 1 under the chain lock, never from a sequence (a sequence skips
  -- values on rollback, and a gap must mean a deleted row).
  seq BIGINT PRIMARY KEY CHECK (seq >= 1),
  -- Millisecond precision is enforced because the hash covers the ISO-8601 form with milliseconds;
  -- a microsecond part would be stored but not hashed.
  occurred_at TIMESTAMPTZ NOT NULL CHECK (occurred_at = date_trunc('milliseconds', occurred_at)),
  recorded_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now())
    CHECK (recorded_at = date_trunc('milliseconds', recorded_at)),
  -- Null only for events that belong to no single practice (an export across practices).
  practice_id TEXT,
  workflow_id TEXT,
  result_ref TEXT,
  -- The practice's internal patient id; never a name, phone number or date of birth.
  patient_id TEXT,
  actor_type TEXT NOT NULL CHECK (actor_type IN ('provider', 'staff', 'system', 'patient', 'source')),
  actor_id TEXT NOT NULL,
  -- Keep in step with AUDIT_ACTIONS in lib/audit/types.ts (a test compares them).
  action TEXT NOT NULL CHECK (
    action IN (
      'ingest', 'routing-decision', 'hold', 'release', 'escalation', 'page', 'call-task', 'send-intent',
      'send', 'delivery-status', 'consent-change', 'sign-off', 'annotation', 'fallback', 'phi-rewrite',
      'correction', 'cancel', 'patient-reply', 'export'
    )
  ),
  channel TEXT,
  template TEXT,
  variant TEXT,
  outcome TEXT NOT NULL,
  -- Identifiers, codes and counts only: no PHI values, by contract with every caller.
  details JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object'),
  -- Set by retried callers (Temporal activities) so a retry returns the existing row.
  idempotency_key TEXT UNIQUE,
  prev_hash TEXT NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  row_hash TEXT NOT NULL UNIQUE CHECK (row_hash ~ '^[0-9a-f]{64}$'),
  CONSTRAINT audit_log_practice_required CHECK (practice_id IS NOT NULL OR action = 'export')
);

-- Export by time range, by practice and by patient (patient ids are only unique within a practice);
-- the trailing seq makes each a keyset-pagination order.
CREATE INDEX audit_log_occurred ON audit_log (occurred_at, seq);
CREATE INDEX audit_log_practice_occurred ON audit_log (practice_id, occurred_at, seq);
CREATE INDEX audit_log_patient_occurred ON audit_log (practice_id, patient_id, occurred_at, seq)
  WHERE patient_id IS NOT NULL;
-- One result's trail, for the review app.
CREATE INDEX audit_log_workflow ON audit_log (workflow_id, seq) WHERE workflow_id IS NOT NULL;

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP
    USING HINT = 'Record a correction as a new event instead of changing or removing an old one.';
END
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- A writer that skips the appender (or has a bug) must not be able to fork or break the chain: the
-- new row has to be exactly tail + 1 and point at the tail's hash. Taking the chain lock here too
-- makes check-then-insert atomic even for a writer that did not take it first. The row's own hash
-- is not recomputed here (that needs the canonical form, which lives in Node); the verifier does it.
CREATE FUNCTION audit_log_check_link() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
DECLARE
  tail_seq BIGINT;
  tail_hash TEXT;
BEGIN
  PERFORM pg_advisory_xact_lock(audit_log_chain_lock_key());
  SELECT seq, row_hash INTO tail_seq, tail_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
  IF NOT FOUND THEN
    tail_seq := 0;
    tail_hash := repeat('0', 64);
  END IF;
  IF NEW.seq <> tail_seq + 1 OR NEW.prev_hash <> tail_hash THEN
    RAISE EXCEPTION 'audit_log append out of chain order: seq % does not follow the tail (seq %, hash %)',
      NEW.seq, tail_seq, tail_hash
      USING HINT = 'Append through lib/audit (createAuditLog), which takes the chain lock before reading the tail.';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_link BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_check_link();

REVOKE ALL ON audit_log FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO labloop_app;
-- The chain lock needs nothing more: pg_advisory_xact_lock and audit_log_chain_lock_key() are
-- executable by PUBLIC.

-- Down Migration
-- The labloop_app role is cluster-wide and shared with other databases: it is left in place.
DROP TABLE audit_log;
DROP FUNCTION audit_log_check_link();
DROP FUNCTION audit_log_refuse_change();
DROP FUNCTION audit_log_chain_lock_key();
