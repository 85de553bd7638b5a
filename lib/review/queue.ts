import { onCallStaffAt } from '../../domain/on-call';
import type { Pool } from 'pg';
import type { Acuity, ResultStatus } from '../../domain/lab-result';
import type { PracticePolicy, StaffMember } from '../../domain/practice';
import type { WorkflowState } from '../../domain/vocabulary';
import { providerIdentifiers } from './staff';

/**
 * The review queue, read from the `review_item` read model (migrations/410_review_item.sql), never
 * from Temporal. Criticals are pinned on top, then the earliest sign-off deadline first; results
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
