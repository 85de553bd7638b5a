import type { Pool } from 'pg';
import type { Acuity } from '../../domain/lab-result';
import { CALL_TASK_OUTCOMES, CallTaskError, completeCallTask, type CallTaskReason } from '../call-tasks';

/**
 * Outbound-call tasks as staff work them in the review app: the open tasks of `call_task`
 * (migrations/210_call_task.sql) joined with the review queue's row (patient name, panel) and the
 * workflow's patient link (the number to call), which lib/call-tasks' plain list does not carry;
 * completion goes through lib/call-tasks inside a transaction with the workflow signal.
 */

/** The outcomes staff can record for a call: the call-task outcomes, in the order the form lists them. */
export const CALL_OUTCOMES = CALL_TASK_OUTCOMES;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

export const CALL_OUTCOME_LABELS: Readonly<Record<CallOutcome, string>> = {
  reached: 'Reached the patient',
  voicemail: 'Left a voicemail',
  'no-answer': 'No answer',
  'wrong-number': 'Wrong number',
};

export const CALL_REASON_LABELS: Readonly<Record<string, string>> = {
  'critical-result': 'Critical result',
  'abnormal-unread': 'Abnormal result not read',
  'no-reachable-channel': 'No way to reach the patient',
  'channel-fallback': 'Messaging failed',
} satisfies Record<CallTaskReason, string>;

/** Same bound as the queue: more open calls than this is a staffing problem, not a paging one. */
export const CALL_TASK_PAGE_LIMIT = 200;

export interface OpenCallTask {
  id: string;
  workflowId: string;
  patientId: string;
  patientName?: string;
  panelName?: string;
  acuity?: Acuity;
  phone?: string;
  reason: string;
  priority: 'urgent' | 'normal';
  assignedTo?: string;
  createdAt: Date;
}

export async function listOpenCallTasks(pool: Pool, practiceId: string): Promise<OpenCallTask[]> {
  const { rows } = await pool.query<{
    id: string;
    workflow_id: string;
    patient_id: string;
    patient_name: string | null;
    panel_name: string | null;
    acuity: Acuity | null;
    phone_e164: string | null;
    reason: string;
    priority: 'urgent' | 'normal';
    assigned_to: string | null;
    created_at: Date;
  }>(
    `SELECT t.id, t.workflow_id, t.patient_id, r.patient_name, r.panel_name, r.acuity, p.phone_e164,
            t.reason, t.priority, t.assigned_to, t.created_at
     FROM call_task t
     LEFT JOIN review_item r ON r.workflow_id = t.workflow_id
     LEFT JOIN workflow_patient p ON p.workflow_id = t.workflow_id
     WHERE t.practice_id = $1 AND t.status = 'open'
     ORDER BY (t.priority = 'urgent') DESC, t.created_at ASC, t.id ASC
     LIMIT $2`,
    [practiceId, CALL_TASK_PAGE_LIMIT],
  );
  return rows.map((r) => ({
    id: r.id,
    workflowId: r.workflow_id,
    patientId: r.patient_id,
    ...(r.patient_name === null ? {} : { patientName: r.patient_name }),
    ...(r.panel_name === null ? {} : { panelName: r.panel_name }),
    ...(r.acuity === null ? {} : { acuity: r.acuity }),
    ...(r.phone_e164 === null ? {} : { phone: r.phone_e164 }),
    reason: r.reason,
    priority: r.priority,
    ...(r.assigned_to === null ? {} : { assignedTo: r.assigned_to }),
    createdAt: r.created_at,
  }));
}

export type CompleteCallOutcome =
  | { kind: 'completed'; workflowId: string }
  | { kind: 'not-found' }
  | { kind: 'already-closed'; status: string; completedBy?: string; completedAt?: Date };

/**
 * Completes an open task and tells its workflow, as one unit: the task's row is updated inside a
 * transaction (which holds its lock), the workflow is signalled, and only then is the completion
 * committed. A failed signal rolls back, so the task stays open and can be completed again; a commit
 * lost after the signal also leaves it open, and completing it again re-sends the same task ID,
 * which the workflow treats as the same call. (lib/call-tasks' completeCallTask does the update.)
 */
export async function completeCallTaskAndSignal(
  pool: Pool,
  input: { taskId: string; practiceId: string; staffId: string; outcome: CallOutcome },
  signalWorkflow: (workflowId: string) => Promise<void>,
): Promise<CompleteCallOutcome> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    let completed;
    try {
      completed = await completeCallTask(client, {
        id: input.taskId,
        practiceId: input.practiceId,
        staffId: input.staffId,
        outcome: input.outcome,
      });
    } catch (err) {
      await client.query('ROLLBACK');
      if (err instanceof CallTaskError && err.reason === 'not-found') return { kind: 'not-found' };
      if (err instanceof CallTaskError && err.reason === 'cancelled')
        return { kind: 'already-closed', status: 'cancelled' };
      throw err;
    }
    if (completed.alreadyCompleted) {
      await client.query('ROLLBACK');
      return {
        kind: 'already-closed',
        status: completed.task.status,
        ...(completed.task.completedBy === undefined ? {} : { completedBy: completed.task.completedBy }),
        ...(completed.task.completedAt === undefined ? {} : { completedAt: completed.task.completedAt }),
      };
    }
    await signalWorkflow(completed.workflowId);
    await client.query('COMMIT');
    return { kind: 'completed', workflowId: completed.workflowId };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
