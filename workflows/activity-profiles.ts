import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { LabloopActivities } from '../domain/activity-contract';

/**
 * One activity proxy per retry profile. The figures and their arithmetic:
 *
 * - Bookkeeping (audit, review item, patient link, prior runs): a short database call, 15 s per
 *   attempt, backoff 1 s → 2 → 4 … capped at 1 min, no attempt limit. Each call is idempotent, and
 *   an audit row or a review item must not be lost to a database restart.
 * - Lookups (consent, zones, Spruce contact): the same backoff but bounded by 5 minutes in all; past
 *   that, routing goes on with the safe answers (no consent, no Spruce), not waiting forever.
 * - SMS delivery, on the SMS task queue, in two phases so that the outage window measures failure
 *   time, not time spent waiting in the rate-limited queue (a burst of results is a backlog, not an
 *   outage):
 *   1. One attempt (SMS_FIRST_ATTEMPT: no retries), 20 s once started (Twilio answers in well under
 *      5 s; a hung connection must not eat the window). Its schedule-to-start is bounded only by the
 *      patient's messaging window (no attempt may start after it) and SMS_QUEUE_MAX_WAIT_MS, so it
 *      may wait its turn behind any backlog the sender's rate limit builds up.
 *   2. Only if that attempt failed retryably does the outage clock start, at that failure: the
 *      retrying activity then gets the rest of the outage budget. Backoff 2 s → 4 → 8 → 16 → 30 s
 *      cap; after the first minute of failures an attempt comes every 30 s, so an outage that ends
 *      inside the window is followed by a successful attempt within 30 s: its schedule-to-close is
 *      the budget plus that one interval (30 min + 30 s by default), cut to the messaging window.
 *      An outage of up to 30 minutes from the first failure ends in delivery; one of 30.5 minutes or
 *      more ends in the fallback. Retries also queue behind the rate limit, but while the channel
 *      fails every attempt fails fast, so that queue drains at once.
 * - Spruce and portal delivery (no rate-limited queue): 60 s per attempt (a result PDF is
 *   uploaded), the same backoff and the same window arithmetic, from the first attempt.
 * - Staff pages: 30 s per attempt, backoff 5 s → 10 → 20, at most 4 attempts (35 s of retrying).
 *   Retries spam people when a page did land but its answer was lost; a page that still fails goes
 *   to the administrator instead.
 * - Critical pages (a critical value, or its call overdue / not created: CRITICAL_PAGE_OPTIONS):
 *   a person must hear of it even while Spruce is down, so they retry for CRITICAL_PAGE_RETRY_MS
 *   (30 min, the call-escalation time): 30 s per attempt, backoff 5 s → 10 → 20 → 40 → 60 s cap,
 *   i.e. attempts at 0, 5, 15, 35, 75 s and then every minute, about 33 in all. Spruce's idempotency
 *   key makes a retry after a lost answer a refused duplicate, not a second page. Meanwhile the
 *   workflow sends the SMS path after CRITICAL_PAGE_SMS_FALLBACK_MINUTES (staff.ts).
 * - Staff SMS pages (the second path, Twilio, on the main task queue so they never wait behind a
 *   burst of patient texts): 20 s per attempt, the delivery backoff (2 s → 30 s cap), for up to
 *   30 min like the critical page itself.
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

/** How long a critical page keeps retrying through Spruce: the call-escalation time (30 min). */
export const CRITICAL_PAGE_RETRY_MS = 30 * 60_000;

export const CRITICAL_PAGE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: CRITICAL_PAGE_RETRY_MS,
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '60 seconds' },
};

export const STAFF_SMS_PAGE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: SMS_ATTEMPT_TIMEOUT,
  scheduleToCloseTimeout: CRITICAL_PAGE_RETRY_MS,
  retry: DELIVERY_RETRY,
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
export const criticalPages = proxyActivities<LabloopActivities>(CRITICAL_PAGE_OPTIONS);
export const staffSmsPages = proxyActivities<LabloopActivities>(STAFF_SMS_PAGE_OPTIONS);
export const callTasks = proxyActivities<LabloopActivities>(CALL_TASK_OPTIONS);
export const calendar = proxyActivities<LabloopActivities>(CALENDAR_OPTIONS);

/** Schedule-to-close timeouts below one second are raised to it (the server refuses zero). */
const MIN_SCHEDULE_TO_CLOSE_MS = 1_000;

/**
 * The longest a first SMS attempt may wait in the rate-limited queue when the messaging window does
 * not bound it sooner: 12 h, beyond any backlog a sender's rate limit builds in practice (a day's
 * results of a large practice at 1 text/s clear in well under an hour). Past it, something is wrong
 * with the SMS worker itself, and the send counts as failed (then the outage budget applies).
 */
export const SMS_QUEUE_MAX_WAIT_MS = 12 * 60 * 60_000;

/** The first attempt of one SMS: no retries, waiting in the queue for up to `scheduleToStartMs`. */
export function smsFirstAttempt(taskQueue: string, scheduleToStartMs: number): LabloopActivities {
  return proxyActivities<LabloopActivities>({
    taskQueue,
    startToCloseTimeout: SMS_ATTEMPT_TIMEOUT,
    scheduleToStartTimeout: Math.max(MIN_SCHEDULE_TO_CLOSE_MS, Math.floor(scheduleToStartMs)),
    retry: { maximumAttempts: 1 },
  });
}

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
