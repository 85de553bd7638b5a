-- Up Migration

-- Appends without a global lock (lib/audit/append.ts, lib/audit/seal.ts; issue 15 §2).
--
-- Until now every append took one cluster-wide advisory lock and read the tail under it, so all
-- appenders of all processes queued on it. Now an append is one INSERT of an *unsealed* row: it gets
-- its entry_id from a sequence and has no seq, prev_hash or row_hash yet, so it takes no lock and
-- reads nothing. A sealer then chains the committed unsealed rows in batches, in entry_id order: it
-- gives each its seq (gapless, the chain position) and prev_hash, and the row_hash computed in Node
-- over exactly the same fields as before, so the hash definition, the verifier and every export
-- are unchanged. Sealing is group commit: whichever appender finds the sealer lock free seals every
-- row waiting at that moment, its own included, in one transaction; the others do not queue on a
-- lock (pg_try_advisory_xact_lock), they wait for their row to be sealed.
--
-- entry_id is not hashed and may have gaps (a sequence skips values on rollback); seq, the hashed
-- chain position, stays gapless, so a gap in seq still means a deleted row.

ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
ALTER TABLE audit_log ADD COLUMN entry_id BIGINT;
UPDATE audit_log SET entry_id = seq;
ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;

CREATE SEQUENCE audit_log_entry_id_seq OWNED BY audit_log.entry_id;
SELECT setval('audit_log_entry_id_seq', COALESCE((SELECT max(seq) FROM audit_log), 0) + 1, false);
ALTER TABLE audit_log
  ALTER COLUMN entry_id SET DEFAULT nextval('audit_log_entry_id_seq'),
  ALTER COLUMN entry_id SET NOT NULL;

ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (entry_id);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_seq_key UNIQUE (seq);
ALTER TABLE audit_log
  ALTER COLUMN seq DROP NOT NULL,
  ALTER COLUMN prev_hash DROP NOT NULL,
  ALTER COLUMN row_hash DROP NOT NULL,
  ADD CONSTRAINT audit_log_sealed_together
    CHECK ((seq IS NULL) = (prev_hash IS NULL) AND (seq IS NULL) = (row_hash IS NULL));
-- What the sealer reads: the rows waiting, oldest entry first.
CREATE INDEX audit_log_unsealed ON audit_log (entry_id) WHERE seq IS NULL;

-- A row may be inserted unsealed (no lock, no tail read) or, as before, sealed in place by a writer
-- that takes the chain lock and extends the tail exactly.
CREATE OR REPLACE FUNCTION audit_log_check_link() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
DECLARE
  tail_seq BIGINT;
  tail_hash TEXT;
BEGIN
  IF NEW.seq IS NULL THEN
    RETURN NEW;
  END IF;
  PERFORM pg_advisory_xact_lock(audit_log_chain_lock_key());
  SELECT seq, row_hash INTO tail_seq, tail_hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
  IF NOT FOUND THEN
    tail_seq := 0;
    tail_hash := repeat('0', 64);
  END IF;
  IF NEW.seq <> tail_seq + 1 OR NEW.prev_hash <> tail_hash THEN
    RAISE EXCEPTION 'audit_log append out of chain order: seq % does not follow the tail (seq %, hash %)',
      NEW.seq, tail_seq, tail_hash
      USING HINT = 'Append through lib/audit (createAuditLog), which leaves sealing to the sealer.';
  END IF;
  RETURN NEW;
END
$$;

-- The one UPDATE there is: sealing an unsealed row, changing nothing else. Everything else is
-- refused as before (the owner included); a superuser can still switch this off, which is what
-- the signed anchors outside the database are for.
CREATE FUNCTION audit_log_refuse_change_but_seal() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF OLD.seq IS NULL AND NEW.seq IS NOT NULL
     AND current_setting('labloop.audit_sealing', true) = 'on'
     AND ROW(OLD.entry_id, OLD.occurred_at, OLD.recorded_at, OLD.practice_id, OLD.workflow_id, OLD.result_ref,
             OLD.patient_id, OLD.actor_type, OLD.actor_id, OLD.action, OLD.channel, OLD.template, OLD.variant,
             OLD.outcome, OLD.details, OLD.idempotency_key)
       IS NOT DISTINCT FROM
         ROW(NEW.entry_id, NEW.occurred_at, NEW.recorded_at, NEW.practice_id, NEW.workflow_id, NEW.result_ref,
             NEW.patient_id, NEW.actor_type, NEW.actor_id, NEW.action, NEW.channel, NEW.template, NEW.variant,
             NEW.outcome, NEW.details, NEW.idempotency_key) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP
    USING HINT = 'Record a correction as a new event instead of changing or removing an old one.';
END
$$;
DROP TRIGGER audit_log_no_update ON audit_log;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change_but_seal();

-- Seal a batch: entry_ids[i] becomes seq seqs[i] with prev_hashes[i] and row_hashes[i]. The caller
-- (lib/audit/seal.ts) holds the chain lock and computed the hashes; this checks that the batch
-- extends the tail exactly (contiguous seqs from tail + 1, each linking to the one before) and that
-- every entry is still unsealed. SECURITY DEFINER so the runtime role needs no UPDATE right on
-- audit_log at all (lib/db/startup.ts refuses to start a runtime role that has one).
CREATE FUNCTION audit_log_seal(entry_ids BIGINT[], seqs BIGINT[], prev_hashes TEXT[], row_hashes TEXT[])
  RETURNS integer
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$
DECLARE
  tail_seq BIGINT;
  tail_hash TEXT;
  n integer := coalesce(array_length(entry_ids, 1), 0);
  updated integer;
BEGIN
  IF n = 0 THEN
    RETURN 0;
  END IF;
  IF array_length(seqs, 1) <> n OR array_length(prev_hashes, 1) <> n OR array_length(row_hashes, 1) <> n THEN
    RAISE EXCEPTION 'audit_log_seal: arrays of different lengths';
  END IF;
  PERFORM pg_advisory_xact_lock(audit_log_chain_lock_key());
  SELECT seq, row_hash INTO tail_seq, tail_hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
  IF NOT FOUND THEN
    tail_seq := 0;
    tail_hash := repeat('0', 64);
  END IF;
  FOR i IN 1..n LOOP
    IF seqs[i] <> tail_seq + i OR prev_hashes[i] <> (CASE WHEN i = 1 THEN tail_hash ELSE row_hashes[i - 1] END) THEN
      RAISE EXCEPTION 'audit_log_seal: seq % does not extend the chain (tail seq %, hash %)', seqs[i], tail_seq, tail_hash;
    END IF;
  END LOOP;
  PERFORM set_config('labloop.audit_sealing', 'on', true);
  UPDATE audit_log AS a
     SET seq = b.seq, prev_hash = b.prev_hash, row_hash = b.row_hash
    FROM unnest(entry_ids, seqs, prev_hashes, row_hashes) AS b(entry_id, seq, prev_hash, row_hash)
   WHERE a.entry_id = b.entry_id AND a.seq IS NULL;
  GET DIAGNOSTICS updated = ROW_COUNT;
  PERFORM set_config('labloop.audit_sealing', 'off', true);
  IF updated <> n THEN
    RAISE EXCEPTION 'audit_log_seal: % of % entries were not waiting to be sealed', n - updated, n;
  END IF;
  RETURN updated;
END
$$;
REVOKE ALL ON FUNCTION audit_log_seal(BIGINT[], BIGINT[], TEXT[], TEXT[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log_seal(BIGINT[], BIGINT[], TEXT[], TEXT[]) TO labloop_app;
GRANT USAGE ON SEQUENCE audit_log_entry_id_seq TO labloop_app;

-- Down Migration
-- Only when every row is sealed: unsealed rows have no place in the old, always-sealed table.
DROP FUNCTION audit_log_seal(BIGINT[], BIGINT[], TEXT[], TEXT[]);
DROP TRIGGER audit_log_no_update ON audit_log;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
DROP FUNCTION audit_log_refuse_change_but_seal();
DROP INDEX audit_log_unsealed;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_sealed_together;
ALTER TABLE audit_log ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL,
  ALTER COLUMN row_hash SET NOT NULL;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_seq_key;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (seq);
ALTER TABLE audit_log DROP COLUMN entry_id;
