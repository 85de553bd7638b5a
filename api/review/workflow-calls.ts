import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { getResultDetailQuery, type ResultDetail } from '../../workflows/definitions';

/**
 * The review app's calls into a result's workflow, with deadlines (a page must not hang on a worker
 * that is down) and every failure turned into an outcome the page can explain.
 */

/** A query is answered by a worker in milliseconds; 10 s means no worker is picking it up. */
export const QUERY_DEADLINE_MS = 10_000;
/**
 * An update needs a workflow task on a worker (milliseconds normally). 20 s rides out a worker
 * restart; past it the page says the outcome is unknown and a reload shows whether it landed
 * (signing again is safe: the workflow answers "already signed").
 */
export const UPDATE_DEADLINE_MS = 20_000;

export type DetailOutcome = { kind: 'ok'; detail: ResultDetail } | { kind: 'not-found' } | { kind: 'unavailable' };

export async function fetchResultDetail(temporal: Client, workflowId: string): Promise<DetailOutcome> {
  try {
    const detail = await temporal.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
      temporal.workflow.getHandle(workflowId).query(getResultDetailQuery),
    );
    return { kind: 'ok', detail };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { kind: 'not-found' };
    return { kind: 'unavailable' };
  }
}

export type UpdateOutcome<T> =
  | { kind: 'ok'; value: T }
  /** The workflow refused (its validator or handler); `message` is the workflow's own wording, no PHI. */
  | { kind: 'rejected'; message: string }
  /** The workflow has finished: nothing can be changed any more. */
  | { kind: 'closed' }
  | { kind: 'not-found' }
  /** No answer within UPDATE_DEADLINE_MS: it may or may not have been applied. */
  | { kind: 'timeout' };

export async function runUpdate<T>(
  temporal: Client,
  workflowId: string,
  update: (handle: WorkflowHandle) => Promise<T>,
): Promise<UpdateOutcome<T>> {
  const handle = temporal.workflow.getHandle(workflowId);
  try {
    const value = await temporal.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () => update(handle));
    return { kind: 'ok', value };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      return { kind: 'rejected', message: err.cause?.message ?? err.message };
    }
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return { kind: 'timeout' };
    if (err instanceof WorkflowNotFoundError) {
      // The server says "not found" both for no such workflow and for one that has completed.
      try {
        await temporal.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.describe());
        return { kind: 'closed' };
      } catch {
        return { kind: 'not-found' };
      }
    }
    throw err;
  }
}
