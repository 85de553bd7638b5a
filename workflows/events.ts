import type { PriorRunSummary } from '../domain/activity-contract';
import type {
  AnnotationRequest,
  CallCompletedEvent,
  ConsentChangedEvent,
  DeliveryStatusEvent,
  LabResultWorkflowInput,
  PatientReplyEvent,
  ResultReceived,
  SignOffRequest,
} from './definitions';
import type { ContactFacts, DeliveryFailure } from './model';

/**
 * Everything the decision core reacts to. `at` is always workflow time when the event was taken in
 * (never a time the sender claims), so every decision is a function of the recorded history.
 */

/** Messages from outside the workflow (signals and updates). */
export type ExternalEvent =
  | { type: 'received'; at: string; message: ResultReceived }
  | { type: 'signOff'; at: string; request: SignOffRequest }
  | { type: 'annotate'; at: string; request: AnnotationRequest }
  | { type: 'deliveryStatus'; at: string; status: DeliveryStatusEvent }
  | { type: 'patientReply'; at: string; reply: PatientReplyEvent }
  | { type: 'consentChanged'; at: string; change: ConsentChangedEvent }
  | { type: 'callCompleted'; at: string; call: CallCompletedEvent };

/** Outcomes of commands the shell ran. */
export type CompletionEvent =
  | { type: 'priorRunsFound'; at: string; summary: PriorRunSummary }
  | { type: 'deadlineComputed'; at: string; epoch: number; level: number; deadline: string }
  | { type: 'contactGathered'; at: string; epoch: number; facts: ContactFacts }
  | { type: 'sendWindowComputed'; at: string; key: string; sendAt: string; windowEndsAt: string }
  | { type: 'sendWindowUnavailable'; at: string; key: string; errorType: string }
  | { type: 'delivered'; at: string; key: string; providerMessageId: string; alreadySent: boolean }
  | {
      type: 'deliveryFailed';
      at: string;
      key: string;
      failure: DeliveryFailure | 'window-closed';
      errorType?: string;
      /** How long this attempt series failed retryably (counts against the outage window). */
      outageSpentMs: number;
    }
  | { type: 'paged'; at: string; step: string; version: number; pageRef: string; pagedAt: string }
  | { type: 'pageFailed'; at: string; step: string; version: number; errorType?: string }
  | { type: 'staffSmsPaged'; at: string; step: string; version: number; pageRef: string; pagedAt: string }
  | { type: 'staffSmsPageFailed'; at: string; step: string; version: number; errorType?: string }
  /** `shift` absent: the default on-call provider; `failed`: the rota could not be read (default used). */
  | { type: 'onCallResolved'; at: string; epoch: number; staffId: string; shift?: number; failed?: boolean }
  | { type: 'callTaskCreated'; at: string; step: string; version: number; taskId: string }
  | { type: 'callTaskFailed'; at: string; step: string; version: number; errorType?: string };

export type WorkflowEvent =
  | { type: 'started'; at: string; input: LabResultWorkflowInput }
  /** A timer fired: whatever is due at `at` happens now. */
  | { type: 'tick'; at: string }
  | ExternalEvent
  | CompletionEvent;
