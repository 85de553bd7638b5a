import { ActivityFailure, ApplicationFailure, isCancellation, log, TimeoutFailure } from '@temporalio/workflow';
import { ActivityErrorType } from '../domain/activity-error-types';
import type { OnCallShift } from '../domain/on-call';
import type { BusinessCalendar, LocalTime } from '../domain/practice';
import {
  bookkeeping,
  calendar,
  callTasks,
  criticalPages,
  DELIVERY_MAX_RETRY_INTERVAL_MS,
  lookups,
  secureDelivery,
  smsDelivery,
  smsFirstAttempt,
  SMS_QUEUE_MAX_WAIT_MS,
  staffPages,
  staffSmsPages,
} from './activity-profiles';
import type { Command } from './commands';
import type { CompletionEvent } from './events';
import type { ContactFacts, DeliveryFailure } from './model';
import { workflowNow, workflowNowMs } from './workflow-time';

/**
 * Runs the decision core's commands as activities and turns their outcomes (including failures)
 * into completion events. Only failures the core can act on become events; a bug surfaces as an
 * error, which fails the workflow task (retried until the code is fixed) rather than the workflow.
 */

/**
 * An SMS attempt is not started with less than this left of the patient's messaging window: the
 * server needs a schedule-to-close of at least a second, and a send must not start after the window.
 */
const MIN_ATTEMPT_WINDOW_MS = 5_000;

export interface EffectEnv {
  /** Where SMS sends are scheduled (smsTaskQueueFor the workflow's task queue). */
  smsTaskQueue: string;
  policyTimeZone: string;
  patientWindow: { start: LocalTime; end: LocalTime };
  calendar: BusinessCalendar;
  onCall: { schedule: OnCallShift[]; defaultStaffId: string };
}

/** The non-retryable ApplicationFailure inside an activity failure, if that is what it was. */
function permanentCause(err: ActivityFailure): ApplicationFailure | undefined {
  const cause = err.cause;
  return cause instanceof ApplicationFailure && cause.nonRetryable ? cause : undefined;
}

/** Map an activity failure to what the core does about it. */
export function classifyDeliveryFailure(err: ActivityFailure): { failure: DeliveryFailure; errorType?: string } {
  const cause = permanentCause(err);
  if (cause === undefined) {
    // Retryable failures until the schedule-to-close timeout: the channel was down all along. A
    // timeout that cut an attempt short carries the attempt before it as its cause.
    const inner = err.cause instanceof TimeoutFailure ? err.cause.cause : err.cause;
    return {
      failure: 'outage',
      ...(inner instanceof ApplicationFailure && inner.type != null ? { errorType: inner.type } : {}),
    };
  }
  const errorType = cause.type ?? undefined;
  const failure: DeliveryFailure = (errorType !== undefined ? PERMANENT_FAILURES[errorType] : undefined) ?? 'permanent';
  return { failure, ...(errorType !== undefined ? { errorType } : {}) };
}

/**
 * Non-retryable error types the core treats other than as a channel failure. Everything else
 * (SmsInvalidNumberError, SmsBlockedError, SmsPermanentError, Spruce/athena refusals, configuration)
 * is `permanent`: the fallback, with the administrator paged.
 */
const PERMANENT_FAILURES: Record<string, DeliveryFailure | undefined> = {
  [ActivityErrorType.SMS_CONSENT_MISSING]: 'consent-missing',
  [ActivityErrorType.SMS_OPTED_OUT]: 'opted-out',
  [ActivityErrorType.CONSENT_INVITATION_ALREADY_SENT]: 'already-invited',
  [ActivityErrorType.SPRUCE_NO_ACCOUNT]: 'no-account',
  [ActivityErrorType.PHI_GUARD_BLOCKED]: 'phi-blocked',
};

/** The answer to a send whose activity was cancelled (the core dropped it while it was in flight). */
function cancelledEvent(key: string): CompletionEvent {
  return { type: 'deliveryFailed', at: workflowNow(), key, failure: 'cancelled', outageSpentMs: 0 };
}

function isScheduleToStartTimeout(err: ActivityFailure): boolean {
  return err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}

function errorTypeOf(err: ActivityFailure): string | undefined {
  const cause = err.cause;
  return cause instanceof ApplicationFailure && cause.type != null ? cause.type : undefined;
}

/** Error type recorded when the portal note was written but is not visible to the patient. */
export const PORTAL_NOT_PUBLISHED_ERROR_TYPE = 'PortalNotPublished';

/**
 * The `deliveryFailed` event for a send attempt series that began at `startedMs`. An outage counts
 * its length against the outage budget; with `outageClosesWindow` (the attempt was cut short by the
 * patient's messaging window, not by the budget) it is reported as the window closing instead.
 */
function deliveryFailedEvent(
  key: string,
  err: ActivityFailure,
  startedMs: number,
  options: { outageClosesWindow?: boolean } = {},
): CompletionEvent {
  const { failure, errorType } = classifyDeliveryFailure(err);
  return {
    type: 'deliveryFailed',
    at: workflowNow(),
    key,
    failure: failure === 'outage' && options.outageClosesWindow === true ? 'window-closed' : failure,
    ...(errorType !== undefined ? { errorType } : {}),
    outageSpentMs: failure === 'outage' ? workflowNowMs() - startedMs : 0,
  };
}

/** The failure event of an escalation step (a page or a call task) whose activity failed for good. */
function stepFailedEvent(
  type: 'pageFailed' | 'callTaskFailed',
  step: string,
  version: number,
  err: ActivityFailure,
): CompletionEvent {
  const errorType = errorTypeOf(err);
  return { type, at: workflowNow(), step, version, ...(errorType !== undefined ? { errorType } : {}) };
}

export async function runCommand(command: Command, env: EffectEnv): Promise<CompletionEvent | undefined> {
  switch (command.type) {
    case 'audit':
      return bookkeepingCall('appendAudit', () => bookkeeping.appendAudit(command.event));
    case 'reviewItem':
      return bookkeepingCall('upsertReviewItem', () => bookkeeping.upsertReviewItem(command.item));
    case 'linkPatient':
      return bookkeepingCall('linkWorkflowPatient', () => bookkeeping.linkWorkflowPatient(command.link));
    case 'closePatient':
      return bookkeepingCall('closeWorkflowPatient', () => bookkeeping.closeWorkflowPatient(command.workflowId));

    case 'findPriorRuns': {
      try {
        const summary = await bookkeeping.findPriorRuns({ workflowId: command.workflowId });
        return { type: 'priorRunsFound', at: workflowNow(), summary };
      } catch (err) {
        if (err instanceof ActivityFailure) {
          // Without it, send keys could collide with an earlier run's and be skipped as duplicates.
          throw ApplicationFailure.nonRetryable(
            `earlier runs of this workflow could not be read (${errorTypeOf(err) ?? 'activity failed'})`,
            ActivityErrorType.CONFIGURATION,
          );
        }
        throw err;
      }
    }

    case 'computeDeadline': {
      try {
        const deadline = await calendar.computeBusinessDeadline({
          startIso: command.startIso,
          businessMinutes: command.businessMinutes,
          calendar: env.calendar,
        });
        return { type: 'deadlineComputed', at: workflowNow(), epoch: command.epoch, level: command.level, deadline };
      } catch (err) {
        if (err instanceof ActivityFailure) {
          const cause = err.cause instanceof ApplicationFailure ? err.cause.message : 'unknown error';
          throw ApplicationFailure.nonRetryable(
            `the sign-off deadline cannot be computed from the practice calendar: ${cause}`,
            ActivityErrorType.CONFIGURATION,
          );
        }
        throw err;
      }
    }

    case 'gatherContact': {
      const facts = await gatherContact(command, env);
      return { type: 'contactGathered', at: workflowNow(), epoch: command.epoch, facts };
    }

    case 'computeSendWindow': {
      try {
        const window = await calendar.computePatientSendWindow({
          atIso: command.atIso,
          zones: command.zones,
          window: env.patientWindow,
        });
        return { type: 'sendWindowComputed', at: workflowNow(), key: command.key, ...window };
      } catch (err) {
        if (err instanceof ActivityFailure) {
          return {
            type: 'sendWindowUnavailable',
            at: workflowNow(),
            key: command.key,
            errorType: errorTypeOf(err) ?? 'unknown',
          };
        }
        throw err;
      }
    }

    case 'sendSms':
      return sendSms(command, env);

    case 'sendSpruce':
    case 'postPortal': {
      const startedMs = workflowNowMs();
      const proxy = secureDelivery(command.outageBudgetMs + DELIVERY_MAX_RETRY_INTERVAL_MS);
      try {
        if (command.type === 'sendSpruce') {
          const sent = await proxy.sendSpruceResult(command.request);
          return {
            type: 'delivered',
            at: workflowNow(),
            key: command.key,
            providerMessageId: sent.messageRef,
            alreadySent: sent.alreadySent,
          };
        }
        const posted = await proxy.postPortalNote(command.request);
        if (!posted.published) {
          // A note nobody can see has told nobody: the decision core must not count it as delivered.
          return {
            type: 'deliveryFailed',
            at: workflowNow(),
            key: command.key,
            failure: 'not-published',
            errorType: PORTAL_NOT_PUBLISHED_ERROR_TYPE,
            outageSpentMs: 0,
          };
        }
        return {
          type: 'delivered',
          at: workflowNow(),
          key: command.key,
          providerMessageId: `portal:${command.request.workflowId}:v${command.request.resultVersion}`,
          alreadySent: posted.alreadySent,
        };
      } catch (err) {
        if (isCancellation(err)) return cancelledEvent(command.key);
        if (!(err instanceof ActivityFailure)) throw err;
        const event = deliveryFailedEvent(command.key, err, startedMs);
        // The activity waits (by retrying) for athena to publish the note; when its window ran out
        // first, the answer is the one it would have given: not published, which is final.
        if (
          command.type === 'postPortal' &&
          event.type === 'deliveryFailed' &&
          event.failure === 'outage' &&
          event.errorType === ActivityErrorType.PORTAL_NOT_YET_PUBLISHED
        ) {
          return { ...event, failure: 'not-published', errorType: PORTAL_NOT_PUBLISHED_ERROR_TYPE, outageSpentMs: 0 };
        }
        return event;
      }
    }

    case 'cancelSend':
      // The shell cancels the send's scope itself (runner.ts); nothing to run here.
      return undefined;

    case 'page': {
      const { step, resultVersion: version } = command.request;
      try {
        const paged = await (command.critical ? criticalPages : staffPages).pageStaff(command.request);
        return { type: 'paged', at: workflowNow(), step, version, pageRef: paged.pageRef, pagedAt: paged.pagedAt };
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        return stepFailedEvent('pageFailed', step, version, err);
      }
    }

    case 'staffSmsPage': {
      const { step, resultVersion: version } = command.request;
      try {
        const sent = await staffSmsPages.sendStaffSmsPage(command.request);
        return {
          type: 'staffSmsPaged',
          at: workflowNow(),
          step,
          version,
          pageRef: sent.pageRef,
          pagedAt: sent.pagedAt,
        };
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        const errorType = errorTypeOf(err);
        return {
          type: 'staffSmsPageFailed',
          at: workflowNow(),
          step,
          version,
          ...(errorType !== undefined ? { errorType } : {}),
        };
      }
    }

    case 'resolveOnCall': {
      const fallback = env.onCall.defaultStaffId;
      try {
        const answer = await calendar.resolveOnCall({
          atIso: command.atIso,
          timeZone: env.policyTimeZone,
          schedule: env.onCall.schedule,
          defaultStaffId: fallback,
        });
        return {
          type: 'onCallResolved',
          at: workflowNow(),
          epoch: command.epoch,
          staffId: answer.staffId,
          ...(answer.shift !== undefined ? { shift: answer.shift } : {}),
        };
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        // A rota that cannot be read must not hold up a critical page: the default on-call provider gets it.
        return { type: 'onCallResolved', at: workflowNow(), epoch: command.epoch, staffId: fallback, failed: true };
      }
    }

    case 'createCallTask': {
      const { step, resultVersion: version } = command.request;
      try {
        const created = await callTasks.createCallTask(command.request);
        return { type: 'callTaskCreated', at: workflowNow(), step, version, taskId: created.taskId };
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        return stepFailedEvent('callTaskFailed', step, version, err);
      }
    }
  }
}

/** Bookkeeping retries until it succeeds; only a non-retryable failure ends here, and it is logged (IDs only). */
async function bookkeepingCall(name: string, call: () => Promise<unknown>): Promise<undefined> {
  try {
    await call();
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    log.error('bookkeeping activity failed for good', { activity: name, errorType: errorTypeOf(err) ?? 'unknown' });
  }
  return undefined;
}

/** Consent, zones and Spruce reachability. A lookup that fails answers the safe way. */
async function gatherContact(
  command: Extract<Command, { type: 'gatherContact' }>,
  env: EffectEnv,
): Promise<ContactFacts> {
  const facts: ContactFacts = { smsConsent: false, zones: [env.policyTimeZone], spruceSecure: false };
  const phone = command.patient.mobilePhone;
  if (command.needs.consent && phone !== undefined) {
    try {
      const consent = await lookups.lookupSmsConsent({
        practiceId: command.practiceId,
        patientId: command.patient.id,
        phone,
      });
      facts.smsConsent = consent.consented;
      if (consent.invitationSentAt !== undefined) facts.invitationSent = true;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      // Unknown: no consent, and no invitation either (the claim would refuse a second one anyway).
      facts.invitationSent = true;
    }
    try {
      const zones = await lookups.resolvePatientZones({
        patient: command.patient,
        practiceTimeZone: command.practiceTimeZone,
      });
      if (zones.length > 0) facts.zones = zones;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
    }
  }
  if (command.needs.spruce) {
    try {
      facts.spruceSecure = (
        await lookups.lookupSpruceContact({ practiceId: command.practiceId, patient: command.patient })
      ).secure;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
    }
  }
  return facts;
}

/**
 * One SMS: the invitation's claim first (one per practice+patient+phone), then a first attempt that
 * may wait in the rate-limited queue as long as the patient's window allows, and only after it failed
 * retryably the retrying phase, whose outage clock starts at that failure (activity-profiles.ts has
 * the arithmetic). Cancellation (the core dropped the send) can land in any phase.
 */
async function sendSms(command: Extract<Command, { type: 'sendSms' }>, env: EffectEnv): Promise<CompletionEvent> {
  const { key, request } = command;
  const windowLeftMs = () =>
    command.notAfter !== undefined ? Date.parse(command.notAfter) - workflowNowMs() : Number.POSITIVE_INFINITY;
  const windowClosed = (): CompletionEvent => ({
    type: 'deliveryFailed',
    at: workflowNow(),
    key,
    failure: 'window-closed',
    outageSpentMs: 0,
  });
  const delivered = (sent: { providerMessageId: string; alreadySent: boolean }): CompletionEvent => ({
    type: 'delivered',
    at: workflowNow(),
    key,
    providerMessageId: sent.providerMessageId,
    alreadySent: sent.alreadySent,
  });
  if (windowLeftMs() < MIN_ATTEMPT_WINDOW_MS) return windowClosed();

  if (request.template === 'consent-invitation') {
    try {
      await lookups.claimConsentInvitation({
        workflowId: request.workflowId,
        resultVersion: request.resultVersion,
        step: request.step,
        practiceId: request.practiceId,
        patientId: request.patientId,
        phone: request.to,
      });
    } catch (err) {
      if (isCancellation(err)) return cancelledEvent(key);
      if (!(err instanceof ActivityFailure)) throw err;
      // Refused (another send holds it) or not recorded: either way no invitation without a claim.
      return deliveryFailedEvent(key, err, workflowNowMs());
    }
  }
  try {
    const queueWait = Math.min(windowLeftMs(), SMS_QUEUE_MAX_WAIT_MS);
    return delivered(await smsFirstAttempt(env.smsTaskQueue, queueWait).sendGenericSms(request));
  } catch (err) {
    if (isCancellation(err)) return cancelledEvent(key);
    if (!(err instanceof ActivityFailure)) throw err;
    // Still queued when the window closed: nothing failed, it waits for the next window.
    if (isScheduleToStartTimeout(err) && windowLeftMs() < MIN_ATTEMPT_WINDOW_MS) return windowClosed();
    const { failure } = classifyDeliveryFailure(err);
    if (failure !== 'outage') return deliveryFailedEvent(key, err, workflowNowMs());
  }

  // The first attempt failed retryably: the channel is failing, and the outage clock starts now.
  const failedAtMs = workflowNowMs();
  const untilWindowEnd = windowLeftMs();
  if (untilWindowEnd < MIN_ATTEMPT_WINDOW_MS) return windowClosed();
  const byBudget = command.outageBudgetMs + DELIVERY_MAX_RETRY_INTERVAL_MS;
  try {
    return delivered(await smsDelivery(env.smsTaskQueue, Math.min(untilWindowEnd, byBudget)).sendGenericSms(request));
  } catch (err) {
    if (isCancellation(err)) return cancelledEvent(key);
    if (!(err instanceof ActivityFailure)) throw err;
    return deliveryFailedEvent(key, err, failedAtMs, { outageClosesWindow: untilWindowEnd < byBudget });
  }
}
