/**
 * The activity surface the lab-result workflow depends on. The workflow proxies this interface;
 * `createActivities` must implement all of it; workflow tests pass fakes of it. Every request is
 * plain JSON (it is recorded, encrypted, in the workflow history).
 */
import type { AuditEventInput } from './audit-event';
import type { Acuity, LabResult, PatientContact, ResultSource, ResultStatus } from './lab-result';
import type { OnCallShift } from './on-call';
import type { BusinessCalendar, LocalTime } from './practice';
import type { WorkflowState } from './vocabulary';

/** Identifies one send: at most one per (workflow, result version, step). */
export interface SendKey {
  workflowId: string;
  resultVersion: number;
  /** e.g. "generic-sms", "spruce-result", "page-oncall-critical", "escalation-1" */
  step: string;
}

export interface PatientLink {
  workflowId: string;
  practiceId: string;
  patientId: string;
  phone?: string;
}

export interface GenericSmsRequest extends SendKey {
  practiceId: string;
  patientId: string;
  to: string;
  /** Rendered body; the workflow has already run the PHI guard on it. */
  body: string;
  /** Template ID (e.g. "results-ready", "secure-message-waiting", "updated-result", "consent-invitation"). */
  template: string;
  /** Which form of the template the body is ("personal" greets by first name, "generic"): for the audit log. */
  variant?: string;
  /** Only "consent-invitation" may go to a number without consent on record. */
  requiresConsent: boolean;
}
export interface SmsSendOutcome {
  providerMessageId: string;
  alreadySent: boolean;
}

export interface SpruceContactStatus {
  contactId?: string;
  /** True when the patient can receive a secure thread (Spruce account or pending invite). */
  secure: boolean;
}

export interface SpruceResultRequest extends SendKey {
  practiceId: string;
  practiceName: string;
  result: LabResult;
  providerNote?: string;
  schedulingUrl: string;
  /** A corrected result after the patient was already told. */
  updated: boolean;
}
export interface SpruceSendOutcome {
  conversationId: string;
  messageRef: string;
  alreadySent: boolean;
}

export type PageReason =
  | 'critical-result'
  | 'abnormal-result'
  | 'sign-off-reminder'
  | 'sign-off-escalation'
  | 'channel-fallback'
  | 'call-overdue'
  /** A critical result's call task could not be created within the escalation time (still retrying). */
  | 'call-task-not-created'
  /** A new version named another patient than the one this result belongs to; it was not merged. */
  | 'patient-mismatch'
  /** The source cancelled a result the patient was already told about (or a call was under way). */
  | 'result-cancelled';

export interface PageRequest extends SendKey {
  practiceId: string;
  /** The internal ID of the patient whose result the page is about: for the audit rows, never in the page. */
  patientId?: string;
  /** Staff member to page (resolved to a Spruce member by the activity). */
  staffId: string;
  reason: PageReason;
  urgency: 'high' | 'normal';
}
export interface PageOutcome {
  pageRef: string;
  alreadySent: boolean;
  /** When the page was accepted (ISO), for the "log the page time" rule. */
  pagedAt: string;
  /** Who was actually paged: differs from the request when the practice's on-call rota redirects it. */
  pagedStaffId?: string;
}

export interface PortalNoteRequest extends SendKey {
  practiceId: string;
  patientId: string;
  source: ResultSource;
  resultId: string;
  /** Patient-facing note text (may carry the provider's note; goes only to the portal). */
  note: string;
}
export interface PortalNoteOutcome {
  published: boolean;
  publishedAt?: string;
  alreadySent: boolean;
}

/**
 * The second path for a critical page while Spruce is failing: a generic SMS (no PHI: the reason and
 * the review link only) to the staff member's own phone (`pagerPhone` in the practice registry).
 */
export interface StaffSmsPageRequest extends SendKey {
  practiceId: string;
  /** The staff member to text (already resolved through the on-call rota by the workflow). */
  staffId: string;
  reason: PageReason;
}
export interface StaffSmsPageOutcome {
  /** Twilio's message SID. */
  pageRef: string;
  alreadySent: boolean;
  /** When Twilio accepted the text (ISO). */
  pagedAt: string;
}

/** Who is on call at an instant, from the practice's weekly rota (pure; an activity so the answer is in history). */
export interface OnCallRequest {
  atIso: string;
  timeZone: string;
  schedule: OnCallShift[];
  defaultStaffId: string;
}
export interface OnCallAnswer {
  staffId: string;
  /** Index of the rota shift that matched; absent when the default on-call provider covers the time. */
  shift?: number;
}

/** What the consent store knows about a patient's number, for routing. */
export interface SmsConsentLookup {
  consented: boolean;
  /**
   * When the one-time consent invitation was already sent (or claimed for sending) to this
   * practice+patient+phone by any workflow; absent when none was.
   */
  invitationSentAt?: string;
}

/** Reserve the one consent invitation of a practice+patient+phone for this send (workflow, version, step). */
export interface ConsentInvitationClaim extends SendKey {
  practiceId: string;
  patientId: string;
  /** E.164. */
  phone: string;
}

export type CallTaskReason = 'critical-result' | 'abnormal-unread' | 'no-reachable-channel' | 'channel-fallback';

export interface CallTaskRequest extends SendKey {
  practiceId: string;
  patientId: string;
  reason: CallTaskReason;
  priority: 'urgent' | 'normal';
  assignToStaffId?: string;
}
export interface CallTaskOutcome {
  taskId: string;
  athenaCaseId?: string;
  alreadySent: boolean;
}

/** The review app's read model of one result (the queue is served from PostgreSQL, not from Temporal). */
export interface ReviewItem {
  workflowId: string;
  practiceId: string;
  patientId: string;
  patientName?: string;
  panelName?: string;
  orderingProviderId?: string;
  acuity: Acuity;
  resultStatus: ResultStatus;
  state: WorkflowState;
  signed: boolean;
  signedBy?: string;
  signedAt?: string;
  receivedAt: string;
  slaDeadline?: string;
  escalationLevel: number;
  criticalPagedAt?: string;
  version: number;
  /**
   * Workflow time when this snapshot was taken (ISO). Optional; when sent, it orders snapshots of
   * the same version exactly (retried upserts can land out of order).
   */
  updatedAt?: string;
}

/**
 * What earlier runs with the same workflow ID did (a result that comes back after its workflow
 * closed starts a new run under the same ID). The outbox is the record.
 */
export interface PriorRunSummary {
  /** Highest result version any earlier run used in a send key (0 when none): this run numbers after it. */
  lastVersion: number;
  /**
   * Highest version about which the patient was sent a result notice (a sent SMS other than the
   * consent invitation, a Spruce result, a portal note), if any.
   */
  patientNotifiedVersion?: number;
  /**
   * What the last earlier run ended with, from its closing audit row (absent for a run that closed
   * before that row was written): the digest of the clinical content of its last version
   * (workflows/content-digest.ts; a hash, never the values), that version's status ('cancelled'
   * when it ended cancelled), and the internal ID of the patient the result was established for.
   * With them a new run tells a re-delivery from a correction, and refuses another patient.
   */
  lastContentDigest?: string;
  lastStatus?: ResultStatus;
  patientId?: string;
}

export interface BusinessDeadlineRequest {
  startIso: string;
  businessMinutes: number;
  calendar: BusinessCalendar;
}

export interface PatientSendWindowRequest {
  atIso: string;
  /** Candidate zones of the patient (resolvePatientZones). */
  zones: string[];
  window: { start: LocalTime; end: LocalTime };
}
export interface PatientSendWindow {
  /** The earliest instant ≥ atIso inside the window in every zone. */
  sendAt: string;
  /** The first instant after sendAt outside the window in some zone: sends must not start after it. */
  windowEndsAt: string;
}

export interface LabloopActivities {
  appendAudit(event: AuditEventInput): Promise<void>;

  linkWorkflowPatient(link: PatientLink): Promise<void>;
  closeWorkflowPatient(workflowId: string): Promise<void>;
  /** Consent and whether the one-time invitation already went to this number (what routing asks). */
  lookupSmsConsent(input: { practiceId: string; patientId: string; phone: string }): Promise<SmsConsentLookup>;
  /**
   * Claim the invitation before it is sent: succeeds for the first claimant of the
   * practice+patient+phone (and again for the same send key); any other send fails non-retryably
   * with CONSENT_INVITATION_ALREADY_SENT, also when two workflows race.
   */
  claimConsentInvitation(claim: ConsentInvitationClaim): Promise<void>;
  /** Candidate IANA zones for the patient (explicit zone, ZIP, area code), always at least the practice's. */
  resolvePatientZones(input: { patient: PatientContact; practiceTimeZone: string }): Promise<string[]>;

  sendGenericSms(request: GenericSmsRequest): Promise<SmsSendOutcome>;

  lookupSpruceContact(input: { practiceId: string; patient: PatientContact }): Promise<SpruceContactStatus>;
  sendSpruceResult(request: SpruceResultRequest): Promise<SpruceSendOutcome>;
  pageStaff(request: PageRequest): Promise<PageOutcome>;
  /** The SMS path of a critical page (activities/staff-sms-page.ts). */
  sendStaffSmsPage(request: StaffSmsPageRequest): Promise<StaffSmsPageOutcome>;
  resolveOnCall(request: OnCallRequest): Promise<OnCallAnswer>;

  postPortalNote(request: PortalNoteRequest): Promise<PortalNoteOutcome>;
  createCallTask(request: CallTaskRequest): Promise<CallTaskOutcome>;

  upsertReviewItem(item: ReviewItem): Promise<void>;

  /** Outbox summary of earlier runs with this workflow ID (read once when a run starts). */
  findPriorRuns(input: { workflowId: string }): Promise<PriorRunSummary>;
  /**
   * Time-zone arithmetic, run as activities so the answers are recorded in history: a replay on a
   * Node whose ICU time-zone data changed still sees the deadlines the run acted on. Pure (no I/O).
   * A bad calendar fails non-retryably with CONFIGURATION; zones whose windows never meet with NO_SEND_WINDOW.
   */
  computeBusinessDeadline(input: BusinessDeadlineRequest): Promise<string>;
  computePatientSendWindow(input: PatientSendWindowRequest): Promise<PatientSendWindow>;
}
