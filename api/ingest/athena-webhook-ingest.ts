import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Logger } from '../../lib/logger';
import type { PracticeRegistry } from '../../lib/practices';
import { senderMay, type Sender } from '../../lib/senders';
import { AthenaWebhookParseError, parseAthenaWebhook } from '../../lib/clients/athena';
import {
  ATHENA_EVENT_WORKFLOW_TYPE,
  athenaEventWorkflowId,
  type AthenaLabResultEventInput,
} from '../../workflows/definitions';

/**
 * athena Event Subscription notifications (LabResult.create/update/close) in, one durable Temporal
 * workflow per event out. Starting that workflow IS the persist: once Temporal has it, the event
 * cannot be lost, and the 2xx goes back at once (athena allows 5 s; we aim under 2 s). Its workflow
 * ID is derived from athena's event ID, so a re-delivered event is refused by Temporal as a
 * duplicate start while its workflow runs or after it succeeded. A run that failed (its day of
 * retries ran out, or an operator terminated it) does not block the event: athena's dead-letter
 * replay of it starts a new run (reuse policy ALLOW_DUPLICATE_FAILED_ONLY). The workflow then
 * inflates the result through the REST API and hands it off like any other source.
 *
 * Every event of a notification is checked before anything is started: a notification with one
 * unusable event is refused whole (athena re-delivers it; the starts are idempotent anyway).
 */

/**
 * Budget for all the starts of one notification. athena cuts the request at 5 s and retries; 1.5 s
 * leaves room for reading and verifying the body and keeps the answer inside the 2 s target even when
 * Temporal is unreachable (then: 503, athena re-delivers).
 */
export const ATHENA_WEBHOOK_TEMPORAL_DEADLINE_MS = 1_500;
const LAB_RESULT_TOPIC = /^LabResult\.(create|update|close)$/;
/** Event-ID digest length in the workflow ID: 128 bits, no collisions in practice. */
const EVENT_DIGEST_HEX_CHARS = 32;

export type AthenaWebhookOutcome =
  | { kind: 'accepted'; started: string[]; duplicates: string[]; ignored: number }
  /** 403: an event for a practice the athena sender may not send for (the sender registry). */
  | { kind: 'refused'; status: 400 | 403 | 422; problems: string[] }
  | { kind: 'unavailable' };

export function createAthenaWebhookIngest(deps: {
  temporal: Client;
  practices: PracticeRegistry;
  taskQueue: string;
  logger: Logger;
  deadlineMs?: number;
}) {
  /** `sender`: the athena sender the webhook secret authenticated (lib/senders.ts). */
  return async function ingestAthenaWebhook(body: unknown, sender: Sender): Promise<AthenaWebhookOutcome> {
    let notification;
    try {
      notification = parseAthenaWebhook(body);
    } catch (err) {
      if (err instanceof AthenaWebhookParseError) return { kind: 'refused', status: 400, problems: err.issues };
      throw err;
    }
    const starts: { workflowId: string; input: AthenaLabResultEventInput }[] = [];
    const problems: string[] = [];
    let unknownPractice = false;
    let forbidden = false;
    let ignored = 0;
    for (const [i, event] of notification.events.entries()) {
      const where = `entry.0.resource.notificationEvent.${i}`;
      const topic = event.topic ?? notification.topic;
      // Heartbeats, handshakes and topics we did not subscribe to carry nothing to ingest.
      if (topic === undefined || !LAB_RESULT_TOPIC.test(topic) || event.focusType !== 'labresult') {
        ignored += 1;
        continue;
      }
      if (event.practiceId === undefined || event.labResultId === undefined) {
        problems.push(`${where}.focus.identifier: does not name an athena practice and lab result`);
        continue;
      }
      const entry = deps.practices.byAthenaPractice(event.practiceId);
      if (entry === undefined) {
        unknownPractice = true;
        problems.push(`${where}.focus.identifier: athena practice ${event.practiceId} is not configured here`);
        continue;
      }
      if (!senderMay(sender, 'ingest', entry.policy.practiceId)) {
        forbidden = true;
        problems.push(
          `${where}.focus.identifier: sender ${sender.id} may not send for athena practice ${event.practiceId}`,
        );
        continue;
      }
      if (event.patientId === undefined) {
        problems.push(`${where}.additionalContext: no Patient reference (needed to read the lab result)`);
        continue;
      }
      const practiceId = entry.policy.practiceId;
      const digest = createHash('sha256').update(event.id).digest('hex').slice(0, EVENT_DIGEST_HEX_CHARS);
      starts.push({
        workflowId: athenaEventWorkflowId(practiceId, digest),
        input: {
          practiceId,
          labResultId: event.labResultId,
          patientId: event.patientId,
          eventId: event.id,
          topic,
          occurredAt: event.timestamp,
        },
      });
    }
    if (problems.length > 0) {
      return { kind: 'refused', status: forbidden ? 403 : unknownPractice ? 422 : 400, problems };
    }

    const started: string[] = [];
    const duplicates: string[] = [];
    const deadline = Date.now() + (deps.deadlineMs ?? ATHENA_WEBHOOK_TEMPORAL_DEADLINE_MS);
    try {
      for (const { workflowId, input } of starts) {
        try {
          await deps.temporal.connection.withDeadline(deadline, () =>
            deps.temporal.workflow.start(ATHENA_EVENT_WORKFLOW_TYPE, {
              workflowId,
              taskQueue: deps.taskQueue,
              args: [input],
              // A failed, terminated or timed-out run may be replaced (athena's replay); a successful one may not.
              workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
              workflowIdConflictPolicy: 'FAIL',
            }),
          );
          started.push(workflowId);
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          duplicates.push(workflowId);
        }
      }
    } catch (err) {
      deps.logger.error({ err, started: started.length }, 'athena webhook: could not start event workflows');
      return { kind: 'unavailable' };
    }
    deps.logger.info({ started, duplicates, ignored }, 'athena webhook accepted');
    return { kind: 'accepted', started, duplicates, ignored };
  };
}

export type AthenaWebhookIngest = ReturnType<typeof createAthenaWebhookIngest>;
