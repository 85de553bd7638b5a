import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { LabResult, ResultSource } from '../../domain/lab-result';
import type { PracticeRegistry } from '../../lib/practices';
import { ATHENA_RESULT_ID_ISSUER, resultRef, type ResultIdentity } from '../../lib/result-ref';
import {
  LAB_RESULT_WORKFLOW_TYPE,
  labResultWorkflowId,
  resultReceivedSignal,
  type LabResultWorkflowInput,
} from '../../workflows/definitions';

/**
 * Hands accepted results to Temporal, durably, exactly once per inbound message. The message is
 * recorded (by source, practice, sender and message ID) before the hand-off and marked after it, so:
 * a retransmission of a handed-off message is recognised and re-acknowledged without a signal;
 * a message whose earlier hand-off crashed half-way is handed off again (the workflow ignores a
 * message ID it has already seen). Signal-with-start makes first sight, re-delivery, correction
 * and sign-off from any source land on the one workflow of that result.
 */
export interface HandoffDeps {
  /** A pool, or one client (the athena ingest hands off inside its per-result lock's transaction). */
  pool: Pick<Pool, 'query'>;
  temporal: Client;
  practices: PracticeRegistry;
  taskQueue: string;
  idSecret: string;
  now: () => Date;
  /** Overall budget for the Temporal calls of one hand-off; default {@link HANDOFF_TEMPORAL_DEADLINE_MS}. */
  temporalDeadlineMs?: number;
}

/**
 * How long one hand-off may wait for Temporal. A signal-with-start normally takes tens of
 * milliseconds; without a deadline the client retries an unreachable server for ~18 s (10 attempts,
 * backoff ×1.7 from 100 ms). 10 s answers an interface engine well inside its usual 30 s ACK timeout
 * (AR: keep the message, resend), and the athena webhook passes a shorter budget of its own.
 */
export const HANDOFF_TEMPORAL_DEADLINE_MS = 10_000;

export interface InboundMessage {
  source: ResultSource;
  practiceId: string;
  /**
   * Who numbered `messageId` (HL7: sending application and facility), so two senders reusing a
   * control ID are two messages. '' when the message ID is unique by construction (a digest).
   */
  sender: string;
  messageId: string;
  /**
   * The message as the retransmission check compares it (only its digest is stored): for HL7 a
   * normalised form, so a resend that differs only in what an engine may rewrite is still the same.
   */
  content: string;
  results: LabResult[];
}

export type HandoffOutcome =
  | { kind: 'accepted'; workflowIds: string[]; duplicate: boolean }
  | { kind: 'conflict'; reason: string }
  | { kind: 'unknown-practice'; practiceId: string };

/** A result's identity; the issuer defaults to the source's own namespace when the mapping named none. */
export function resultIdentity(
  result: Pick<LabResult, 'source' | 'practiceId' | 'resultId' | 'resultIdIssuer'>,
): ResultIdentity {
  const issuer = result.resultIdIssuer ?? (result.source === 'athena' ? ATHENA_RESULT_ID_ISSUER : result.source);
  return { practiceId: result.practiceId, issuer, resultId: result.resultId };
}

/** `lab-result-{practice}-{keyed digest of the identity}`: no PHI, the same for every source of one result. */
export function workflowIdForResult(idSecret: string, identity: ResultIdentity): string {
  return labResultWorkflowId(identity.practiceId, resultRef(idSecret, identity));
}

export function createHandoff(deps: HandoffDeps) {
  return async function handOff(message: InboundMessage): Promise<HandoffOutcome> {
    const policy = deps.practices.policy(message.practiceId);
    if (policy === undefined) return { kind: 'unknown-practice', practiceId: message.practiceId };
    const bodySha256 = createHash('sha256').update(message.content).digest('hex');
    const workflowIds = message.results.map((r) => workflowIdForResult(deps.idSecret, resultIdentity(r)));
    const key = [message.source, message.practiceId, message.sender, message.messageId];

    const inserted = await deps.pool.query<{ id: string }>(
      `INSERT INTO ingest_message (source, practice_id, sender, message_id, body_sha256, workflow_ids, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'received')
       ON CONFLICT (source, practice_id, sender, message_id) DO NOTHING RETURNING id`,
      [...key, bodySha256, workflowIds],
    );
    if (inserted.rowCount === 0) {
      const { rows } = await deps.pool.query<{ body_sha256: string; status: string; workflow_ids: string[] }>(
        `SELECT body_sha256, status, workflow_ids FROM ingest_message
         WHERE source = $1 AND practice_id = $2 AND sender = $3 AND message_id = $4`,
        key,
      );
      const previous = rows[0];
      if (previous !== undefined && previous.body_sha256 !== bodySha256) {
        return { kind: 'conflict', reason: 'this message ID was already used by this sender for a different message' };
      }
      if (previous?.status === 'handed-off') {
        return { kind: 'accepted', workflowIds: previous.workflow_ids, duplicate: true };
      }
      // An earlier attempt recorded it but did not finish the hand-off: finish it now.
    }

    const receivedAt = deps.now().toISOString();
    const deadline = Date.now() + (deps.temporalDeadlineMs ?? HANDOFF_TEMPORAL_DEADLINE_MS);
    for (const [i, result] of message.results.entries()) {
      const workflowId = workflowIds[i];
      if (workflowId === undefined) continue;
      const input: LabResultWorkflowInput = { result, receivedAt, policy };
      await deps.temporal.connection.withDeadline(deadline, () =>
        deps.temporal.workflow.signalWithStart(LAB_RESULT_WORKFLOW_TYPE, {
          workflowId,
          taskQueue: deps.taskQueue,
          args: [input],
          signal: resultReceivedSignal,
          signalArgs: [{ result, receivedAt }],
        }),
      );
    }
    await deps.pool.query(
      `UPDATE ingest_message SET status = 'handed-off', handed_off_at = now()
       WHERE source = $1 AND practice_id = $2 AND sender = $3 AND message_id = $4`,
      key,
    );
    return { kind: 'accepted', workflowIds, duplicate: false };
  };
}

export type Handoff = ReturnType<typeof createHandoff>;
