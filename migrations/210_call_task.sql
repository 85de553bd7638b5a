-- Up Migration

-- Outbound-call work for staff (critical results, unread abnormal threads, unreachable patients).
-- Mirrors the athena patient case when one was created; staff complete it in the review app, which
-- signals the workflow.
CREATE TABLE call_task (
  id TEXT PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE,
  workflow_id TEXT NOT NULL,
  practice_id TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  reason TEXT NOT NULL CHECK (reason IN ('critical-result', 'abnormal-unread', 'no-reachable-channel', 'channel-fallback')),
  priority TEXT NOT NULL CHECK (priority IN ('urgent', 'normal')),
  assigned_to TEXT,
  athena_case_id TEXT,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'cancelled')),
  outcome TEXT,
  completed_by TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  completed_at TIMESTAMPTZ
);
CREATE INDEX call_task_open ON call_task (practice_id, created_at) WHERE status = 'open';
CREATE INDEX call_task_workflow ON call_task (workflow_id);

-- Down Migration
DROP TABLE call_task;
