import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { ACUITIES, RESULT_STATUSES } from '../domain/lab-result';
import { WORKFLOW_STATES, type WorkflowState } from '../workflows/definitions';
import type { LabloopActivities, ReviewItem } from '../domain/activity-contract';
import type { ActivityDeps } from './deps';

/** Failure type of a snapshot that can never be stored (a bug in the caller, not a passing fault). */
export const INVALID_REVIEW_ITEM_ERROR = 'InvalidReviewItemError';

/**
 * Where each state sits in a result's usual progression within one version. Used only to order
 * snapshots of the same version that carry no snapshot time: a retried, older snapshot must not
 * overwrite a newer one. Fallback comes before notified because the fallback channel still ends in
 * "notified"; closed is last.
 */
export const STATE_RANK: Readonly<Record<WorkflowState, number>> = {
  'awaiting-final': 0,
  'awaiting-sign-off': 1,
  escalated: 2,
  'critical-call': 3,
  notifying: 4,
  fallback: 5,
  notified: 6,
  closed: 7,
};

const isoInstant = z.iso.datetime({ offset: true });

const ReviewItemSchema = z.object({
  workflowId: z.string().min(1),
  practiceId: z.string().min(1),
  patientId: z.string().min(1),
  patientName: z.string().optional(),
  panelName: z.string().optional(),
  orderingProviderId: z.string().optional(),
  acuity: z.enum(ACUITIES),
  resultStatus: z.enum(RESULT_STATUSES),
  state: z.enum(WORKFLOW_STATES),
  signed: z.boolean(),
  signedBy: z.string().optional(),
  signedAt: isoInstant.optional(),
  receivedAt: isoInstant,
  slaDeadline: isoInstant.optional(),
  escalationLevel: z.number().int().min(0),
  criticalPagedAt: isoInstant.optional(),
  version: z.number().int().min(0),
  updatedAt: isoInstant.optional(),
});

/**
 * Stores a snapshot unless the stored row is newer. "Newer" is decided in the statement itself (not
 * read-then-write), so two concurrent upserts of the same workflow cannot both win: a higher version
 * wins; within a version, the later snapshot time when both rows have one, else the further progress
 * (signed, then escalation level, then state rank). An equal snapshot is re-applied (a plain retry).
 */
const UPSERT_SQL = `
INSERT INTO review_item AS stored (
  workflow_id, practice_id, patient_id, patient_name, panel_name, ordering_provider_id, acuity,
  result_status, state, state_rank, signed, signed_by, signed_at, received_at, sla_deadline,
  escalation_level, critical_paged_at, version, snapshot_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, now())
ON CONFLICT (workflow_id) DO UPDATE SET
  practice_id = EXCLUDED.practice_id,
  patient_id = EXCLUDED.patient_id,
  patient_name = EXCLUDED.patient_name,
  panel_name = EXCLUDED.panel_name,
  ordering_provider_id = EXCLUDED.ordering_provider_id,
  acuity = EXCLUDED.acuity,
  result_status = EXCLUDED.result_status,
  state = EXCLUDED.state,
  state_rank = EXCLUDED.state_rank,
  signed = EXCLUDED.signed,
  signed_by = EXCLUDED.signed_by,
  signed_at = EXCLUDED.signed_at,
  received_at = EXCLUDED.received_at,
  sla_deadline = EXCLUDED.sla_deadline,
  escalation_level = EXCLUDED.escalation_level,
  critical_paged_at = EXCLUDED.critical_paged_at,
  version = EXCLUDED.version,
  snapshot_at = EXCLUDED.snapshot_at,
  updated_at = now()
WHERE EXCLUDED.version > stored.version
   OR (EXCLUDED.version = stored.version AND (
        CASE WHEN EXCLUDED.snapshot_at IS NOT NULL AND stored.snapshot_at IS NOT NULL
               AND EXCLUDED.snapshot_at <> stored.snapshot_at
             THEN EXCLUDED.snapshot_at > stored.snapshot_at
             ELSE (EXCLUDED.signed::int, EXCLUDED.escalation_level, EXCLUDED.state_rank)
                  >= (stored.signed::int, stored.escalation_level, stored.state_rank)
        END))`;

/** Parse a snapshot; a malformed one fails for good with the field named (retrying cannot fix it). */
export function parseReviewItem(item: unknown): ReviewItem {
  const parsed = ReviewItemSchema.safeParse(item);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'item'}: ${i.message}`).join('; ');
  throw ApplicationFailure.nonRetryable(`review item rejected: ${problems}`, INVALID_REVIEW_ITEM_ERROR);
}

export function createReviewItemActivities(
  deps: Pick<ActivityDeps, 'pool'>,
): Pick<LabloopActivities, 'upsertReviewItem'> {
  return {
    /** Update the review queue's row for this workflow, ignoring a snapshot older than the stored one. */
    async upsertReviewItem(input: ReviewItem): Promise<void> {
      const item = parseReviewItem(input);
      await deps.pool.query(UPSERT_SQL, [
        item.workflowId,
        item.practiceId,
        item.patientId,
        item.patientName ?? null,
        item.panelName ?? null,
        item.orderingProviderId ?? null,
        item.acuity,
        item.resultStatus,
        item.state,
        STATE_RANK[item.state],
        item.signed,
        item.signedBy ?? null,
        item.signedAt ?? null,
        item.receivedAt,
        item.slaDeadline ?? null,
        item.escalationLevel,
        item.criticalPagedAt ?? null,
        item.version,
        item.updatedAt ?? null,
      ]);
    },
  };
}
