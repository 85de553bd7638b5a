import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { LabloopActivities } from '../activities/contract';

/**
 * One activity proxy per retry profile. The figures and their arithmetic:
 *
 * - Bookkeeping (audit, review item, patient link, prior runs): a short database call, 15 s per
 *   attempt, backoff 1 s → 2 → 4 … capped at 1 min, no attempt limit. Each call is idempotent, and
 *   an audit row or a review item must not be lost to a database restart.
 * - Lookups (consent, zones, Spruce contact): the same backoff but bounded by 5 minutes in all; past
 *   that, routing goes on with the safe answers (no consent, no Spruce), not waiting forever.
 * - SMS delivery, on the SMS task queue: 20 s per attempt (Twilio answers in well under 5 s; a hung
 *   connection must not eat the window), backoff 2 s → 4 → 8 → 16 → 30 s cap. After the first
 *   minute of failures an attempt comes every 30 s, so an outage that ends inside the outage window
 *   is followed by a successful attempt within 30 s: the schedule-to-close timeout is the outage
 *   window plus that one interval (30 min + 30 s by default). An outage of up to 30 minutes ends in
 *   delivery; one that lasts 30.5 minutes or more ends in the fallback.
 * - Spruce and portal delivery: 60 s per attempt (a result PDF is uploaded), the same backoff and
 *   the same window arithmetic.
 * - Staff pages: 30 s per attempt, backoff 5 s → 10 → 20, at most 4 attempts (35 s of retrying).
 *   Retries spam people when a page did land but its answer was lost; a page that still fails goes
 *   to the administrator instead.
 * - Call tasks: 60 s per attempt, backoff 5 s → … capped at 5 min, no attempt limit. A call task is
 *   how a person gets to the patient; it is created however long athena or the database are down.
 * - Calendar arithmetic: pure computation, 10 s, 3 attempts; its failures are configuration errors
 *   and are not retried at all. These are ordinary activities, not local ones, on purpose: the shell
 *   runs commands concurrently, and a local activity's result can reach the workflow in a different
 *   order relative to other completions on replay than it did live (a replay test caught exactly
 *   that); ordinary completions are history events, always replayed in their recorded order.
 */

export const BOOKKEEPING_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

export const LOOKUP_OPTIONS: ActivityOptions = {
  ...BOOKKEEPING_OPTIONS,
  scheduleToCloseTimeout: '5 minutes',
};

/** The longest pause between two delivery attempts; the outage window is extended by one of it. */
export const DELIVERY_MAX_RETRY_INTERVAL_MS = 30_000;

const SMS_ATTEMPT_TIMEOUT = '20 seconds';
const SECURE_ATTEMPT_TIMEOUT = '60 seconds';
const DELIVERY_RETRY = {
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: DELIVERY_MAX_RETRY_INTERVAL_MS,
} as const;

export const STAFF_PAGE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 4 },
};

export const CALL_TASK_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '60 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
};

export const CALENDAR_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3 },
};

export const bookkeeping = proxyActivities<LabloopActivities>(BOOKKEEPING_OPTIONS);
export const lookups = proxyActivities<LabloopActivities>(LOOKUP_OPTIONS);
export const staffPages = proxyActivities<LabloopActivities>(STAFF_PAGE_OPTIONS);
export const callTasks = proxyActivities<LabloopActivities>(CALL_TASK_OPTIONS);
export const calendar = proxyActivities<LabloopActivities>(CALENDAR_OPTIONS);

/** Schedule-to-close timeouts below one second are raised to it (the server refuses zero). */
const MIN_SCHEDULE_TO_CLOSE_MS = 1_000;

/** The SMS proxy for one send: on the SMS task queue, limited to what is left of the window. */
export function smsDelivery(taskQueue: string, scheduleToCloseMs: number): LabloopActivities {
  return proxyActivities<LabloopActivities>({
    taskQueue,
    startToCloseTimeout: SMS_ATTEMPT_TIMEOUT,
    scheduleToCloseTimeout: Math.max(MIN_SCHEDULE_TO_CLOSE_MS, Math.floor(scheduleToCloseMs)),
    retry: DELIVERY_RETRY,
  });
}

/** The Spruce/portal proxy for one send, limited to what is left of the outage window. */
export function secureDelivery(scheduleToCloseMs: number): LabloopActivities {
  return proxyActivities<LabloopActivities>({
    startToCloseTimeout: SECURE_ATTEMPT_TIMEOUT,
    scheduleToCloseTimeout: Math.max(MIN_SCHEDULE_TO_CLOSE_MS, Math.floor(scheduleToCloseMs)),
    retry: DELIVERY_RETRY,
  });
}
