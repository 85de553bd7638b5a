-- Up Migration

-- The review queue's read model: one row per lab-result workflow, written by the workflow through
-- the upsertReviewItem activity, read by the review app (the queue never asks Temporal). Holds what
-- the queue shows (patient name and panel are PHI, shown only to signed-in staff); the result's
-- values stay in Temporal and are fetched by query for the detail page.
--
-- Snapshots can arrive out of order (an activity retried after a later one succeeded), so a row is
-- only replaced by a snapshot that is not older: a higher result version wins; within a version, the
-- later workflow time (snapshot_at) when both have one, else the further progress
-- (signed, escalation level, state rank). See activities/review-items.ts.
CREATE TABLE review_item (
  workflow_id TEXT PRIMARY KEY,
  practice_id TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  patient_name TEXT,
  panel_name TEXT,
  ordering_provider_id TEXT,
  acuity TEXT NOT NULL CHECK (acuity IN ('normal', 'abnormal', 'critical')),
  result_status TEXT NOT NULL CHECK (result_status IN ('preliminary', 'final', 'corrected', 'cancelled')),
  state TEXT NOT NULL,
  -- Position of `state` in the workflow's usual progression (activities/review-items.ts).
  state_rank SMALLINT NOT NULL,
  signed BOOLEAN NOT NULL,
  signed_by TEXT,
  signed_at TIMESTAMPTZ,
  received_at TIMESTAMPTZ NOT NULL,
  sla_deadline TIMESTAMPTZ,
  escalation_level INTEGER NOT NULL DEFAULT 0 CHECK (escalation_level >= 0),
  critical_paged_at TIMESTAMPTZ,
  version INTEGER NOT NULL CHECK (version >= 0),
  -- Workflow time of the snapshot, when the workflow sends it.
  snapshot_at TIMESTAMPTZ,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The queue: a practice's unsigned results, criticals first, by deadline.
CREATE INDEX review_item_queue ON review_item (practice_id, (acuity = 'critical') DESC, sla_deadline, received_at)
  WHERE NOT signed AND state <> 'closed';

-- Down Migration
DROP TABLE review_item;
