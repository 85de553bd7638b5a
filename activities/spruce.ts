import { ApplicationFailure } from '@temporalio/activity';
import { onCallStaffAt } from '../domain/on-call';
import type { PatientContact } from '../domain/lab-result';
import type { PracticePolicy, StaffMember } from '../domain/practice';
import { SpruceError, type SpruceContact } from '../lib/clients/spruce';
import { renderResultPdf } from '../lib/pdf';
import { rememberSpruceContact } from '../lib/spruce-contacts';
import { reviewResultUrl } from '../lib/public-url';
import type {
  LabloopActivities,
  PageRequest,
  SpruceContactStatus,
  SpruceResultRequest,
} from '../domain/activity-contract';
import type { ActivityDeps } from './deps';
import { policyOf } from './practice-policy';
import { ActivityErrorType } from '../domain/activity-error-types';
import { adoptParkedSpruceReport, replayUnmatchedDeliveries } from '../lib/outbox/delivery-reports';
import { activitySignaller } from './signaller';
import { outboxIdempotencyKey, pageReference, PENDING_ID_PREFIX, sendOnce } from '../lib/outbox/outbox';
import { PAGE_REASON_TEXT } from './page-reasons';

/**
 * Spruce: the secure result thread (message + our rendered PDF), and pages/internal notes to staff.
 *
 * Every write carries `s-idempotency-key` derived from the outbox key, so a retry after a lost answer
 * is refused by Spruce as a duplicate (422, "already done") instead of posting twice. Spruce does not
 * replay the first answer, so such a send is recorded with a pending ID that the
 * `conversationItem.created` webhook later replaces with the real request ID.
 *
 * Failures: SpruceNoAccountError (the patient cannot receive a secure thread), SprucePermanentError
 * (4xx: this request will never succeed), ConfigurationError (unknown practice or staff member, no
 * Spruce endpoint configured, token refused); everything else is retried.
 */

export const SPRUCE_RETRYABLE_ERROR_TYPE = 'SpruceRetryableError';

/** The attachment's title in the thread (the patient sees it; generic on purpose). */
const RESULT_PDF_TITLE = 'Lab results (PDF)';

type SpruceDeps = Pick<
  ActivityDeps,
  'pool' | 'audit' | 'spruce' | 'spruceInternalEndpointId' | 'practices' | 'now' | 'signaller' | 'reviewBaseUrl'
>;

/**
 * Webhooks for this send that beat its recording were parked: apply them now. A send recorded only
 * as pending (the retry got 422) adopts a parked report by its thread or page reference; the real
 * request id is returned then.
 */
async function replayParked(
  deps: SpruceDeps,
  channel: 'spruce' | 'page',
  key: string,
  outcome: { providerMessageId: string; threadId?: string },
): Promise<string> {
  const signaller = activitySignaller(deps.signaller);
  if (signaller === undefined) return outcome.providerMessageId;
  if (!outcome.providerMessageId.startsWith(PENDING_ID_PREFIX)) {
    await replayUnmatchedDeliveries({ ...deps, signaller }, channel, outcome.providerMessageId);
    return outcome.providerMessageId;
  }
  const adopted = await adoptParkedSpruceReport(
    { ...deps, signaller },
    {
      channel,
      idempotencyKey: key,
      ...(outcome.threadId !== undefined ? { threadId: outcome.threadId } : {}),
      ...(channel === 'page' ? { reference: pageReference(key) } : {}),
    },
  );
  return adopted ?? outcome.providerMessageId;
}

export function createSpruceActivities(
  deps: SpruceDeps,
): Pick<LabloopActivities, 'lookupSpruceContact' | 'sendSpruceResult' | 'pageStaff'> {
  return {
    /** Whether the patient can get a secure thread. Read-only: finds the contact, never creates one. */
    async lookupSpruceContact({ practiceId, patient }): Promise<SpruceContactStatus> {
      policyOf(deps, practiceId);
      try {
        const contact = await findContact(deps, patient);
        if (contact === undefined) return { secure: false };
        await rememberSpruceContact(deps.pool, { practiceId, patientId: patient.id }, contact.id);
        return { contactId: contact.id, secure: canMessageSecurely(contact) };
      } catch (err) {
        throw spruceFailure(err);
      }
    },

    /** Post the result (text + PDF) in the patient's secure thread, at most once per outbox key. */
    async sendSpruceResult(
      request: SpruceResultRequest,
    ): Promise<{ conversationId: string; messageRef: string; alreadySent: boolean }> {
      const policy = policyOf(deps, request.practiceId);
      const endpointId = deps.spruceInternalEndpointId;
      if (endpointId === undefined || endpointId === '') {
        throw ApplicationFailure.nonRetryable(
          'SPRUCE_INTERNAL_ENDPOINT_ID is not configured',
          ActivityErrorType.CONFIGURATION,
        );
      }
      const key = outboxIdempotencyKey(request);
      const patient = request.result.patient;
      try {
        const contact = await findOrCreateContact(deps, patient, key);
        await rememberSpruceContact(deps.pool, { practiceId: request.practiceId, patientId: patient.id }, contact.id);
        if (!canMessageSecurely(contact)) {
          throw ApplicationFailure.nonRetryable(
            'the patient has no Spruce account or pending invite',
            ActivityErrorType.SPRUCE_NO_ACCOUNT,
          );
        }
        const outcome = await sendOnce(
          deps,
          request,
          {
            channel: 'spruce',
            practiceId: request.practiceId,
            patientId: patient.id,
            template: request.updated ? 'spruce-result-updated' : 'spruce-result',
            // The message carries the provider's note to the patient, or only the summary.
            variant: request.providerNote !== undefined && request.providerNote !== '' ? 'with-note' : 'summary',
          },
          async () => {
            const conversationId = await findOrCreateConversation(deps, contact, endpointId, policy, key);
            const pdf = await renderResultPdf({
              result: request.result,
              practiceName: request.practiceName,
              ...(request.providerNote !== undefined ? { providerNote: request.providerNote } : {}),
              generatedAt: deps.now().toISOString(),
              flagMappings: policy.flagMappings,
            });
            const { mediaId } = await deps.spruce.uploadMedia({
              filename: `lab-results-v${request.resultVersion}.pdf`,
              contentType: 'application/pdf',
              data: pdf,
            });
            const posted = await deps.spruce.postMessage({
              conversationId,
              text: resultMessageText(request),
              attachments: [{ mediaId, title: RESULT_PDF_TITLE }],
              idempotencyKey: key,
            });
            return {
              providerMessageId: posted.alreadyDone ? `${PENDING_ID_PREFIX}${key}` : posted.requestId,
              threadId: conversationId,
            };
          },
        );
        const messageRef = await replayParked(deps, 'spruce', key, outcome);
        return {
          conversationId: outcome.threadId ?? '',
          messageRef,
          alreadySent: outcome.alreadySent,
        };
      } catch (err) {
        throw spruceFailure(err);
      }
    },

    /**
     * Page a staff member through Spruce: an internal note conversation with a `page` element for
     * their member ID. The text carries the reason, the workflow ID and the review link, never a
     * patient name or a value.
     */
    async pageStaff(request: PageRequest) {
      const policy = policyOf(deps, request.practiceId);
      const staffId = await resolveOnCall(deps, policy, request);
      const member = spruceMemberOf(policy, staffId);
      const key = outboxIdempotencyKey(request);
      try {
        const outcome = await sendOnce(
          deps,
          request,
          {
            channel: 'page',
            practiceId: request.practiceId,
            ...(request.patientId !== undefined ? { patientId: request.patientId } : {}),
            template: `page-${request.reason}`,
            auditAction: 'page',
          },
          async () => {
            const created = await deps.spruce.createNoteConversation({
              memberIds: [member],
              title: PAGE_REASON_TEXT[request.reason],
              text: pageText(request, deps.reviewBaseUrl),
              pageMemberIds: [member],
              idempotencyKey: key,
            });
            if (created.alreadyDone) return { providerMessageId: `${PENDING_ID_PREFIX}${key}` };
            return {
              providerMessageId: created.postMessageRequestId ?? created.conversationId,
              threadId: created.conversationId,
            };
          },
        );
        const pageRef = await replayParked(deps, 'page', key, outcome);
        return {
          pageRef,
          alreadySent: outcome.alreadySent,
          pagedAt: outcome.sentAt.toISOString(),
          pagedStaffId: staffId,
        };
      } catch (err) {
        throw spruceFailure(err);
      }
    },
  };
}

/**
 * The workflow pages "the on-call provider" as the practice's default on-call ID; the rota in the
 * practice configuration decides who that is at the moment of the page (a retry after a shift
 * change pages the new person, unless the first attempt's page was already recorded). A rota
 * redirect is audited, so the log says who was actually paged and why.
 */
async function resolveOnCall(deps: SpruceDeps, policy: PracticePolicy, request: PageRequest): Promise<string> {
  if (request.staffId !== policy.onCallProviderId || (policy.onCallSchedule ?? []).length === 0) return request.staffId;
  const at = deps.now().toISOString();
  const { staffId, shift } = onCallStaffAt(
    at,
    policy.calendar.timeZone,
    policy.onCallSchedule ?? [],
    policy.onCallProviderId,
  );
  if (staffId !== request.staffId) {
    await deps.audit.append({
      occurredAt: at,
      practiceId: policy.practiceId,
      workflowId: request.workflowId,
      actor: { type: 'system', id: 'worker' },
      action: 'routing-decision',
      channel: 'page',
      outcome: 'on-call-rota',
      details: { step: request.step, requested: request.staffId, paged: staffId, shift: shift ?? null },
      idempotencyKey: `${outboxIdempotencyKey(request)}:on-call`,
    });
  }
  return staffId;
}

function spruceMemberOf(policy: PracticePolicy, staffId: string): string {
  const staff: StaffMember | undefined = policy.staff.find((s) => s.id === staffId);
  if (staff?.spruceMemberId === undefined || staff.spruceMemberId === '') {
    throw ApplicationFailure.nonRetryable(
      `staff member ${staffId} of practice ${policy.practiceId} has no Spruce member ID to page`,
      ActivityErrorType.CONFIGURATION,
    );
  }
  return staff.spruceMemberId;
}

/**
 * Whether the contact can get a secure thread: yes or no when Spruce says (hasAccount,
 * hasPendingInvite: not in the public reference), `unknown` when it does not. Unknown is treated as
 * "try": Spruce refuses to create a secure conversation for a contact with neither (§3.3), and that
 * refusal is then the answer (SpruceNoAccountError).
 */
function secureState(contact: SpruceContact): 'yes' | 'no' | 'unknown' {
  if (contact.hasAccount === true || contact.hasPendingInvite === true) return 'yes';
  if (contact.hasAccount === false || contact.hasPendingInvite === false) return 'no';
  return 'unknown';
}

function canMessageSecurely(contact: SpruceContact): boolean {
  return secureState(contact) !== 'no';
}

/**
 * The patient's contact: by the EHR link first (exact), else by mobile number, accepting a match
 * only when the name agrees too, so a relative sharing the phone is never taken for the patient.
 */
async function findContact(deps: SpruceDeps, patient: PatientContact): Promise<SpruceContact | undefined> {
  const linked = await deps.spruce.findContactByIntegration({ externalId: patient.id });
  if (linked !== undefined) return linked;
  if (patient.mobilePhone === undefined || patient.firstName === undefined || patient.lastName === undefined) {
    return undefined;
  }
  const { contacts } = await deps.spruce.searchContacts({
    structured: {
      phoneNumberFilter: [{ values: [patient.mobilePhone], match: 'any' }],
      nameFilter: [{ names: [{ givenName: patient.firstName, familyName: patient.lastName }], match: 'any' }],
    },
  });
  const same = (a: string | undefined, b: string) => a?.trim().toLowerCase() === b.trim().toLowerCase();
  return contacts.find(
    (c) =>
      same(c.givenName, patient.firstName ?? '') &&
      same(c.familyName, patient.lastName ?? '') &&
      c.phoneNumbers.some((p) => p.value === patient.mobilePhone),
  );
}

async function findOrCreateContact(deps: SpruceDeps, patient: PatientContact, key: string): Promise<SpruceContact> {
  const found = await findContact(deps, patient);
  if (found !== undefined) return found;
  if (patient.mobilePhone === undefined || patient.firstName === undefined || patient.lastName === undefined) {
    throw ApplicationFailure.nonRetryable(
      'no Spruce contact for the patient, and name or mobile number is missing to create one',
      ActivityErrorType.SPRUCE_NO_ACCOUNT,
    );
  }
  const { contact } = await deps.spruce.createContact({
    givenName: patient.firstName,
    familyName: patient.lastName,
    phoneNumbers: [patient.mobilePhone],
    externalId: patient.id,
    idempotencyKey: key,
  });
  return contact;
}

/** Reuse the patient's secure thread from our endpoint, or start one (idempotently). */
async function findOrCreateConversation(
  deps: SpruceDeps,
  contact: SpruceContact,
  endpointId: string,
  policy: PracticePolicy,
  key: string,
): Promise<string> {
  const contactId = contact.id;
  const existing = async () => {
    const conversations = await deps.spruce.listContactConversations(contactId);
    return conversations
      .filter((c) => c.type === 'secure' && c.internalEndpoint?.id === endpointId)
      .sort((a, b) => (b.lastMessageAt ?? b.createdAt ?? '').localeCompare(a.lastMessageAt ?? a.createdAt ?? ''))[0]
      ?.id;
  };
  const reused = await existing();
  if (reused !== undefined) return reused;
  let created;
  try {
    created = await deps.spruce.createSecureConversation({
      contactId,
      internalEndpointId: endpointId,
      subject: `Lab results from ${policy.practiceName}`,
      idempotencyKey: `${key}:conversation`,
    });
  } catch (err) {
    if (secureState(contact) === 'unknown' && err instanceof SpruceError && err.status === 400) {
      // Spruce did not say whether the patient is on Spruce, and refused the secure conversation:
      // that refusal is how it says no (§3.3).
      throw ApplicationFailure.nonRetryable(
        'Spruce refused a secure conversation: the patient has no Spruce account or pending invite',
        ActivityErrorType.SPRUCE_NO_ACCOUNT,
      );
    }
    throw err;
  }
  if (!created.alreadyDone) return created.conversationId;
  // An earlier attempt created it and its answer was lost; Spruce lists are eventually consistent.
  const again = await existing();
  if (again !== undefined) return again;
  throw new SpruceError('Spruce conversation was created by an earlier attempt but is not listed yet', {
    kind: 'retryable',
    type: 'duplicate_not_listed',
  });
}

/** The secure message itself (it may carry the result: Spruce is the secure channel). */
export function resultMessageText(request: SpruceResultRequest): string {
  const what = request.result.panelName !== undefined ? `${request.result.panelName} results` : 'lab results';
  const lines = [
    request.updated
      ? `${request.practiceName}: an updated version of your ${what} is attached. Please use this one instead of the earlier copy.`
      : `${request.practiceName}: your ${what} are attached.`,
  ];
  if (request.providerNote !== undefined && request.providerNote.trim() !== '') {
    lines.push(`Note from your provider: ${request.providerNote.trim()}`);
  }
  if (request.schedulingUrl !== '') lines.push(`To schedule a follow-up visit: ${request.schedulingUrl}`);
  lines.push('Reply here with any questions.');
  return lines.join('\n\n');
}

/**
 * A page's text: reason, IDs, its reference (see pageReference) and the link to the result in the
 * review app (when the app's URL is configured) only; never a value.
 */
export function pageText(request: PageRequest, reviewBaseUrl?: string): string {
  const parts = [
    `${request.urgency === 'high' ? 'URGENT: ' : ''}${PAGE_REASON_TEXT[request.reason]}.`,
    `Result ${request.workflowId}.`,
    `Ref ${pageReference(outboxIdempotencyKey(request))}.`,
  ];
  if (reviewBaseUrl !== undefined) parts.push(`Review: ${reviewResultUrl(reviewBaseUrl, request.workflowId)}`);
  return parts.join(' ');
}

/** A Spruce error as the workflow understands it; the message names status and type, never content. */
export function spruceFailure(err: unknown): unknown {
  if (!(err instanceof SpruceError)) return err;
  // `error` tells a refused request (SpruceValidationError, a 422 that is no duplicate) from other refusals.
  const details = [{ status: err.status ?? null, type: err.type ?? null, error: err.name }];
  if (err.kind === 'auth') {
    return ApplicationFailure.create({
      message: err.message,
      type: ActivityErrorType.CONFIGURATION,
      nonRetryable: true,
      details,
    });
  }
  if (err.kind === 'permanent') {
    return ApplicationFailure.create({
      message: err.message,
      type: ActivityErrorType.SPRUCE_PERMANENT,
      nonRetryable: true,
      details,
    });
  }
  return ApplicationFailure.create({
    message: err.message,
    type: SPRUCE_RETRYABLE_ERROR_TYPE,
    nonRetryable: false,
    details,
    ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
  });
}
