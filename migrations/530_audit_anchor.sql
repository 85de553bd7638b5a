-- Up Migration

-- Anchors of the audit chain (lib/audit/anchor.ts): the head (seq, row_hash) recorded every 100th
-- append, on every export and periodically by the worker. A hash chain cannot show rows cut off its
-- end; `npm run audit:verify` checks the chain against these and names a missing or changed
-- anchored row as "rows deleted after seq N".
--
-- Protected like audit_log: triggers refuse UPDATE, DELETE and TRUNCATE for everyone, and the
-- application role may only SELECT and INSERT (the default privileges of 510_app_role_grants.sql
-- would give it more, so they are taken back here).
-- Someone who can switch the triggers off can delete anchors too, which is why exports carry the
-- head as well, for storage outside the database.
CREATE TABLE audit_anchor (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  head_seq BIGINT NOT NULL CHECK (head_seq >= 1),
  head_hash TEXT NOT NULL CHECK (head_hash ~ '^[0-9a-f]{64}$'),
  anchored_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
  reason TEXT NOT NULL CHECK (reason IN ('append', 'periodic', 'export', 'manual'))
);
CREATE INDEX audit_anchor_head ON audit_anchor (head_seq, id);

CREATE FUNCTION audit_anchor_refuse_change() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  RAISE EXCEPTION 'audit_anchor is append-only: % is refused', TG_OP;
END
$$;

CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor
  FOR EACH ROW EXECUTE FUNCTION audit_anchor_refuse_change();
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
  FOR EACH ROW EXECUTE FUNCTION audit_anchor_refuse_change();
CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit_anchor
  FOR EACH STATEMENT EXECUTE FUNCTION audit_anchor_refuse_change();

-- An anchor states what the chain held: it must name a row that exists with exactly that hash, so a
-- buggy or careless writer cannot record a head that would later look like deleted rows.
CREATE FUNCTION audit_anchor_check_head() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.head_seq AND row_hash = NEW.head_hash) THEN
    RAISE EXCEPTION 'audit_anchor: no audit_log row % with hash %', NEW.head_seq, NEW.head_hash;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER audit_anchor_head_exists BEFORE INSERT ON audit_anchor
  FOR EACH ROW EXECUTE FUNCTION audit_anchor_check_head();

REVOKE ALL ON audit_anchor FROM PUBLIC;
REVOKE ALL ON audit_anchor FROM labloop_app;
GRANT SELECT, INSERT ON audit_anchor TO labloop_app;

-- Down Migration
DROP TABLE audit_anchor;
DROP FUNCTION audit_anchor_check_head();
DROP FUNCTION audit_anchor_refuse_change();
