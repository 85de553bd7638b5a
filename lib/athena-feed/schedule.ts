import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { AthenaClient } from '../clients/athena';
import type { PracticeRegistry } from '../practices';
import {
  ATHENA_FEED_POLL_WORKFLOW_TYPE,
  athenaFeedPollWorkflowIdPrefix,
  athenaFeedScheduleId,
  type AthenaFeedPollInput,
} from '../../workflows/definitions';

/**
 * One Temporal Schedule per practice runs a short poll workflow of athena's changed-data feed.
 * Creating is idempotent: an existing schedule is updated to the wanted interval and task queue, so
 * start-up (sandbox) and deployment (scripts/athena-schedule.ts) can both call it every time.
 */

/** A minute between polls: results reach the workflow within ~1 minute when webhooks are unavailable. */
export const DEFAULT_ATHENA_POLL_INTERVAL_SECONDS = 60;
/**
 * Polls missed while the Temporal server was down are not replayed one by one: one minute of
 * catch-up starts a single poll, which re-reads everything since the checkpoint anyway.
 */
const POLL_CATCHUP_WINDOW = '1 minute';
/** A poll that has not finished in 10 minutes is stuck; the next one re-reads its records. */
const POLL_RUN_TIMEOUT = '10 minutes';

export interface FeedScheduleOptions {
  /** labloop's practice ID. */
  practiceId: string;
  intervalSeconds: number;
  taskQueue: string;
}

/** Creates the practice's poll schedule, or brings an existing one up to these options. */
export async function ensureAthenaFeedSchedule(
  client: Client,
  options: FeedScheduleOptions,
): Promise<'created' | 'updated'> {
  if (!Number.isInteger(options.intervalSeconds) || options.intervalSeconds < 1) {
    throw new Error('intervalSeconds must be a whole number of seconds, at least 1');
  }
  const input: AthenaFeedPollInput = { practiceId: options.practiceId };
  const action: ScheduleOptionsStartWorkflowAction<(input: AthenaFeedPollInput) => Promise<unknown>> = {
    type: 'startWorkflow',
    workflowType: ATHENA_FEED_POLL_WORKFLOW_TYPE,
    workflowId: athenaFeedPollWorkflowIdPrefix(options.practiceId),
    taskQueue: options.taskQueue,
    args: [input],
    workflowRunTimeout: POLL_RUN_TIMEOUT,
  };
  const spec = { intervals: [{ every: `${options.intervalSeconds}s` }] };
  // SKIP: polls of one practice never overlap, so two polls never race on the checkpoint.
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: POLL_CATCHUP_WINDOW, pauseOnFailure: false };
  const scheduleId = athenaFeedScheduleId(options.practiceId);
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({
    ...previous,
    spec,
    action,
    policies,
    state: {
      paused: previous.state.paused,
      note: previous.state.note,
      remainingActions: previous.state.remainingActions,
    },
  }));
  return 'updated';
}

/** Subscribes athena's lab-result changed feed for the practice unless every event is already subscribed. */
export async function ensureAthenaFeedSubscription(athena: AthenaClient, athenaPracticeId: string): Promise<void> {
  const subscription = await athena.getLabResultSubscription({ practiceId: athenaPracticeId });
  if (subscription.status.toUpperCase() !== 'ACTIVE') {
    await athena.subscribeLabResultChanges({ practiceId: athenaPracticeId });
  }
}

/**
 * Subscription and schedule for every practice routed to athena (or only `practiceIds` when given).
 * Returns the labloop practice IDs now polled. An unknown or non-athena practice in `practiceIds` is
 * an error naming it.
 */
export async function ensureAthenaFeeds(input: {
  temporal: Client;
  athena: AthenaClient;
  practices: PracticeRegistry;
  taskQueue: string;
  intervalSeconds: number;
  practiceIds?: readonly string[];
}): Promise<string[]> {
  const athenaPractices = input.practices.all().filter((e) => e.routing.athenaPracticeId !== undefined);
  const wanted = input.practiceIds ?? athenaPractices.map((e) => e.policy.practiceId);
  const polled: string[] = [];
  for (const practiceId of wanted) {
    const athenaPracticeId = input.practices.entry(practiceId)?.routing.athenaPracticeId;
    if (athenaPracticeId === undefined) {
      throw new Error(`practice ${practiceId} is not in the practice registry with an athenaPracticeId`);
    }
    await ensureAthenaFeedSubscription(input.athena, athenaPracticeId);
    await ensureAthenaFeedSchedule(input.temporal, {
      practiceId,
      intervalSeconds: input.intervalSeconds,
      taskQueue: input.taskQueue,
    });
    polled.push(practiceId);
  }
  return polled;
}
