import { ActivityFailure, ApplicationFailure, log, proxyActivities } from '@temporalio/workflow';
import type { AthenaIngestActivities, AthenaIngestOutcome, AthenaResultRef } from '../domain/athena-ingest-contract';
import type { AthenaFeedPollInput, AthenaFeedPollSummary, AthenaLabResultEventInput } from './definitions';

/**
 * The athenahealth ingest workflows. Both end in the same activity, which reads the document as it
 * is now (not as the event described it) and hands it off with signal-with-start, so duplicate and
 * out-of-order notifications are harmless: the lab-result workflow ignores a version it has seen.
 */

/**
 * A webhook event is already durable once this workflow has started, so it retries for a day:
 * 5 s → 10 s → … capped at 10 minutes is ~150 attempts, enough to ride out an athena or database
 * outage. After that the workflow fails visibly, and the changed-data poller (the floor) still
 * delivers the result.
 */
const eventIngest = proxyActivities<AthenaIngestActivities>({
  startToCloseTimeout: '3 minutes',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/**
 * A poll runs every minute or so, and the next poll re-reads whatever this one did not finish, so a
 * poll gives up early: 4 attempts (2 s, 4 s, 8 s apart) of at most 3 minutes each. The feed read
 * makes at most ~20 athena calls of ≤ 55 s worst case; it heartbeats after each.
 */
const pollActivities = proxyActivities<AthenaIngestActivities>({
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '90 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 4 },
});

/** Results inflated at once per poll: 4 × 2 athena reads stays under the 5 req/s preview limit's burst. */
const POLL_INGEST_CONCURRENCY = 4;

/** One athena webhook event (LabResult.create/update/close): inflate the result and hand it off. */
export async function athenaLabResultEventWorkflow(input: AthenaLabResultEventInput): Promise<AthenaIngestOutcome> {
  return eventIngest.ingestAthenaLabResult({
    practiceId: input.practiceId,
    labResultId: input.labResultId,
    patientId: input.patientId,
    trigger: 'webhook',
  });
}

/**
 * One poll of a practice's changed-data feed. Reading is destructive in athena, so the checkpoint
 * moves only after every record read is with its lab-result workflow; a crash anywhere before that
 * leaves the checkpoint where it was, and the next poll re-reads the same records through athena's
 * showprocessed* window. Hand-off deduplicates, so re-reading delivers nothing twice.
 */
export async function athenaChangedFeedPollWorkflow(input: AthenaFeedPollInput): Promise<AthenaFeedPollSummary> {
  const batch = await pollActivities.readAthenaChangedFeed({ practiceId: input.practiceId });
  const outcomes: PromiseSettledResult<AthenaIngestOutcome>[] = [];
  for (let i = 0; i < batch.refs.length; i += POLL_INGEST_CONCURRENCY) {
    const slice = batch.refs.slice(i, i + POLL_INGEST_CONCURRENCY);
    outcomes.push(...(await Promise.allSettled(slice.map((ref) => ingestFromFeed(ref)))));
  }
  const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failures.length > 0) {
    // The checkpoint stays: the next poll re-reads these records and tries again.
    const first: unknown = failures[0]?.reason;
    throw ApplicationFailure.create({
      message: `${failures.length} of ${batch.refs.length} athena results could not be handed off; the checkpoint was not moved`,
      type: 'AthenaFeedHandoffFailed',
      cause: first instanceof ActivityFailure ? first : undefined,
    });
  }
  await pollActivities.advanceAthenaFeedCheckpoint({ practiceId: input.practiceId, polledThrough: batch.readThrough });
  const settled = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const summary: AthenaFeedPollSummary = {
    practiceId: input.practiceId,
    read: batch.refs.length,
    handedOff: settled.filter((o) => o.kind === 'handed-off' && !o.duplicate).length,
    duplicates: settled.filter((o) => o.kind === 'handed-off' && o.duplicate).length,
    gone: settled.filter((o) => o.kind === 'gone').length,
    deadLettered: settled.filter((o) => o.kind === 'dead-lettered').length,
    polledThrough: batch.readThrough,
  };
  if (summary.read > 0) log.info('athena feed poll handed off results', { ...summary });
  return summary;
}

function ingestFromFeed(ref: AthenaResultRef): Promise<AthenaIngestOutcome> {
  return pollActivities.ingestAthenaLabResult({ ...ref, trigger: 'feed' });
}
