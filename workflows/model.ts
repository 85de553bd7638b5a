import type { CallTaskReason, PageReason } from '../domain/activity-contract';
import type { Acuity, LabResult, ResultStatus } from '../domain/lab-result';
import type { SmsTemplateId } from '../domain/sms-templates';
import type {
  ActionRecord,
  CallCompletedEvent,
  Channel,
  DeliveryStatus,
  ResultReceived,
  SignOffRequest,
} from './definitions';

/**
 * The lab-result workflow's whole state as plain JSON data. The decision core (decide.ts) is a pure
 * function of (model, event) → (model, commands); the workflow shell only runs the commands and
 * feeds their outcomes back as events. Times are ISO-8601 strings, compared as instants.
 */

/** Who signed the current gate and how. */
export interface Signature {
  by: string;
  at: string;
  via: SignOffRequest['via'] | 'source';
  noteToPatient?: string;
}

/** What the contact lookups found when routing started for a gate. */
export interface ContactFacts {
  smsConsent: boolean;
  /** Candidate IANA zones of the patient (at least the practice's). */
  zones: string[];
  /** The patient can receive a Spruce secure thread. */
  spruceSecure: boolean;
  /** The number already had its one consent invitation (from this or any other workflow). */
  invitationSent?: boolean;
}

/**
 * One opening of the two-key gate. The first version opens gate 1; a correction (changed content,
 * or a change to "corrected") or a reinstated cancel opens the next, which needs a new sign-off.
 */
export interface Gate {
  epoch: number;
  /** The version that opened this gate (send keys of this gate's staff messages use it). */
  openedByVersion: number;
  signature?: Signature;
  /** When the sign-off SLA counts from: this gate's first final (or corrected) version's receipt. */
  slaStart?: string;
  /** Receipt time + the SLA in business minutes (unset while preliminary or while being computed). */
  slaDeadline?: string;
  /** 0 = nobody escalated to yet; n = the n-th rung of the ladder was paged. */
  escalationLevel: number;
  /** When the next rung is due, while unsigned. */
  nextEscalationAt?: string;
  /**
   * The ladder's last rung was paged at this deadline and rungs now repeat (patch repeatEscalation):
   * the result is overdue, and the review queue shows it against the SLA deadline it missed.
   */
  overdueSince?: string;
  deadlinePending: boolean;
  routing: 'not-started' | 'gathering' | 'planned';
  /** The patient was told about an earlier version when routing started: use "updated result" wording. */
  updated: boolean;
  /** When the contact lookup was requested (a consent signal after it wins over its answer). */
  gatherRequestedAt?: string;
  contact?: ContactFacts;
  /** The administrator was paged about a channel failure for this gate. */
  fallback: boolean;
  /** Abnormal result: a call task is created if nothing was read by then. */
  unreadCallAt?: string;
  /**
   * Critical gate: when the result arrived. The call's escalation counts from here, not from when
   * the call task was created (which may take long if athena is down).
   */
  criticalSince?: string;
  /** Critical gate: the on-call provider from the rota, once resolved (pages and the call task go to them). */
  onCallStaffId?: string;
  /**
   * Opened by a correction: new values (or a change to "corrected", or a reinstatement) after an
   * earlier version of this run or of the earlier run this one continues. A source's "reviewed"
   * flag then counts only with its own time at or after `openedReportedAt` (intake.ts).
   */
  correction?: boolean;
  /** When the source reported the version that opened this gate (LabResult.reportedAt). */
  openedReportedAt?: string;
  /**
   * Opened by the first version of a run that continues an earlier one, with the content and status
   * that run ended with: a re-delivery, so a patient the earlier run told is not told again.
   */
  repeatsPriorRun?: boolean;
}

/** What the earlier run with this workflow ID ended with (PriorRunSummary; IDs and a digest only). */
export interface PriorRunFacts {
  contentDigest?: string;
  status?: ResultStatus;
  patientId?: string;
}

/**
 * A critical first message is paged before earlier runs are known (that is a database read away, and
 * a panic value must not wait on it). The page has its own send keys (version 0, a step named for the
 * run), so it can neither collide with an earlier run's sends nor be numbered wrongly; the gate that
 * later takes this message in uses the same on-call provider for its call task and does not page again.
 */
export interface FirstSightPage {
  messageId: string;
  step: string;
  /** The on-call provider, once the rota answered. */
  onCallStaffId?: string;
  /** The gate that took the message in (its page is this one). */
  gateEpoch?: number;
}

/**
 * `cancelling`: the send was in flight (retrying through an outage, or mid-attempt) when it stopped
 * being wanted; its activity was cancelled and its outcome is awaited (an attempt already at the
 * provider may still have gone out).
 */
export type DeliveryState = 'scheduling' | 'held' | 'sending' | 'cancelling' | 'accepted' | 'failed' | 'cancelled';

/** Why a patient-facing send did not go through. */
export type DeliveryFailure =
  /** The provider refused for good (invalid number, blocked) or our config is wrong. */
  | 'permanent'
  /** The number opted out at the carrier (Twilio 21610): a consent revocation, not a channel failure. */
  | 'opted-out'
  /** The number's one consent invitation was already sent (by another workflow or an earlier run). */
  | 'already-invited'
  /** Retryable failures for the whole outage window. */
  | 'outage'
  /** The provider accepted the message but later reported it failed/undelivered. */
  | 'undelivered'
  | 'consent-missing'
  | 'phi-blocked'
  | 'no-account'
  | 'no-send-window'
  /** The portal note could not be published where the patient sees it (e.g. no athena document for an HL7 result). */
  | 'not-published'
  | 'cancelled';

/** A message to the patient: SMS, Spruce secure thread or portal note. */
export interface Delivery {
  /** `${version}:${step}`, unique in the run. */
  key: string;
  epoch: number;
  version: number;
  /** Outbox step (unique per version). */
  step: string;
  channel: 'sms' | 'spruce' | 'portal';
  template?: SmsTemplateId;
  /** A corrected result after the patient was already told. */
  updated: boolean;
  state: DeliveryState;
  /** When a held SMS may go (the patient's messaging window opens). */
  dueAt?: string;
  /** When the messaging window closes again: no SMS attempt may start after it. */
  windowEndsAt?: string;
  providerMessageId?: string;
  /** The provider's latest status report. */
  status?: DeliveryStatus;
  errorCode?: string;
  failure?: DeliveryFailure;
  acceptedAt?: string;
  /** Time already spent failing retryably (carried across a quiet-hours hold). */
  outageSpentMs: number;
}

export interface PageRecord {
  step: string;
  version: number;
  staffId: string;
  reason: PageReason;
  state: 'sending' | 'sent' | 'failed';
  pagedAt?: string;
  ref?: string;
  /** A page about a critical result: long retries, and the SMS path if Spruce does not confirm it in time. */
  critical?: boolean;
  /** When the SMS path starts if the Spruce page is still unconfirmed. */
  smsFallbackAt?: string;
  /** The SMS path (sendStaffSmsPage), once started. */
  sms?: 'sending' | 'sent' | 'failed';
  smsRef?: string;
}

export interface CallTaskRecord {
  step: string;
  version: number;
  epoch: number;
  reason: CallTaskReason;
  state: 'creating' | 'open' | 'completed' | 'failed';
  taskId?: string;
  createdAt?: string;
  /**
   * Critical calls: the administrator is paged if the task is not completed by then (counted from
   * the result's arrival, so also while the task is still being created).
   */
  escalateAt?: string;
  escalated: boolean;
  /** Escalated and still open (patch repeatEscalation): the administrator is paged again then. */
  repeatAt?: string;
  /** Repeated escalation pages so far. */
  repeats?: number;
  outcome?: CallCompletedEvent['outcome'];
  completedBy?: string;
}

export interface Annotation {
  providerId: string;
  at: string;
  text: string;
}

/** A delivery status whose message ID is not known yet (the send's answer is still on its way). */
export interface BufferedStatus {
  channel: Channel;
  providerMessageId: string;
  status: DeliveryStatus;
  errorCode?: string;
  errorClass?: 'transient' | 'permanent';
  errorType?: string;
}

export interface Model {
  /** Earlier runs are known (version numbering and "already told" depend on them). */
  ready: boolean;
  /** Messages that arrived before the run was ready, replayed in order once it is. */
  inbox: { at: string; message: ResultReceived }[];
  /** Versions used by earlier runs with this workflow ID; this run's versions follow. */
  versionBase: number;
  result: LabResult;
  /** When labloop accepted the first version this run saw. */
  firstReceivedAt: string;
  /** When the current version arrived. */
  versionReceivedAt: string;
  /** Absolute version number of `result` (versionBase until the first message is taken in). */
  version: number;
  contentKey: string;
  acuity: Acuity;
  seenMessageIds: string[];
  cancelled: boolean;
  gate: Gate;
  annotations: Annotation[];
  deliveries: Delivery[];
  pages: PageRecord[];
  callTasks: CallTaskRecord[];
  statusBuffer: BufferedStatus[];
  /** Latest knowledge of SMS consent: the lookup's answer or a later consent signal. */
  smsConsent?: boolean;
  consentSignalAt?: string;
  /** Highest version the patient was told about, in this run or an earlier one. */
  patientToldVersion?: number;
  /** What an earlier run told the patient (set once, when the run becomes ready). */
  priorRunToldVersion?: number;
  /** How the earlier run ended (set once, when the run becomes ready; absent without an earlier run). */
  priorRun?: PriorRunFacts;
  /** The page of a critical first message sent before the run was ready (critical.ts). */
  firstSight?: FirstSightPage;
  /** The one-time consent invitation went out (or is on its way). */
  invitationSent: boolean;
  criticalPagedAt?: string;
  /** Versions that named another patient than the established one (not merged; IDs are in the audit). */
  patientMismatch?: { count: number; lastAt: string };
  /** The phone the outbox/consent link was recorded for (null = none), to relink on change. */
  linkedPhone?: string | null;
  actions: ActionRecord[];
  auditSeq: number;
  /** JSON of the last review item sent, to send only changes. */
  lastReviewItem?: string;
  /** When everything owed for the current gate was done; the correction window counts from here. */
  settledAt?: string;
  closeAt?: string;
  closed: boolean;
}
