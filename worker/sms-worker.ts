import { Worker, type NativeConnection } from '@temporalio/worker';
import type { LabloopActivities } from '../activities/contract';
import { createDataConverter } from '../lib/temporal/data-converter';
import { SMS_TASK_QUEUE } from '../workflows/definitions';

/**
 * The SMS worker: only `sendGenericSms`, on its own task queue, with the sender's throughput as a
 * server-side task-queue rate limit (`maxTaskQueueActivitiesPerSecond`). The Temporal server hands
 * out at most that many SMS activity tasks per second across every worker polling the queue, so a
 * burst of results queues in Temporal (durably: the limit and the backlog survive worker restarts)
 * instead of failing at the carrier with 30022 "10DLC throughput exceeded".
 *
 * The limit counts activities, and a carrier counts segments: the templates are written to fit one
 * segment, so one activity is one segment. A longer body still sends, at the cost of briefly going
 * over the sender's rate by its extra segments (Twilio's own queue absorbs that).
 */

/**
 * Default sender throughput: 1 segment per second, what a US long code on a low-volume 10DLC
 * campaign (or a sole-proprietor brand) is allowed. Registered campaigns raise it by configuration.
 */
export const DEFAULT_SENDER_SEGMENTS_PER_SECOND = 1;

/**
 * Activities this worker runs at once. Twilio answers a create in well under a second, so at 1–20
 * sends per second a handful of slots is plenty; more would only hold tasks the rate limit already
 * released.
 */
export const SMS_WORKER_MAX_CONCURRENT_ACTIVITIES = 20;

export interface SmsWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  codecKeys: string;
  /** The real activity (from createActivities); only this one is registered here. */
  sendGenericSms: LabloopActivities['sendGenericSms'];
  /** The sender's throughput in segments (= single-segment messages) per second. */
  segmentsPerSecond?: number;
  /** Defaults to SMS_TASK_QUEUE; tests pass their own so parallel files cannot take each other's tasks. */
  taskQueue?: string;
  identity?: string;
}

/** Build the rate-limited SMS worker (the caller runs it next to the main worker). */
export function createSmsWorker(options: SmsWorkerOptions): Promise<Worker> {
  const rate = options.segmentsPerSecond ?? DEFAULT_SENDER_SEGMENTS_PER_SECOND;
  if (!(Number.isFinite(rate) && rate > 0)) throw new Error('segmentsPerSecond must be a positive number');
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? SMS_TASK_QUEUE,
    activities: { sendGenericSms: options.sendGenericSms },
    dataConverter: createDataConverter(options.codecKeys),
    maxTaskQueueActivitiesPerSecond: rate,
    maxConcurrentActivityTaskExecutions: SMS_WORKER_MAX_CONCURRENT_ACTIVITIES,
    ...(options.identity !== undefined ? { identity: options.identity } : {}),
  });
}
