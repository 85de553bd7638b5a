/**
 * The contract of the athenahealth ingest workflows (webhook events and the changed-data poller):
 * names, IDs and the plain types they carry. The API and the schedule script import this module;
 * nothing in it does I/O.
 */

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
