import { onCallStaffAt } from '../../domain/on-call';
import type { Pool } from 'pg';
import type { Acuity, ResultStatus } from '../../domain/lab-result';
import type { ReviewItem } from '../../domain/activity-contract';
import type { PracticePolicy, StaffMember } from '../../domain/practice';
import type { WorkflowState } from '../../domain/vocabulary';
import { providerIdentifiers } from './staff';

/**
 * The review queue, read from the `review_item` read model (migrations/410_review_item.sql), never
 * from Temporal; this module is the only one that writes it (the workflow's snapshots). Criticals are pinned on top, then the earliest sign-off deadline first; results
 * without a deadline go last, oldest first.
 *
 * Scopes:
 * - "mine" (a provider's default): results they ordered; and, for the practice's on-call provider,
 *   everything escalated past the ordering provider, every critical that paged on-call, and every
 *   result whose ordering provider is not a provider of the practice (otherwise nobody would own it).
 * - "practice": every unsigned result of the practice (staff and administrators, or a provider covering).
 */

export const QUEUE_SCOPES = ['mine', 'practice'] as const;
export type QueueScope = (typeof QUEUE_SCOPES)[number];

/** A screenful and then some; a practice with more unsigned results than this has a bigger problem. */
export const QUEUE_PAGE_LIMIT = 200;

export interface QueueItem {
  workflowId: string;
  patientId: string;
  patientName?: string;
  panelName?: string;
  orderingProviderId?: string;
  acuity: Acuity;
  resultStatus: ResultStatus;
  state: WorkflowState;
  receivedAt: Date;
  slaDeadline?: Date;
  escalationLevel: number;
  criticalPagedAt?: Date;
  version: number;
}

interface Row {
  workflow_id: string;
  patient_id: string;
  patient_name: string | null;
  panel_name: string | null;
  ordering_provider_id: string | null;
  acuity: Acuity;
  result_status: ResultStatus;
  state: WorkflowState;
  received_at: Date;
  sla_deadline: Date | null;
  escalation_level: number;
  critical_paged_at: Date | null;
  version: number;
}

function toItem(row: Row): QueueItem {
  return {
    workflowId: row.workflow_id,
    patientId: row.patient_id,
    ...(row.patient_name === null ? {} : { patientName: row.patient_name }),
    ...(row.panel_name === null ? {} : { panelName: row.panel_name }),
    ...(row.ordering_provider_id === null ? {} : { orderingProviderId: row.ordering_provider_id }),
    acuity: row.acuity,
    resultStatus: row.result_status,
    state: row.state,
    receivedAt: row.received_at,
    ...(row.sla_deadline === null ? {} : { slaDeadline: row.sla_deadline }),
    escalationLevel: row.escalation_level,
    ...(row.critical_paged_at === null ? {} : { criticalPagedAt: row.critical_paged_at }),
    version: row.version,
  };
}

const COLUMNS = `workflow_id, patient_id, patient_name, panel_name, ordering_provider_id, acuity, result_status, state,
  received_at, sla_deadline, escalation_level, critical_paged_at, version`;
const UNSIGNED = `practice_id = $1 AND NOT signed AND state <> 'closed' AND result_status <> 'cancelled'`;
const QUEUE_ORDER = `(acuity = 'critical') DESC, sla_deadline ASC NULLS LAST, received_at ASC, workflow_id ASC`;

export async function listQueue(
  pool: Pool,
  options: { practice: PracticePolicy; scope: QueueScope; viewer: StaffMember; limit?: number; now?: Date },
): Promise<QueueItem[]> {
  const limit = options.limit ?? QUEUE_PAGE_LIMIT;
  if (options.scope === 'practice') {
    const { rows } = await pool.query<Row>(
      `SELECT ${COLUMNS} FROM review_item WHERE ${UNSIGNED} ORDER BY ${QUEUE_ORDER} LIMIT $2`,
      [options.practice.practiceId, limit],
    );
    return rows.map(toItem);
  }
  // The default on-call provider always sees escalations; so does whoever the rota names right now.
  const onCallNow = onCallStaffAt(
    (options.now ?? new Date()).toISOString(),
    options.practice.calendar.timeZone,
    options.practice.onCallSchedule ?? [],
    options.practice.onCallProviderId,
  ).staffId;
  const isOnCall = options.viewer.id === options.practice.onCallProviderId || options.viewer.id === onCallNow;
  const practiceProviders = options.practice.staff.filter((s) => s.role === 'provider').flatMap(providerIdentifiers);
  const { rows } = await pool.query<Row>(
    `SELECT ${COLUMNS} FROM review_item
     WHERE ${UNSIGNED}
       AND (ordering_provider_id = ANY($2::text[])
            OR ($3::boolean AND (escalation_level >= 1 OR critical_paged_at IS NOT NULL
                                 OR ordering_provider_id IS NULL OR NOT (ordering_provider_id = ANY($4::text[])))))
     ORDER BY ${QUEUE_ORDER} LIMIT $5`,
    [options.practice.practiceId, providerIdentifiers(options.viewer), isOnCall, practiceProviders, limit],
  );
  return rows.map(toItem);
}

/** One result's row, if the read model has it and it belongs to this practice. */
export async function findReviewItem(
  pool: Pool,
  practiceId: string,
  workflowId: string,
): Promise<QueueItem | undefined> {
  const { rows } = await pool.query<Row>(
    `SELECT ${COLUMNS} FROM review_item WHERE workflow_id = $1 AND practice_id = $2`,
    [workflowId, practiceId],
  );
  const row = rows[0];
  return row === undefined ? undefined : toItem(row);
}

/**
 * Where each state sits in a result's usual progression within one version. Used only to order
 * snapshots of the same version that carry no snapshot time: a retried, older snapshot must not
 * overwrite a newer one. Fallback comes before notified because the fallback channel still ends in
 * "notified"; closed is last.
 */
const STATE_RANK: Readonly<Record<WorkflowState, number>> = {
  'awaiting-final': 0,
  'awaiting-sign-off': 1,
  escalated: 2,
  'critical-call': 3,
  notifying: 4,
  fallback: 5,
  notified: 6,
  closed: 7,
};

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

/** Store a workflow's snapshot in the queue's row for it, unless the stored row is newer. */
export async function storeReviewItem(db: Pick<Pool, 'query'>, item: ReviewItem): Promise<void> {
  await db.query(UPSERT_SQL, [
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
}

/** When a workflow's result was received and its on-call provider paged, as the queue's row has them (metrics). */
export interface ReviewTimes {
  acuity: string;
  received_at: Date;
  critical_paged_at: Date | null;
}

export async function reviewTimesOf(db: Pick<Pool, 'query'>, workflowId: string): Promise<ReviewTimes | undefined> {
  const { rows } = await db.query<ReviewTimes>(
    `SELECT acuity, received_at, critical_paged_at FROM review_item WHERE workflow_id = $1`,
    [workflowId],
  );
  return rows[0];
}

const BACKLOG_SQL = `
SELECT practice_id, acuity,
       CASE WHEN age < interval '1 hour' THEN 'lt-1h'
            WHEN age < interval '4 hours' THEN '1h-4h'
            WHEN age < interval '24 hours' THEN '4h-24h'
            WHEN age < interval '3 days' THEN '1d-3d'
            ELSE 'gt-3d' END AS age,
       count(*)::int AS n
FROM (SELECT practice_id, acuity, now() - received_at AS age FROM review_item WHERE NOT signed AND state <> 'closed') q
GROUP BY 1, 2, 3`;

/** One cell of the unsigned backlog: results not signed and not closed, by practice, acuity and age bucket. */
export interface UnsignedBacklogRow {
  practice_id: string;
  acuity: string;
  age: string;
  n: number;
}

/** The unsigned backlog (the metrics gauge reads it at scrape time). */
export async function unsignedBacklog(db: Pick<Pool, 'query'>): Promise<UnsignedBacklogRow[]> {
  const { rows } = await db.query<UnsignedBacklogRow>(BACKLOG_SQL);
  return rows;
}
