export {
  AUDIT_ACTIONS,
  AUDIT_ACTOR_TYPES,
  type AuditAction,
  type AuditActor,
  type AuditActorType,
  type AuditEventInput,
  type JsonValue,
} from '../../domain/audit-event';
import type { AuditAction, AuditActorType, AuditEventInput, JsonValue } from '../../domain/audit-event';

export interface AppendResult {
  seq: number;
  rowHash: string;
  /** True when the idempotency key was already used and the existing row is returned. */
  duplicate: boolean;
}

/** The narrow interface activities depend on (easy to fake in workflow tests). */
export interface AuditSink {
  append(event: AuditEventInput): Promise<AppendResult>;
}

/**
 * One stored row exactly as it is hashed and exported: snake_case column names, `seq` as a
 * decimal string (BIGINT), timestamps as ISO-8601 UTC with milliseconds, nulls explicit.
 */
export interface AuditRecord {
  seq: string;
  occurred_at: string;
  recorded_at: string;
  practice_id: string | null;
  workflow_id: string | null;
  result_ref: string | null;
  patient_id: string | null;
  actor_type: AuditActorType;
  actor_id: string;
  action: AuditAction;
  channel: string | null;
  template: string | null;
  variant: string | null;
  outcome: string;
  details: { [key: string]: JsonValue };
  idempotency_key: string | null;
  prev_hash: string;
}

/** A stored row with its own hash. */
export interface StoredAuditRecord extends AuditRecord {
  row_hash: string;
}
