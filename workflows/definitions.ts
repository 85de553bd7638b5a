/**
 * The contract between the lab-result workflow and everything that talks to it (API, worker,
 * tests): names, message definitions, IDs, search attributes and the plain types they carry.
 * The API imports this module and nothing else from workflows/.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { Acuity, LabResult, ResultStatus } from '../domain/lab-result';
import type { PracticePolicy } from '../domain/practice';
import type { Channel, DeliveryStatus, WorkflowState } from '../domain/vocabulary';

export const TASK_QUEUE = 'labloop-lab-results';
/**
 * SMS sends run on their own task queue so the server can enforce the sender's throughput
 * (maxTaskQueueActivitiesPerSecond): bursts queue in Temporal instead of failing at the carrier,
 * and the limit survives worker restarts.
 */
export const SMS_TASK_QUEUE = 'labloop-sms';

/**
 * The SMS task queue that serves a given workflow task queue: SMS_TASK_QUEUE for the production
 * queue, `<queue>-sms` for any other (tests, parallel sandboxes), so stacks sharing one Temporal
 * server never take each other's sends. The workflow schedules SMS on
 * `smsTaskQueueFor(workflowInfo().taskQueue)`; whoever starts an SMS worker must use this too.
 */
export function smsTaskQueueFor(workflowTaskQueue: string, senderId?: string): string {
  const base = workflowTaskQueue === TASK_QUEUE ? SMS_TASK_QUEUE : `${workflowTaskQueue}-sms`;
  // One queue per Twilio sender (lib/sms/senders.ts), so each has its own server-side rate limit;
  // the default sender keeps the plain queue. The workflow passes `policy.smsSenderId`.
  if (senderId === undefined || senderId === 'default') return base;
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(senderId)) throw new Error('senderId must be a short lowercase sender id');
  return `${base}-${senderId}`;
}
export const LAB_RESULT_WORKFLOW_TYPE = 'labResultWorkflow';

/**
 * One workflow per lab result. `resultRef` is an opaque keyed digest of the source identifiers
 * (computed by the API), so neither the ID nor anything derived from it carries PHI.
 */
export function labResultWorkflowId(practiceId: string, resultRef: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(practiceId))
    throw new Error('practiceId has characters not allowed in a workflow ID');
  if (!/^[a-z0-9]{16,64}$/.test(resultRef)) throw new Error('resultRef must be a lowercase hex/base32 digest');
  return `lab-result-${practiceId}-${resultRef}`;
}

export const LAB_RESULT_WORKFLOW_ID_PATTERN = /^lab-result-[A-Za-z0-9_-]{1,64}-[a-z0-9]{16,64}$/;

/** The opaque result reference at the end of a lab-result workflow ID, for audit rows; undefined for any other ID. */
export function resultRefOf(workflowId: string): string | undefined {
  if (!LAB_RESULT_WORKFLOW_ID_PATTERN.test(workflowId)) return undefined;
  return workflowId.slice(workflowId.lastIndexOf('-') + 1);
}

// ---------------------------------------------------------------------------------------------
// State

// The vocabulary lives in domain/ (the audit store and the review app use it too); re-exported so
// the contract stays one import for the API.
export { CHANNELS, DELIVERY_STATUSES, WORKFLOW_STATES } from '../domain/vocabulary';
export type { Channel, DeliveryStatus, WorkflowState } from '../domain/vocabulary';

/** One thing the workflow did or decided. No PHI: kinds, channels, outcomes and IDs only. */
export interface ActionRecord {
  at: string;
  kind: string;
  channel?: Channel;
  outcome: string;
  /** Provider/staff/member ID or a provider message ID, never a name or a value. */
  ref?: string;
}

export interface DeliveryView {
  channel: Channel;
  step: string;
  status: DeliveryStatus | 'pending' | 'held';
  providerMessageId?: string;
  errorCode?: string;
  /** When a held send (quiet hours) is due. */
  dueAt?: string;
}

/** What `getStatus` answers: enough for ops and the status URL, and no PHI. */
export interface ResultStatusView {
  workflowId: string;
  practiceId: string;
  state: WorkflowState;
  acuity: Acuity;
  resultStatus: ResultStatus;
  /** How many versions (corrections, re-deliveries with changes) the workflow has seen. */
  version: number;
  receivedAt: string;
  signed: boolean;
  signedBy?: string;
  signedAt?: string;
  /** When escalation starts if nobody signs (ISO), while unsigned. */
  slaDeadline?: string;
  escalationLevel: number;
  deliveries: DeliveryView[];
  actions: ActionRecord[];
  /** When the on-call provider was paged for a critical value (the "log the page time" rule). */
  criticalPagedAt?: string;
  /**
   * When the administrator is paged if the critical call is not completed by then (counted from the
   * result's arrival; also while the call task is still being created). Absent once escalated or done.
   */
  criticalCallEscalatesAt?: string;
  /** Abnormal result: when a call task is created if the secure thread (or the prompt) is still unread. */
  unreadCallDueAt?: string;
  /**
   * Versions that named another patient than this result's and were not merged (see the audit's
   * `patient-mismatch` routing decisions for the IDs).
   */
  patientMismatch?: { count: number; lastAt: string };
  /** The highest version the patient has been told about (in this run or an earlier one). */
  patientNotifiedVersion?: number;
  /** Outbound-call tasks for staff, with their outcome once completed. */
  callTasks?: CallTaskView[];
  /** When the workflow will close if nothing else happens (the correction window's end). */
  closesAt?: string;
  /**
   * Why the run is still open: everything it waits for, timed waits first (earliest first; the
   * first is what its timer is set for). docs/workflow.md explains each kind. IDs only.
   */
  waitingOn: WaitingOn[];
}

/**
 * What a run waits for (workflows/waiting.ts). Timed kinds carry `until`: the run's timer fires
 * then and acts by itself. Untimed kinds wait for someone or something else: a provider, the lab,
 * staff completing a call, or an activity still running.
 */
export const WAIT_KINDS = [
  // Timed: a source of nextWakeAt.
  'sign-off-escalation',
  'overdue-repeat',
  'quiet-hours',
  'critical-call-escalation',
  'critical-call-repeat',
  'critical-page-sms-fallback',
  'unread-call',
  'correction-window',
  // Untimed.
  'earlier-runs',
  'final-version',
  'sign-off',
  'deadline',
  'on-call-rota',
  'send',
  'page',
  'call-task-creation',
  'call-completion',
] as const;
export type WaitKind = (typeof WAIT_KINDS)[number];

export interface WaitingOn {
  kind: WaitKind;
  /** Timed waits: when the timer fires. */
  until?: string;
  /** IDs only: a staff ID, a step (`v{version}:{step}`), a call task ID or a gate (`gate-{epoch}`). */
  ref?: string;
}

export interface CallTaskView {
  step: string;
  reason: string;
  status: 'creating' | 'open' | 'completed' | 'failed';
  taskId?: string;
  outcome?: CallCompletedEvent['outcome'];
  /** Critical calls: when the call escalates to the administrator if not completed. */
  escalatesAt?: string;
  /** The administrator was paged about this call (overdue, not created, or not reached). */
  escalated: boolean;
}

// ---------------------------------------------------------------------------------------------
// Input and messages

export interface LabResultWorkflowInput {
  result: LabResult;
  /** When labloop accepted the first version (ISO); SLAs count from here. */
  receivedAt: string;
  policy: PracticePolicy;
}

/** A (new or repeated) version of the result from any source: first sight, re-delivery, correction, cancel. */
export interface ResultReceived {
  result: LabResult;
  receivedAt: string;
}
export const resultReceivedSignal = defineSignal<[ResultReceived]>('resultReceived');

export interface SignOffRequest {
  providerId: string;
  practiceId: string;
  /** Optional note to the patient (goes only to Spruce / the portal). */
  noteToPatient?: string;
  /** Where the sign-off came from. */
  via: 'review-app' | 'athena' | 'api';
  /**
   * The result version the provider saw (the status view's `version` when the page was rendered).
   * Required from the review app, optional for athena and API sign-offs, which have no page. A
   * version superseded by a correction (or one the workflow has not seen) is refused by the update's
   * validator, with a message that names the current and the expected version.
   */
  expectedVersion?: number;
}
export interface SignOffResult {
  state: WorkflowState;
  alreadySigned: boolean;
  signedBy: string;
  signedAt: string;
}
/** Update with a validator: only a provider of this practice; signing twice returns the first sign-off. */
export const signOffUpdate = defineUpdate<SignOffResult, [SignOffRequest]>('signOff');

/**
 * The ApplicationFailure type of a refused sign-off or annotation (not a provider of this practice,
 * result cancelled or closed, empty text); its message names what is wrong and is safe to show.
 */
export const INVALID_REQUEST_ERROR_TYPE = 'InvalidRequestError';

/**
 * The longest annotation a provider may add, for the review app's form and the update's validator
 * alike: text longer than this is not an annotation but a pasted document.
 */
export const ANNOTATION_MAX_CHARS = 2000;

export interface AnnotationRequest {
  providerId: string;
  practiceId: string;
  text: string;
}
export const annotateUpdate = defineUpdate<{ annotations: number }, [AnnotationRequest]>('annotate');

export interface DeliveryStatusEvent {
  channel: Channel;
  providerMessageId: string;
  status: DeliveryStatus;
  /** The provider's error code (Twilio `ErrorCode`, e.g. "30003"), on undelivered/failed. */
  errorCode?: string;
  /**
   * With `errorCode`: whether another attempt may succeed (`transient`: handset off, congestion,
   * throughput caps) or not (`permanent`). Unlisted codes are `permanent` (lib/clients/twilio/error-codes.ts).
   */
  errorClass?: 'transient' | 'permanent';
  /**
   * With a permanent `errorCode` of a known kind: the same ActivityErrorType name a refused send
   * raises (`SmsInvalidNumberError`, `SmsOptedOutError`, `SmsBlockedError`), so a delivery report
   * and a refused create lead to the same fallback.
   */
  errorType?: string;
  at: string;
}
export const deliveryStatusSignal = defineSignal<[DeliveryStatusEvent]>('deliveryStatus');

export interface PatientReplyEvent {
  channel: 'sms' | 'spruce';
  kind: 'stop' | 'start' | 'help' | 'text';
  at: string;
}
export const patientReplySignal = defineSignal<[PatientReplyEvent]>('patientReply');

export interface ConsentChangedEvent {
  smsConsent: boolean;
  /** `carrier`: Twilio refused a send with 21610 (the number replied STOP to Twilio, not to us). */
  source: 'keyword' | 'free-text' | 'staff' | 'athena' | 'invitation' | 'carrier';
  at: string;
}
export const consentChangedSignal = defineSignal<[ConsentChangedEvent]>('consentChanged');

export interface CallCompletedEvent {
  taskId: string;
  staffId: string;
  outcome: 'reached' | 'voicemail' | 'no-answer' | 'wrong-number';
  at: string;
}
export const callCompletedSignal = defineSignal<[CallCompletedEvent]>('callCompleted');

export const getStatusQuery = defineQuery<ResultStatusView>('getStatus');

/** For the review app only (PHI; the answer is encrypted by the payload codec like everything else). */
export interface ResultDetail {
  view: ResultStatusView;
  result: LabResult;
  annotations: { providerId: string; at: string; text: string }[];
}
export const getResultDetailQuery = defineQuery<ResultDetail>('getResultDetail');

// ---------------------------------------------------------------------------------------------
// Search attributes (visible in the Temporal UI, unencrypted: never PHI)

export const PracticeSearchAttribute = defineSearchAttributeKey('LabloopPractice', SearchAttributeType.KEYWORD);
export const AcuitySearchAttribute = defineSearchAttributeKey('LabloopAcuity', SearchAttributeType.KEYWORD);
export const StateSearchAttribute = defineSearchAttributeKey('LabloopState', SearchAttributeType.KEYWORD);
export const SlaDeadlineSearchAttribute = defineSearchAttributeKey('LabloopSlaDeadline', SearchAttributeType.DATETIME);

export const SEARCH_ATTRIBUTES = [
  PracticeSearchAttribute,
  AcuitySearchAttribute,
  StateSearchAttribute,
  SlaDeadlineSearchAttribute,
] as const;

// ---------------------------------------------------------------------------------------------
// athenahealth ingest workflows (webhook events and the changed-data poller)

/** One workflow per athena webhook event: inflates the result and hands it off. */
export const ATHENA_EVENT_WORKFLOW_TYPE = 'athenaLabResultEventWorkflow';
/** One short workflow per poll of a practice's changed-data feed, started by a Temporal Schedule. */
export const ATHENA_FEED_POLL_WORKFLOW_TYPE = 'athenaChangedFeedPollWorkflow';

const PRACTICE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const DIGEST = /^[a-z0-9]{16,64}$/;

/**
 * The event workflow's ID: practice plus a digest of athena's event ID (computed by the caller), so
 * a re-delivered event maps to the same ID and Temporal refuses the duplicate start.
 */
export function athenaEventWorkflowId(practiceId: string, eventDigest: string): string {
  if (!PRACTICE_ID.test(practiceId)) throw new Error('practiceId has characters not allowed in a workflow ID');
  if (!DIGEST.test(eventDigest)) throw new Error('eventDigest must be a lowercase hex digest');
  return `athena-event-${practiceId}-${eventDigest}`;
}

/** The Schedule that polls one practice's feed (its runs get `-<timestamp>` appended by Temporal). */
export function athenaFeedScheduleId(practiceId: string): string {
  if (!PRACTICE_ID.test(practiceId)) throw new Error('practiceId has characters not allowed in a schedule ID');
  return `athena-changed-feed-${practiceId}`;
}

/** The workflow ID the Schedule gives each poll (Temporal appends the scheduled time). */
export function athenaFeedPollWorkflowIdPrefix(practiceId: string): string {
  return `athena-feed-poll-${practiceId}`;
}

/** What an athena webhook event names; IDs only (the workflow inflates the rest through the API). */
export interface AthenaLabResultEventInput {
  /** labloop's practice ID (the practice registry's key). */
  practiceId: string;
  labResultId: string;
  patientId: string;
  /** athena's event ID, for tracing. */
  eventId: string;
  /** e.g. `LabResult.update`. */
  topic?: string;
  /** When athena committed the change (ISO). */
  occurredAt: string;
}

export interface AthenaFeedPollInput {
  /** labloop's practice ID. */
  practiceId: string;
}

export interface AthenaFeedPollSummary {
  practiceId: string;
  /** Distinct lab results read (destructive read and refetch windows together). */
  read: number;
  handedOff: number;
  /** Already handed off earlier (same version): recognised, not signalled again. */
  duplicates: number;
  /** Deleted or moved in athena between the feed and the read. */
  gone: number;
  deadLettered: number;
  /** The checkpoint after this poll (ISO). */
  polledThrough: string;
}
