import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
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
} from './contract';
import type { ActivityDeps } from './deps';
import { ActivityErrorType } from './error-types';
import { outboxIdempotencyKey, sendOnce, type ReconcileResult } from './outbox';

/**
 * athenahealth writes: the portal note on the lab-result document, and outbound-call patient cases.
 *
 * Portal note. athena's API cannot start a portal message; what the patient sees on the portal is the
 * lab-result document with its patient note, published by athena according to the practice's
 * settings. So the note is written on the document (`replace`, which makes a retry idempotent) and
 * the publication is then read back (`portalpublisheddatetime`), so "published" means athena says
 * so. The note is only written for results that came from athena: an HL7 or FHIR result's ID is the
 * lab's or the sender's, not an athena document ID, and guessing the document (by patient and date)
 * could put a note on the wrong result. Those are answered "not published" with the reason audited,
 * and the workflow falls back as for an unpublished note.
 *
 * Call task. A `call_task` row (the staff page) first, then, for athena practices, an athena patient
 * case with `outboundonly`, the priority and the assignee's username. athena has no idempotency key:
 * the case carries a marker token, and an attempt whose outcome is unknown looks for it
 * (`findPatientCases`) before creating another.
 */

export const ATHENA_RETRYABLE_ERROR_TYPE = 'AthenaRetryableError';

/**
 * athena's PATIENTCASE `documentsource`/`documentsubclass` values. athena does not publish the full
 * lists (docs/reference external-systems.md §1.7): these are the common ones; a practice whose
 * athena uses others needs them changed here.
 */
export const PATIENT_CASE_DOCUMENT_SOURCE = 'OTHER';
export const PATIENT_CASE_DOCUMENT_SUBCLASS = 'LABRESULTS';

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
      try {
        const outcome = await sendOnce(
          deps,
          request,
          { channel: 'portal', practiceId: request.practiceId, patientId: request.patientId, template: 'portal-note' },
          async () => {
            // Replace, not append: a retry rewrites the same note instead of adding a second copy.
            await deps.athena.updateLabResultPatientNote({ ...ref, note: request.note, replace: true });
            return { providerMessageId: `labresult:${request.resultId}:v${request.resultVersion}:${request.step}` };
          },
        );
        const publication = await deps.athena.getPortalPublication(ref);
        await audit(
          deps,
          request,
          'send',
          publication.published ? 'published' : 'not-published',
          `outbox:${key}:publication:${publication.published ? 'yes' : 'no'}`,
          { ...(publication.publishedAt !== undefined ? { publishedAt: publication.publishedAt } : {}) },
        );
        return {
          published: publication.published,
          ...(publication.publishedAt !== undefined ? { publishedAt: publication.publishedAt } : {}),
          alreadySent: outcome.alreadySent,
        };
      } catch (err) {
        throw athenaFailure(err);
      }
    },

    async createCallTask(request: CallTaskRequest): Promise<CallTaskOutcome> {
      const policy = policyOf(deps, request.practiceId);
      const assignee = assigneeOf(policy, request.assignToStaffId);
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
              documentSource: PATIENT_CASE_DOCUMENT_SOURCE,
              documentSubclass: PATIENT_CASE_DOCUMENT_SUBCLASS,
            });
            return { providerMessageId: patientCaseId };
          },
          reconcile,
        );
        const athenaCaseId = outcome.providerMessageId;
        // Assigning is an idempotent PUT: repeated on every call so a crash between create and assign heals.
        if (assignee?.athenaUsername !== undefined) {
          await deps.athena.assignPatientCase({
            ...patientRef,
            patientCaseId: athenaCaseId,
            username: assignee.athenaUsername,
          });
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

function policyOf(deps: Pick<ActivityDeps, 'practices'>, practiceId: string): PracticePolicy {
  const policy = deps.practices.policy(practiceId);
  if (policy === undefined) {
    throw ApplicationFailure.nonRetryable(`unknown practice ${practiceId}`, ActivityErrorType.CONFIGURATION);
  }
  return policy;
}

/** The named staff member, or the practice's first staff-role member with an athena username. */
function assigneeOf(policy: PracticePolicy, staffId: string | undefined): StaffMember | undefined {
  if (staffId !== undefined) {
    const named = policy.staff.find((s) => s.id === staffId);
    if (named === undefined) {
      throw ApplicationFailure.nonRetryable(
        `staff member ${staffId} is not on practice ${policy.practiceId}'s staff list`,
        ActivityErrorType.CONFIGURATION,
      );
    }
    return named;
  }
  return policy.staff.find((s) => s.role === 'staff' && s.athenaUsername !== undefined);
}

/** A short token unique to the outbox key, written into the case so a lost create can be found again. */
export function markerFor(idempotencyKey: string): string {
  return `LLT-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 12)}`;
}

async function audit(
  deps: AthenaDeps,
  request: { workflowId: string; practiceId: string; patientId: string; step: string; resultVersion: number },
  action: 'send' | 'call-task',
  outcome: string,
  idempotencyKey: string,
  details: Record<string, string>,
): Promise<void> {
  await deps.audit.append({
    occurredAt: deps.now().toISOString(),
    practiceId: request.practiceId,
    workflowId: request.workflowId,
    patientId: request.patientId,
    actor: { type: 'system', id: 'worker' },
    action,
    channel: action === 'send' ? 'portal' : 'call',
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
