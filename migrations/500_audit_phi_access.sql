-- Up Migration

-- Reading PHI is audited too (HIPAA access logging): a provider opening a result in the review app,
-- an operator decrypting payloads through the codec endpoint. A codec decode does not know which
-- practice a payload belongs to, so 'phi-access' may, like 'export', have no practice.
-- (Schema changes are not row changes: the append-only triggers refuse UPDATE/DELETE/TRUNCATE only.)
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (
  action IN (
    'ingest', 'routing-decision', 'hold', 'release', 'escalation', 'page', 'call-task', 'send-intent',
    'send', 'delivery-status', 'consent-change', 'sign-off', 'annotation', 'fallback', 'phi-rewrite',
    'correction', 'cancel', 'patient-reply', 'export', 'phi-access'
  )
);
ALTER TABLE audit_log DROP CONSTRAINT audit_log_practice_required;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_practice_required CHECK (
  practice_id IS NOT NULL OR action IN ('export', 'phi-access')
);

-- Down Migration
ALTER TABLE audit_log DROP CONSTRAINT audit_log_practice_required;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_practice_required CHECK (practice_id IS NOT NULL OR action = 'export');
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (
  action IN (
    'ingest', 'routing-decision', 'hold', 'release', 'escalation', 'page', 'call-task', 'send-intent',
    'send', 'delivery-status', 'consent-change', 'sign-off', 'annotation', 'fallback', 'phi-rewrite',
    'correction', 'cancel', 'patient-reply', 'export'
  )
);
