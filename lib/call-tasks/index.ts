import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { CallCompletedEvent } from '../../workflows/definitions';

/**
 * Outbound-call tasks (table `call_task`, migrations/210_call_task.sql): created by the
 * `createCallTask` activity (mirrored as an athena patient case when the practice uses athena),
 * listed and completed by staff in the review app, whose completion is signalled to the workflow
 * (`callCompletedSignal`, with the workflow ID `completeCallTask` returns). IDs and codes only: the
 * table holds no names or numbers.
 */

type Db = Pool | PoolClient;

export const CALL_TASK_REASONS = [
  'critical-result',
  'abnormal-unread',
  'no-reachable-channel',
  'channel-fallback',
] as const;
export type CallTaskReason = (typeof CALL_TASK_REASONS)[number];
export type CallTaskOutcome = CallCompletedEvent['outcome'];
export const CALL_TASK_OUTCOMES = [
  'reached',
  'voicemail',
  'no-answer',
  'wrong-number',
] as const satisfies readonly CallTaskOutcome[];

export interface CallTask {
  id: string;
  workflowId: string;
  practiceId: string;
  patientId: string;
  reason: CallTaskReason;
  priority: 'urgent' | 'normal';
  /** Staff ID the task is assigned to, if any. */
  assignedTo?: string;
  athenaCaseId?: string;
  status: 'open' | 'completed' | 'cancelled';
  outcome?: CallTaskOutcome;
  completedBy?: string;
  createdAt: Date;
  completedAt?: Date;
}

interface CallTaskRow {
  id: string;
  workflow_id: string;
  practice_id: string;
  patient_id: string;
  reason: CallTaskReason;
  priority: 'urgent' | 'normal';
  assigned_to: string | null;
  athena_case_id: string | null;
  status: CallTask['status'];
  outcome: CallTaskOutcome | null;
  completed_by: string | null;
  created_at: Date;
  completed_at: Date | null;
}

const COLUMNS =
  'id, workflow_id, practice_id, patient_id, reason, priority, assigned_to, athena_case_id, status, outcome, completed_by, created_at, completed_at';

function toTask(r: CallTaskRow): CallTask {
  return {
    id: r.id,
    workflowId: r.workflow_id,
    practiceId: r.practice_id,
    patientId: r.patient_id,
    reason: r.reason,
    priority: r.priority,
    ...(r.assigned_to !== null ? { assignedTo: r.assigned_to } : {}),
    ...(r.athena_case_id !== null ? { athenaCaseId: r.athena_case_id } : {}),
    status: r.status,
    ...(r.outcome !== null ? { outcome: r.outcome } : {}),
    ...(r.completed_by !== null ? { completedBy: r.completed_by } : {}),
    createdAt: r.created_at,
    ...(r.completed_at !== null ? { completedAt: r.completed_at } : {}),
  };
}

/** The task ID for an outbox key: deterministic, so a retried activity finds its own task. */
export function callTaskIdFor(idempotencyKey: string): string {
  return `ct_${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 24)}`;
}

export interface NewCallTask {
  /** The outbox key of the step that asked for the call. */
  idempotencyKey: string;
  workflowId: string;
  practiceId: string;
  patientId: string;
  reason: CallTaskReason;
  priority: 'urgent' | 'normal';
  assignedTo?: string;
}

/** Create the task once per key; a repeat returns the existing task with `created: false`. */
export async function insertCallTask(db: Db, input: NewCallTask): Promise<{ task: CallTask; created: boolean }> {
  const inserted = await db.query<CallTaskRow>(
    `INSERT INTO call_task (id, idempotency_key, workflow_id, practice_id, patient_id, reason, priority, assigned_to)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING ${COLUMNS}`,
    [
      callTaskIdFor(input.idempotencyKey),
      input.idempotencyKey,
      input.workflowId,
      input.practiceId,
      input.patientId,
      input.reason,
      input.priority,
      input.assignedTo ?? null,
    ],
  );
  if (inserted.rows[0] !== undefined) return { task: toTask(inserted.rows[0]), created: true };
  const { rows } = await db.query<CallTaskRow>(`SELECT ${COLUMNS} FROM call_task WHERE idempotency_key = $1`, [
    input.idempotencyKey,
  ]);
  const existing = rows[0];
  if (existing === undefined) throw new Error('call task vanished after a conflicting insert');
  return { task: toTask(existing), created: false };
}

/** Remember the athena patient case that mirrors the task. */
export async function setCallTaskAthenaCase(db: Db, id: string, athenaCaseId: string): Promise<void> {
  await db.query(`UPDATE call_task SET athena_case_id = $2 WHERE id = $1`, [id, athenaCaseId]);
}

/** Open tasks of a practice, urgent first, then oldest first. */
export async function listOpenCallTasks(pool: Db, practiceId: string): Promise<CallTask[]> {
  const { rows } = await pool.query<CallTaskRow>(
    `SELECT ${COLUMNS} FROM call_task WHERE practice_id = $1 AND status = 'open'
     ORDER BY (priority = 'urgent') DESC, created_at, id`,
    [practiceId],
  );
  return rows.map(toTask);
}

export async function getCallTask(pool: Db, id: string): Promise<CallTask | undefined> {
  const { rows } = await pool.query<CallTaskRow>(`SELECT ${COLUMNS} FROM call_task WHERE id = $1`, [id]);
  return rows[0] === undefined ? undefined : toTask(rows[0]);
}

export class CallTaskError extends Error {
  constructor(
    readonly reason: 'not-found' | 'cancelled' | 'invalid-outcome',
    message: string,
  ) {
    super(message);
    this.name = 'CallTaskError';
  }
}

export interface CompletedCallTask {
  /** The workflow to send `callCompletedSignal` to. */
  workflowId: string;
  task: CallTask;
  /** True when the task was already completed (a double submit): the first completion stands. */
  alreadyCompleted: boolean;
}

/**
 * Complete an open task. Idempotent: completing it again returns the first completion with
 * `alreadyCompleted: true` (signalling again is harmless: the workflow keys on the task ID).
 * Throws CallTaskError for an unknown or cancelled task, or an outcome that is not a call outcome.
 */
export async function completeCallTask(
  pool: Db,
  input: { id: string; staffId: string; outcome: CallTaskOutcome; practiceId?: string },
): Promise<CompletedCallTask> {
  if (!(CALL_TASK_OUTCOMES as readonly string[]).includes(input.outcome)) {
    throw new CallTaskError('invalid-outcome', `outcome must be one of ${CALL_TASK_OUTCOMES.join(', ')}`);
  }
  const { rows } = await pool.query<CallTaskRow>(
    `UPDATE call_task SET status = 'completed', outcome = $2, completed_by = $3, completed_at = now()
     WHERE id = $1 AND status = 'open' AND ($4::text IS NULL OR practice_id = $4)
     RETURNING ${COLUMNS}`,
    [input.id, input.outcome, input.staffId, input.practiceId ?? null],
  );
  if (rows[0] !== undefined) return { workflowId: rows[0].workflow_id, task: toTask(rows[0]), alreadyCompleted: false };
  const existing = await getCallTask(pool, input.id);
  if (existing === undefined || (input.practiceId !== undefined && existing.practiceId !== input.practiceId)) {
    throw new CallTaskError('not-found', `no call task ${input.id}`);
  }
  if (existing.status === 'cancelled') throw new CallTaskError('cancelled', `call task ${input.id} was cancelled`);
  return { workflowId: existing.workflowId, task: existing, alreadyCompleted: true };
}
