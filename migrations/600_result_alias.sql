-- Up Migration

-- One lab result can reach labloop through two sources: the lab's own HL7 feed and athena (its
-- webhooks and changed-data feed), each naming it differently (a filler order number in the lab's
-- namespace, a labresultid in athena's). This table maps every key a source gives a result to the
-- one result reference (the digest in `lab-result-{practice}-{ref}`) of the workflow that owns it:
--
-- - kind 'identity': a source identity's own reference (resultRef of practice, issuer, ID), mapped to
--   itself when that source saw the result first, or to the reference of the result it was linked to;
-- - kind 'link': a keyed digest of what two sources share (the lab's accession number, the panel's
--   LOINC and the patient's ID), mapped to the result that first carried it. `source` says which
--   source that was: a link joins results of different sources only (two labs' HL7 results never
--   merge through it; their filler numbers are only unique per lab).
--
-- Rows are written at hand-off before the message is acknowledged, by INSERT ... ON CONFLICT DO
-- NOTHING followed by a read, so whichever source arrives first defines the result and every later
-- source resolves to it, also when both arrive at once. A key, once mapped, is never remapped.
-- Digests only: no accession number, patient ID or result ID is stored in the clear.
CREATE TABLE result_alias (
  practice_id TEXT NOT NULL,
  alias_ref TEXT NOT NULL,
  result_ref TEXT NOT NULL CHECK (result_ref ~ '^[a-z0-9]{16,64}$'),
  kind TEXT NOT NULL CHECK (kind IN ('identity', 'link')),
  -- The source (hl7, fhir, athena) that wrote the row.
  source TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (practice_id, alias_ref)
);
-- A result carries one link key: the first it was seen with. An HL7 identity (a filler order number)
-- may cover several panels, while athena files one document per panel; linking only the first keeps
-- every other panel's athena document a result of its own instead of folding it into this one.
CREATE UNIQUE INDEX result_alias_one_link_per_result ON result_alias (practice_id, result_ref) WHERE kind = 'link';

-- Results handed off before this table existed keep their own workflows: each workflow reference
-- recorded in the ingest log is registered as its own identity.
INSERT INTO result_alias (practice_id, alias_ref, result_ref, kind, source)
SELECT DISTINCT ON (m.practice_id, substring(w FROM '-([a-z0-9]{16,64})$'))
       m.practice_id, substring(w FROM '-([a-z0-9]{16,64})$'), substring(w FROM '-([a-z0-9]{16,64})$'), 'identity', m.source
  FROM ingest_message m, unnest(m.workflow_ids) AS w
 WHERE w ~ '^lab-result-[A-Za-z0-9_-]{1,64}-[a-z0-9]{16,64}$'
ON CONFLICT DO NOTHING;

-- Down Migration
DROP TABLE result_alias;
