import { ApplicationFailure, Context } from '@temporalio/activity';
import { createCalendarActivities } from '../../../activities/calendar';
import { createOnCallActivities } from '../../../activities/on-call';
import type {
  CallTaskRequest,
  GenericSmsRequest,
  LabloopActivities,
  PageRequest,
  PortalNoteRequest,
  PriorRunSummary,
  ReviewItem,
  SpruceResultRequest,
  StaffSmsPageRequest,
} from '../../../domain/activity-contract';
import { ActivityErrorType } from '../../../domain/activity-error-types';
import type { AuditEventInput } from '../../../lib/audit/types';
import { normalizeEvent } from '../../../lib/audit/validate';

/**
 * Recording fakes of every activity the workflow calls, typed as LabloopActivities. They record
 * each call with the server time it was scheduled at, validate audit events with the real audit
 * validator, deduplicate by the same keys the real outbox and audit log use, and can be told to
 * fail (retryably or for good) to simulate outages and refusals. Calendar arithmetic is the real one.
 */

export interface Call<T = unknown> {
  name: keyof LabloopActivities;
  /** Server time the current attempt was scheduled (workflow time of the decision, for the first). */
  at: number;
  attempt: number;
  input: T;
}

/** Throws to make an activity fail; return normally to let it succeed. */
export type Fault = (call: { at: number; attempt: number; input: unknown }) => void | Promise<void>;

export interface WorldOptions {
  smsConsent?: boolean;
  spruceSecure?: boolean;
  prior?: PriorRunSummary;
  /**
   * The SMS task queue has no worker until the scenario calls `releaseSmsQueue()`: texts wait in
   * the queue the way they do behind the sender's rate limit during a burst.
   */
  holdSmsQueue?: boolean;
}

/** What every patient-facing send request carries. */
export type SendKeyInput = { workflowId: string; resultVersion: number; step: string } & Partial<GenericSmsRequest>;

export const retryable = (message = 'provider unavailable'): Error =>
  ApplicationFailure.retryable(message, 'ProviderUnavailable');
export const permanent = (type: string, message = 'refused'): Error => ApplicationFailure.nonRetryable(message, type);

export class FakeWorld {
  readonly calls: Call[] = [];
  readonly audits: AuditEventInput[] = [];
  readonly reviewItems = new Map<string, ReviewItem>();
  readonly faults: Partial<Record<keyof LabloopActivities, Fault>> = {};
  smsConsent: boolean;
  spruceSecure: boolean;
  /**
   * What findPriorRuns answers. Unset: what the real activity would read from this world's own
   * outbox and audit log (earlier runs of the same workflow ID in this scenario), see priorRunsOf.
   */
  prior: PriorRunSummary | undefined;
  /**
   * The consent store's invitation claims, by practice:patient:phone, shared by every workflow of
   * the world (like the real table): the send key that holds each.
   */
  readonly invitations = new Map<string, string>();
  /** False: the lookup does not report earlier invitations (as when two workflows look at once). */
  reportInvitations = true;
  /** False: athena takes the portal note but never publishes it (e.g. the practice does not publish). */
  portalPublished = true;
  private readonly sentKeys = new Map<string, string>();
  private readonly auditKeys = new Set<string>();
  private seq = 0;

  constructor(options: WorldOptions = {}) {
    this.smsConsent = options.smsConsent ?? true;
    this.spruceSecure = options.spruceSecure ?? true;
    this.prior = options.prior;
  }

  callsOf<T>(name: keyof LabloopActivities): Call<T>[] {
    return this.calls.filter((c) => c.name === name) as Call<T>[];
  }

  /** Successful (first-time) sends, by activity. */
  sms(): Call<GenericSmsRequest>[] {
    return this.successes<GenericSmsRequest>('sendGenericSms');
  }
  spruce(): Call<SpruceResultRequest>[] {
    return this.successes<SpruceResultRequest>('sendSpruceResult');
  }
  portal(): Call<PortalNoteRequest>[] {
    return this.successes<PortalNoteRequest>('postPortalNote');
  }
  pages(): Call<PageRequest>[] {
    return this.successes<PageRequest>('pageStaff');
  }
  callTasks(): Call<CallTaskRequest>[] {
    return this.successes<CallTaskRequest>('createCallTask');
  }
  staffSmsPages(): Call<StaffSmsPageRequest>[] {
    return this.successes<StaffSmsPageRequest>('sendStaffSmsPage');
  }
  /** Every attempt of the patient-facing sends (first attempts and retries, failed or not). */
  patientSendAttempts(): Call<SendKeyInput>[] {
    return this.calls.filter(
      (c) => c.name === 'sendGenericSms' || c.name === 'sendSpruceResult' || c.name === 'postPortalNote',
    ) as Call<SendKeyInput>[];
  }
  auditsOf(action: AuditEventInput['action']): AuditEventInput[] {
    return this.audits.filter((a) => a.action === action);
  }

  private readonly succeeded: Call[] = [];
  private successes<T>(name: keyof LabloopActivities): Call<T>[] {
    return this.succeeded.filter((c) => c.name === name) as Call<T>[];
  }

  private async record<T>(name: keyof LabloopActivities, input: T): Promise<Call<T>> {
    let at = 0;
    let attempt = 1;
    try {
      const info = Context.current().info;
      at = info.currentAttemptScheduledTimestampMs;
      attempt = info.attempt;
    } catch {
      // Outside an activity context (direct calls from a unit test).
    }
    const call: Call<T> = { name, at, attempt, input };
    this.calls.push(call);
    await this.faults[name]?.({ at, attempt, input });
    return call;
  }

  /**
   * The summary activities/prior-runs.ts reads from the outbox and the audit log, from this world's
   * records: versions used in send keys and in the workflow's own audit rows, the highest version
   * the patient was sent a result notice about, and the last closing row's digest, status and patient.
   */
  priorRunsOf(workflowId: string): PriorRunSummary {
    const sends = this.succeeded.filter(
      (c) => (c.input as Partial<SendKeyInput>).workflowId === workflowId,
    ) as Call<SendKeyInput>[];
    const decisions = this.audits.filter(
      (a) => a.workflowId === workflowId && (a.idempotencyKey ?? '').startsWith(`${workflowId}:`),
    );
    const versions = [
      0,
      ...sends.map((c) => c.input.resultVersion),
      ...decisions.map((a) => (typeof a.details?.version === 'number' ? a.details.version : 0)),
    ];
    const notified = sends
      .filter(
        (c) =>
          (c.name === 'sendGenericSms' && c.input.template !== 'consent-invitation') ||
          c.name === 'sendSpruceResult' ||
          c.name === 'postPortalNote',
      )
      .map((c) => c.input.resultVersion);
    const closing = decisions.filter((a) => a.action === 'routing-decision' && a.outcome === 'closed').at(-1);
    const digest = closing?.details?.contentDigest;
    const status = closing?.details?.lastStatus;
    const patientId = closing?.patientId ?? decisions.filter((a) => a.patientId !== undefined).at(-1)?.patientId;
    return {
      lastVersion: Math.max(...versions),
      ...(notified.length > 0 ? { patientNotifiedVersion: Math.max(...notified) } : {}),
      ...(typeof digest === 'string' ? { lastContentDigest: digest } : {}),
      ...(status === 'preliminary' || status === 'final' || status === 'corrected' || status === 'cancelled'
        ? { lastStatus: status }
        : {}),
      ...(patientId !== undefined ? { patientId } : {}),
    };
  }

  /** The provider ID the next first-time send will get (to report a status before the send returns). */
  peekNextId(prefix: string): string {
    return `${prefix}${String(this.seq + 1).padStart(32, '0')}`;
  }

  /** Outbox semantics: one provider message per (workflow, version, step), whatever the retries. */
  private once(call: Call, key: { workflowId: string; resultVersion: number; step: string }, prefix: string) {
    const k = `${key.workflowId}:v${key.resultVersion}:${key.step}`;
    const existing = this.sentKeys.get(k);
    if (existing !== undefined) return { id: existing, alreadySent: true };
    this.seq += 1;
    const id = `${prefix}${String(this.seq).padStart(32, '0')}`;
    this.sentKeys.set(k, id);
    this.succeeded.push(call);
    return { id, alreadySent: false };
  }

  /** Activity calls currently executing in a worker. */
  inFlight = 0;

  /** Wrap every activity so `inFlight` counts executions (the harness waits for zero before terminating). */
  activities(): LabloopActivities {
    const raw = this.rawActivities();
    const counted = {} as Record<string, (input: never) => Promise<unknown>>;
    for (const [name, fn] of Object.entries(raw) as [string, (input: never) => Promise<unknown>][]) {
      counted[name] = async (input: never) => {
        this.inFlight += 1;
        try {
          return await fn(input);
        } finally {
          this.inFlight -= 1;
        }
      };
    }
    return counted as unknown as LabloopActivities;
  }

  private rawActivities(): LabloopActivities {
    const calendar = createCalendarActivities();
    const onCall = createOnCallActivities();
    const invitationKey = (k: { practiceId: string; patientId: string; phone: string }) =>
      `${k.practiceId}:${k.patientId}:${k.phone}`;
    return {
      appendAudit: async (event) => {
        await this.record('appendAudit', event);
        normalizeEvent(event); // throws on anything the real audit log would refuse
        if (event.idempotencyKey !== undefined) {
          if (this.auditKeys.has(event.idempotencyKey)) return;
          this.auditKeys.add(event.idempotencyKey);
        }
        this.audits.push(event);
      },
      linkWorkflowPatient: async (link) => {
        await this.record('linkWorkflowPatient', link);
      },
      closeWorkflowPatient: async (workflowId) => {
        await this.record('closeWorkflowPatient', workflowId);
      },
      lookupSmsConsent: async (input) => {
        await this.record('lookupSmsConsent', input);
        const invited = this.reportInvitations && this.invitations.has(invitationKey(input));
        return { consented: this.smsConsent, ...(invited ? { invitationSentAt: new Date(0).toISOString() } : {}) };
      },
      claimConsentInvitation: async (claim) => {
        await this.record('claimConsentInvitation', claim);
        const sendKey = `${claim.workflowId}:v${claim.resultVersion}:${claim.step}`;
        const holder = this.invitations.get(invitationKey(claim));
        if (holder === undefined) this.invitations.set(invitationKey(claim), sendKey);
        else if (holder !== sendKey) throw permanent(ActivityErrorType.CONSENT_INVITATION_ALREADY_SENT, 'invited');
      },
      resolvePatientZones: async (input) => {
        await this.record('resolvePatientZones', input);
        return input.patient.timeZone !== undefined ? [input.patient.timeZone] : [input.practiceTimeZone];
      },
      sendGenericSms: async (request) => {
        const call = await this.record('sendGenericSms', request);
        if (request.requiresConsent && !this.smsConsent) {
          throw permanent(ActivityErrorType.SMS_CONSENT_MISSING, 'no consent');
        }
        const sent = this.once(call, request, 'SM');
        return { providerMessageId: sent.id, alreadySent: sent.alreadySent };
      },
      lookupSpruceContact: async (input) => {
        await this.record('lookupSpruceContact', input);
        return this.spruceSecure ? { contactId: 'entity_contact_1', secure: true } : { secure: false };
      },
      sendSpruceResult: async (request) => {
        const call = await this.record('sendSpruceResult', request);
        if (!this.spruceSecure) throw permanent(ActivityErrorType.SPRUCE_NO_ACCOUNT, 'no account');
        const sent = this.once(call, request, 'spruce_item_');
        return { conversationId: 'conv_1', messageRef: sent.id, alreadySent: sent.alreadySent };
      },
      pageStaff: async (request) => {
        const call = await this.record('pageStaff', request);
        const sent = this.once(call, request, 'page_');
        return { pageRef: sent.id, alreadySent: sent.alreadySent, pagedAt: new Date(call.at).toISOString() };
      },
      sendStaffSmsPage: async (request) => {
        const call = await this.record('sendStaffSmsPage', request);
        const sent = this.once(call, request, 'SM');
        return { pageRef: sent.id, alreadySent: sent.alreadySent, pagedAt: new Date(call.at).toISOString() };
      },
      resolveOnCall: async (request) => {
        await this.record('resolveOnCall', request);
        return onCall.resolveOnCall(request);
      },
      postPortalNote: async (request) => {
        const call = await this.record('postPortalNote', request);
        const sent = this.once(call, request, 'portal_');
        if (!this.portalPublished) return { published: false, alreadySent: sent.alreadySent };
        return { published: true, publishedAt: new Date(call.at).toISOString(), alreadySent: sent.alreadySent };
      },
      createCallTask: async (request) => {
        const call = await this.record('createCallTask', request);
        const sent = this.once(call, request, 'task_');
        return { taskId: sent.id, alreadySent: sent.alreadySent };
      },
      upsertReviewItem: async (item) => {
        await this.record('upsertReviewItem', item);
        this.reviewItems.set(item.workflowId, item);
      },
      findPriorRuns: async (input) => {
        await this.record('findPriorRuns', input);
        return this.prior ?? this.priorRunsOf(input.workflowId);
      },
      computeBusinessDeadline: (input) => calendar.computeBusinessDeadline(input),
      computePatientSendWindow: (input) => calendar.computePatientSendWindow(input),
    };
  }
}
