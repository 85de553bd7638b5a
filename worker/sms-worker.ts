import { Worker, type NativeConnection } from '@temporalio/worker';
import type { GenericSmsRequest, LabloopActivities } from '../domain/activity-contract';
import { SegmentPacer, senderPacer, withSegmentPacer } from '../lib/sms/pacer';
import type { SmsSender } from '../lib/sms/senders';
import { createWorkerDataConverter } from '../lib/temporal/data-converter';
import { SMS_TASK_QUEUE, smsTaskQueueFor } from '../workflows/definitions';

/**
 * The SMS workers: one per Twilio sender (lib/sms/senders.ts), each running only `sendGenericSms` on
 * that sender's own task queue, with two limits:
 *
 *  1. Messages: the sender's throughput as the queue's server-side rate limit
 *     (`maxTaskQueueActivitiesPerSecond`). The Temporal server hands out at most that many SMS tasks
 *     per second across every worker polling the queue, so a burst of results queues in Temporal
 *     (durably: the limit and the backlog survive worker restarts) instead of failing at the carrier
 *     with 30022 "10DLC throughput exceeded".
 *  2. Segments: carriers count segments, and the server counts activities. Right before it calls
 *     Twilio, the activity takes the body's segments from the worker's pacer at the sender's rate
 *     (lib/sms/pacer.ts): a one-segment template costs one slot, a two-segment body two, and the
 *     next send waits. The pacer is per worker process: run one SMS worker process per sender (as
 *     `npm start` and worker/main.ts do) or the segment pacing multiplies by the processes; the
 *     message limit (1) holds whatever runs.
 *
 * Templates are written to fit one segment (domain/sms-templates.ts), so a long body is the
 * exception, and it is sent (later), never refused: it already passed the PHI guard.
 */

/**
 * Default sender throughput: 1 segment per second, what a US long code on a low-volume 10DLC
 * campaign (or a sole-proprietor brand) is allowed. Registered campaigns raise it by configuration.
 */
export const DEFAULT_SENDER_SEGMENTS_PER_SECOND = 1;

/**
 * How much Twilio latency the worker's concurrency covers: 0.5 s. At R sends per second, R × 0.5
 * sends can be in flight while the next one is due, so the worker keeps up when each create takes up
 * to half a second; every extra slot would only hold a task in the pacer. Waits in the pacer are then
 * bounded by slots × segments / R ≈ 0.5 s × segments of a body, far inside the 20 s attempt timeout.
 */
export const SMS_SEND_LATENCY_BUDGET_S = 0.5;

/** Activities one SMS worker runs at once: ceil(R × 0.5 s), at least 1 (1 at 1/s, 10 at 20/s). */
export function smsWorkerConcurrency(segmentsPerSecond: number): number {
  return Math.max(1, Math.ceil(segmentsPerSecond * SMS_SEND_LATENCY_BUDGET_S));
}

export interface SmsWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  codecKeys: string;
  /** The real activity (from createActivities, built with this sender's Twilio client); only it runs here. */
  sendGenericSms: LabloopActivities['sendGenericSms'];
  /** The sender's throughput in segments per second. */
  segmentsPerSecond?: number;
  /** Defaults to SMS_TASK_QUEUE; tests pass their own so parallel files cannot take each other's tasks. */
  taskQueue?: string;
  identity?: string;
  /** Off only to measure the server's own limit (tests): then only messages are limited, not segments. */
  paceSegments?: boolean;
  /** The sender's id: its pacer is then the process's one for it, shared with staff SMS pages from it. */
  senderId?: string;
  /** How long a shutdown waits for in-flight sends (worker/ops.ts shutdownTimes); default the SDK's. */
  shutdown?: { shutdownGraceTime: number; shutdownForceTime: number };
}

/** Build the rate-limited SMS worker of one sender (the caller runs it next to the main worker). */
export function createSmsWorker(options: SmsWorkerOptions): Promise<Worker> {
  const rate = options.segmentsPerSecond ?? DEFAULT_SENDER_SEGMENTS_PER_SECOND;
  if (!(Number.isFinite(rate) && rate > 0)) throw new Error('segmentsPerSecond must be a positive number');
  const pacer = options.senderId !== undefined ? senderPacer(options.senderId, rate) : new SegmentPacer(rate);
  const paced = options.paceSegments !== false;
  // The activity takes the body's segments from the pacer right before it calls Twilio (inside the
  // outbox's send step), so database work before the call does not blur the spacing.
  const sendGenericSms = (request: GenericSmsRequest) =>
    paced ? withSegmentPacer(pacer, () => options.sendGenericSms(request)) : options.sendGenericSms(request);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? SMS_TASK_QUEUE,
    activities: { sendGenericSms },
    dataConverter: createWorkerDataConverter(options.codecKeys),
    maxTaskQueueActivitiesPerSecond: rate,
    maxConcurrentActivityTaskExecutions: smsWorkerConcurrency(rate),
    ...(options.identity !== undefined ? { identity: options.identity } : {}),
    ...options.shutdown,
  });
}

/**
 * One SMS worker per sender, each on `smsTaskQueueFor(workflowTaskQueue, sender.id)` with its own
 * rate. `sendFor` builds the sender's `sendGenericSms` (createSmsActivities with that sender's client).
 */
export async function createSenderSmsWorkers(options: {
  connection: NativeConnection;
  namespace: string;
  codecKeys: string;
  senders: SmsSender[];
  workflowTaskQueue: string;
  sendFor: (sender: SmsSender) => LabloopActivities['sendGenericSms'];
  shutdown?: SmsWorkerOptions['shutdown'];
}): Promise<Worker[]> {
  const workers: Worker[] = [];
  for (const sender of options.senders) {
    workers.push(
      await createSmsWorker({
        connection: options.connection,
        namespace: options.namespace,
        codecKeys: options.codecKeys,
        sendGenericSms: options.sendFor(sender),
        segmentsPerSecond: sender.segmentsPerSecond,
        taskQueue: smsTaskQueueFor(options.workflowTaskQueue, sender.id),
        senderId: sender.id,
        shutdown: options.shutdown,
      }),
    );
  }
  return workers;
}

export { SegmentPacer } from '../lib/sms/pacer';
