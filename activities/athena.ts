import { createHash } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { PracticePolicy, StaffMember } from '../domain/practice';
import { AthenaError, isAthenaError } from '../lib/clients/athena';
import { insertCallTask, setCallTaskAthenaCase } from '../lib/call-tasks';
import type {
  CallTaskOutcome,
  CallTaskReason,
  CallTaskRequest,
  LabloopActivities,
  PortalNoteOutcome,
  PortalNoteRequest,
} from '../domain/activity-contract';
import type { ActivityDeps } from './deps';
import { policyOf } from './practice-policy';
import { ActivityErrorType } from '../domain/activity-error-types';
import { outboxIdempotencyKey, sendOnce, type ReconcileResult } from '../lib/outbox/outbox';
import { resultRefOf } from '../workflows/definitions';

/**
 * athenahealth writes: the portal note on the lab-result document, and outbound-call patient cases.
 *
 * Portal note. athena's API cannot start a portal message; what the patient sees on the portal is the
 * lab-result document with its patient note, published by athena according to the practice's
 * settings, possibly some time after the write. So the note is written on the document (`replace`,
 * which makes a retry idempotent) once, and the publication is then read back
 * (`portalpublisheddatetime`) until athena shows a publication at or after our write: an earlier
 * publication time belongs to an older note and does not count. While it is not there the activity
 * fails retryably (PortalNotYetPublished, with the next poll as its retry delay); once the
 * publication window (PORTAL_PUBLICATION_MAX_WAIT_MS from the write, or the activity's own
 * schedule-to-close, whichever ends first) is over, it answers `published: false` and the workflow
 * falls back. The note is only written for results that came from athena: an HL7 or FHIR result's
 * ID is the lab's or the sender's, not an athena document ID, and guessing the document (by patient
 * and date) could put a note on the wrong result. Those are answered "not published" with the
 * reason audited.
 *
 * Call task. A `call_task` row (the staff page) first, then, for athena practices, an athena patient
 * case with `outboundonly`, the priority, the callback number type and the practice's call-task
 * queue (policy.callTaskQueueUsername) or the named staff member as assignee. athena has no
 * idempotency key: the case carries a marker token, and an attempt whose outcome is unknown looks for
 * it (`findPatientCases`) before creating another.
 */

export const ATHENA_RETRYABLE_ERROR_TYPE = 'AthenaRetryableError';

/**
 * athena's PATIENTCASE `documentsource`/`documentsubclass` values. athena does not publish the full
 * lists (docs/reference external-systems.md §1.7): these are the common ones; a practice whose
 * athena uses others needs them changed here.
 */
export const PATIENT_CASE_DOCUMENT_SOURCE = 'OTHER';
export const PATIENT_CASE_DOCUMENT_SUBCLASS = 'LABRESULTS';
/**
 * The case's callback number, as athena documents it (§1.7: `callbacknumber` XOR
 * `callbacknumbertype`): the type, so athena takes the number from the chart and no phone number
 * passes through labloop. The list of type values is not in the reference; MOBILE is athena's name
 * for the mobile phone on the chart (the number a result text goes to). Unverified against a live
 * practice: change it here if athena refuses it.
 */
export const PATIENT_CASE_CALLBACK_NUMBER_TYPE = 'MOBILE';

/**
 * How long after writing the note postPortalNote keeps looking for athena's publication of it:
 * 10 minutes. Practices that publish do so within seconds to a few minutes of a document change;
 * a note still unpublished after 10 minutes is not going to reach the patient in time, and the
 * workflow's fallback (a call task) is the better answer. It fits the delivery activity's
 * schedule-to-close (the 30 min outage window + 30 s); a shorter one ends the wait earlier.
 */
export const PORTAL_PUBLICATION_MAX_WAIT_MS = 10 * 60_000;
/**
 * Polls while waiting: 5 s after the write, then doubling to a 2-minute cap: 5 + 10 + 20 + 40 + 80
 * = 155 s for the first five, then every 120 s, so about 9 reads in the 10-minute window.
 */
export const PORTAL_PUBLICATION_FIRST_POLL_MS = 5_000;
export const PORTAL_PUBLICATION_MAX_POLL_MS = 120_000;
/**
 * athena's timestamps have whole seconds and its clock is not ours: a publication up to 2 s before
 * our write (after flooring to the second) still counts as ours. An older note's publication is
 * minutes or days older, far outside this.
 */
export const PORTAL_PUBLICATION_CLOCK_SKEW_MS = 2_000;
/** A poll is not scheduled if less than this would be left of the activity's schedule-to-close. */
const PORTAL_PUBLICATION_DEADLINE_MARGIN_MS = 5_000;

const CALL_REASON_TEXT: Record<CallTaskReason, string> = {
  'critical-result': 'critical lab result: call the patient now',
  'abnormal-unread': 'abnormal lab result not read: call the patient',
  'no-reachable-channel': 'no messaging channel reaches the patient: call about a lab result',
  'channel-fallback': 'messaging the patient failed: call about a lab result',
};

type AthenaDeps = Pick<ActivityDeps, 'pool' | 'audit' | 'athena' | 'practices' | 'now'>;

export function createAthenaActivities(deps: AthenaDeps): Pick<LabloopActivities, 'postPortalNote' | 'createCallTask'> {
  return {
    async postPortalNote(request: PortalNoteRequest): Promise<PortalNoteOutcome> {
      policyOf(deps, request.practiceId);
      const key = outboxIdempotencyKey(request);
      const athenaPracticeId = deps.practices.entry(request.practiceId)?.routing.athenaPracticeId;
      const notPublishable =
        athenaPracticeId === undefined
          ? 'practice-not-on-athena'
          : request.source !== 'athena'
            ? `result-from-${request.source}`
            : undefined;
      if (notPublishable !== undefined || athenaPracticeId === undefined) {
        await audit(deps, request, 'send', 'not-publishable', `outbox:${key}:not-publishable`, {
          reason: notPublishable ?? 'practice-not-on-athena',
        });
        return { published: false, alreadySent: false };
      }
      const ref = { practiceId: athenaPracticeId, patientId: request.patientId, labResultId: request.resultId };
      let outcome;
      let publication;
      try {
        outcome = await sendOnce(
          deps,
          request,
          { channel: 'portal', practiceId: request.practiceId, patientId: request.patientId, template: 'portal-note' },
          async () => {
            // Replace, not append: a retry rewrites the same note instead of adding a second copy.
            await deps.athena.updateLabResultPatientNote({ ...ref, note: request.note, replace: true });
            return { providerMessageId: `labresult:${request.resultId}:v${request.resultVersion}:${request.step}` };
          },
        );
        publication = await deps.athena.getPortalPublication(ref);
      } catch (err) {
        throw athenaFailure(err);
      }
      // Only a publication at or after our write is of our note.
      const oursFrom = Math.floor(outcome.intentAt.getTime() / 1000) * 1000 - PORTAL_PUBLICATION_CLOCK_SKEW_MS;
      const publishedAt = publication.publishedAt;
      const published = publishedAt !== undefined && Date.parse(publishedAt) >= oursFrom;
      if (!published) {
        const nextPollMs = nextPublicationPoll(deps.now().getTime(), outcome.sentAt.getTime());
        if (nextPollMs !== undefined) {
          throw ApplicationFailure.create({
            message: 'athena has not published the portal note yet',
            type: ActivityErrorType.PORTAL_NOT_YET_PUBLISHED,
            nonRetryable: false,
            details: [{ stalePublication: publishedAt !== undefined, nextPollMs }],
            nextRetryDelay: nextPollMs,
          });
        }
      }
      await audit(
        deps,
        request,
        'send',
        published ? 'published' : 'not-published',
        `outbox:${key}:publication:${published ? 'yes' : 'no'}`,
        {
          ...(published ? { publishedAt } : {}),
          ...(!published && publishedAt !== undefined ? { olderPublicationAt: publishedAt } : {}),
        },
      );
      return {
        published,
        ...(published ? { publishedAt } : {}),
        alreadySent: outcome.alreadySent,
      };
    },

    async createCallTask(request: CallTaskRequest): Promise<CallTaskOutcome> {
      const policy = policyOf(deps, request.practiceId);
      const assignee = assigneeOf(policy, request.assignToStaffId);
      const queueUsername =
        assignee?.athenaUsername ?? deps.practices.entry(request.practiceId)?.policy.callTaskQueueUsername;
      const key = outboxIdempotencyKey(request);
      const { task, created } = await insertCallTask(deps.pool, {
        idempotencyKey: key,
        workflowId: request.workflowId,
        practiceId: request.practiceId,
        patientId: request.patientId,
        reason: request.reason,
        priority: request.priority,
        ...(assignee !== undefined ? { assignedTo: assignee.id } : {}),
      });
      const entry = deps.practices.entry(request.practiceId);
      const athenaPracticeId = entry?.routing.athenaPracticeId;
      const departmentId = policy.athenaDepartmentId;
      const meta = {
        channel: 'call' as const,
        practiceId: request.practiceId,
        patientId: request.patientId,
        template: `call-${request.reason}`,
        auditAction: 'call-task' as const,
      };

      if (athenaPracticeId === undefined || departmentId === undefined) {
        // No athena: the review app's task list is the whole work item.
        const outcome = await sendOnce(deps, request, meta, () =>
          Promise.resolve({ providerMessageId: `local:${task.id}` }),
        );
        return { taskId: task.id, alreadySent: !created || outcome.alreadySent };
      }

      const marker = markerFor(key);
      const patientRef = { practiceId: athenaPracticeId, patientId: request.patientId };
      const reconcile = async (): Promise<ReconcileResult> => {
        try {
          const cases = await deps.athena.findPatientCases({ ...patientRef, departmentId, marker });
          const found = cases[0];
          return found === undefined
            ? { kind: 'not-found' }
            : { kind: 'found', providerMessageId: found.patientCaseId };
        } catch (err) {
          return { kind: 'unknown', reason: isAthenaError(err) ? `athena-${err.kind}` : 'lookup-failed' };
        }
      };
      try {
        const outcome = await sendOnce(
          deps,
          request,
          meta,
          async () => {
            const { patientCaseId } = await deps.athena.createPatientCase({
              ...patientRef,
              departmentId,
              subject: `Lab result follow-up call [${marker}]`,
              internalNote: `labloop call task ${task.id}: ${CALL_REASON_TEXT[request.reason]}. Result ${request.workflowId}. Marker ${marker}.`,
              priority: request.priority === 'urgent' ? 1 : 2,
              outboundOnly: true,
              callbackNumberType: PATIENT_CASE_CALLBACK_NUMBER_TYPE,
              documentSource: PATIENT_CASE_DOCUMENT_SOURCE,
              documentSubclass: PATIENT_CASE_DOCUMENT_SUBCLASS,
            });
            return { providerMessageId: patientCaseId };
          },
          reconcile,
        );
        const athenaCaseId = outcome.providerMessageId;
        // Assigning is an idempotent PUT: repeated on every call so a crash between create and assign heals.
        if (queueUsername !== undefined) {
          await deps.athena.assignPatientCase({ ...patientRef, patientCaseId: athenaCaseId, username: queueUsername });
        }
        if (task.athenaCaseId !== athenaCaseId) await setCallTaskAthenaCase(deps.pool, task.id, athenaCaseId);
        return { taskId: task.id, athenaCaseId, alreadySent: !created || outcome.alreadySent };
      } catch (err) {
        if (err instanceof AthenaError && err.kind === 'not-found') {
          // The patient is not in athena (e.g. an interface-only patient): the local task still stands.
          await audit(deps, request, 'call-task', 'athena-case-skipped', `outbox:${key}:athena-not-found`, {
            reason: 'patient-not-in-athena',
            taskId: task.id,
          });
          return { taskId: task.id, alreadySent: !created };
        }
        throw athenaFailure(err);
      }
    },
  };
}

/**
 * The named staff member, if the workflow named one. Otherwise none: the athena case goes to the
 * practice's call-task queue (policy.callTaskQueueUsername), or stays in the department's own queue
 * when the practice has none, and the local task is for whoever picks it up.
 */
function assigneeOf(policy: PracticePolicy, staffId: string | undefined): StaffMember | undefined {
  if (staffId === undefined) return undefined;
  const named = policy.staff.find((s) => s.id === staffId);
  if (named === undefined) {
    throw ApplicationFailure.nonRetryable(
      `staff member ${staffId} is not on practice ${policy.practiceId}'s staff list`,
      ActivityErrorType.CONFIGURATION,
    );
  }
  return named;
}

/**
 * The delay before the next publication poll, or undefined when the wait is over: the publication
 * window after the write has passed, or the next poll would not fit in what is left of this
 * activity's schedule-to-close (then the workflow would see a timeout instead of our answer).
 */
function nextPublicationPoll(nowMs: number, writtenAtMs: number): number | undefined {
  const waited = Math.max(0, nowMs - writtenAtMs);
  if (waited >= PORTAL_PUBLICATION_MAX_WAIT_MS) return undefined;
  // The poll interval doubles with the time waited: 5 s, 10 s, 20 s … capped at 2 minutes.
  let interval = PORTAL_PUBLICATION_FIRST_POLL_MS;
  while (interval < PORTAL_PUBLICATION_MAX_POLL_MS && interval * 2 - PORTAL_PUBLICATION_FIRST_POLL_MS <= waited) {
    interval *= 2;
  }
  const delay = Math.min(interval, PORTAL_PUBLICATION_MAX_POLL_MS, PORTAL_PUBLICATION_MAX_WAIT_MS - waited);
  const deadline = activityDeadlineMs();
  if (deadline !== undefined && nowMs + delay + PORTAL_PUBLICATION_DEADLINE_MARGIN_MS > deadline) return undefined;
  return Math.max(1, delay);
}

/** When this activity's schedule-to-close ends, inside an activity with one; otherwise undefined. */
function activityDeadlineMs(): number | undefined {
  try {
    const info = Context.current().info;
    return info.scheduleToCloseTimeoutMs > 0 ? info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs : undefined;
  } catch {
    return undefined;
  }
}

/** A short token unique to the outbox key, written into the case so a lost create can be found again. */
export function markerFor(idempotencyKey: string): string {
  return `LLT-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 12)}`;
}

async function audit(
  deps: AthenaDeps,
  request: {
    workflowId: string;
    practiceId: string;
    patientId: string;
    step: string;
    resultVersion: number;
    reason?: string;
  },
  action: 'send' | 'call-task',
  outcome: string,
  idempotencyKey: string,
  details: Record<string, string>,
): Promise<void> {
  const resultRef = resultRefOf(request.workflowId);
  // The same template the send's own outbox rows carry (postPortalNote, createCallTask).
  const template =
    action === 'send' ? 'portal-note' : request.reason !== undefined ? `call-${request.reason}` : undefined;
  await deps.audit.append({
    occurredAt: deps.now().toISOString(),
    practiceId: request.practiceId,
    workflowId: request.workflowId,
    ...(resultRef !== undefined ? { resultRef } : {}),
    patientId: request.patientId,
    actor: { type: 'system', id: 'worker' },
    action,
    channel: action === 'send' ? 'portal' : 'call',
    ...(template !== undefined ? { template } : {}),
    outcome,
    details: { step: request.step, resultVersion: request.resultVersion, ...details },
    idempotencyKey,
  });
}

/** An athena error as the workflow understands it; messages name the operation and status only. */
export function athenaFailure(err: unknown): unknown {
  if (!isAthenaError(err)) return err;
  const details = [{ kind: err.kind, status: err.status ?? null, operation: err.operation }];
  // The message may carry athena's detail text; keep ours to the operation, kind and status.
  const message = `athena ${err.operation} failed (${err.kind}${err.status !== undefined ? `, HTTP ${err.status}` : ''})`;
  if (err.kind === 'auth') {
    return ApplicationFailure.create({ message, type: ActivityErrorType.CONFIGURATION, nonRetryable: true, details });
  }
  if (err.kind === 'permanent' || err.kind === 'not-found') {
    return ApplicationFailure.create({
      message,
      type: ActivityErrorType.ATHENA_PERMANENT,
      nonRetryable: true,
      details,
    });
  }
  return ApplicationFailure.create({
    message,
    type: ATHENA_RETRYABLE_ERROR_TYPE,
    nonRetryable: false,
    details,
    ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
  });
}
