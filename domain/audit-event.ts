/**
 * The audit event as its producers write it: what can be audited, by whom, and the event itself.
 * The workflow builds these (its commands carry them to the audit activity), so they live in domain/;
 * lib/audit/ stores, chains and exports them.
 */
import type { Channel } from './vocabulary';

/**
 * What can be audited. Keep in step with the CHECK constraint on audit_log.action in
 * migrations/100_audit_log.sql (test/integration/audit-append.test.ts compares the two).
 */
export const AUDIT_ACTIONS = [
  'ingest',
  'routing-decision',
  'hold',
  'release',
  'escalation',
  'page',
  'call-task',
  'send-intent',
  'send',
  'delivery-status',
  'consent-change',
  'sign-off',
  'annotation',
  'fallback',
  'phi-rewrite',
  'correction',
  'cancel',
  'patient-reply',
  // Exports of the log are themselves audited.
  'export',
  // Reading PHI: a result opened in the review app, payloads decrypted through the codec endpoint.
  'phi-access',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who did it: a provider or staff member (by staff id), the system, the patient, or the result's source. */
export const AUDIT_ACTOR_TYPES = ['provider', 'staff', 'system', 'patient', 'source'] as const;
export type AuditActorType = (typeof AUDIT_ACTOR_TYPES)[number];

export interface AuditActor {
  type: AuditActorType;
  /** Staff id, service name ("worker", "api"), source name; never a person's name. */
  id: string;
}

/** A JSON value as PostgreSQL jsonb can hold it: finite numbers, well-formed strings without NUL. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One event to append. No PHI anywhere in it: identifiers, codes, counts and outcomes only. */
export interface AuditEventInput {
  /** When it happened (ISO-8601 with offset). Stored and hashed at millisecond precision. */
  occurredAt: string;
  /** Required for every action except 'export' and 'phi-access' (a codec decode knows no practice). */
  practiceId: string | null;
  /** The lab-result workflow, when the event belongs to one (a consent change or export may not). */
  workflowId?: string;
  /** The opaque result reference (the digest in the workflow ID), when known. */
  resultRef?: string;
  /** The practice's internal patient id; never a name, phone number or date of birth. */
  patientId?: string;
  actor: AuditActor;
  action: AuditAction;
  channel?: Channel;
  template?: string;
  variant?: string;
  /** Short outcome token, e.g. "sent", "held-quiet-hours", "permanent-failure". */
  outcome: string;
  /** Extra identifiers and codes (no PHI values, by contract). A JSON object. */
  details?: Record<string, JsonValue>;
  /**
   * Makes the append idempotent: a second append with the same key returns the first row
   * (`duplicate: true`). Retried callers (Temporal activities) must set it, e.g. from
   * `${workflowId}:${activityId}` so every attempt of one activity shares it.
   */
  idempotencyKey?: string;
}
