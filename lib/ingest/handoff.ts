import { createHash } from 'node:crypto';
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { Pool } from 'pg';
import type { LabResult, ResultSource } from '../../domain/lab-result';
import type { AuditSink } from '../audit/types';
import type { PracticeRegistry } from '../practices';
import { ATHENA_RESULT_ID_ISSUER, resultRef, type ResultIdentity, type ResultLinkKey } from '../result-ref';
import {
  getResultDetailQuery,
  INVALID_REQUEST_ERROR_TYPE,
  LAB_RESULT_WORKFLOW_TYPE,
  labResultWorkflowId,
  resultReceivedSignal,
  resultRefOf,
  signOffUpdate,
  type LabResultWorkflowInput,
} from '../../workflows/definitions';
import type { SenderChannel } from '../senders';
import { resolveResult, sameReportedValues, type ResolvedResult } from './result-links';

/**
 * Hands accepted results to Temporal, durably, exactly once per inbound message. The message is
 * recorded (by source, practice, sender and message ID) before the hand-off and marked after it, so:
 * a retransmission of a handed-off message is recognised and re-acknowledged without a signal;
 * a message whose earlier hand-off crashed half-way is handed off again (the workflow ignores a
 * message ID it has already seen). Signal-with-start makes first sight, re-delivery, correction
 * and sign-off from any source land on the one workflow of that result.
 *
 * Every result is first resolved to the workflow that owns it (lib/ingest/result-links.ts), in the
 * same place and before the same acknowledgement as the message record: a result the lab also sent
 * to athena lands on the workflow of whichever source saw it first, and only that source's versions
 * are delivered as versions; the other source contributes its sign-off.
 */
export interface HandoffDeps {
  /** A pool, or one client (the athena ingest hands off on its per-result lock's connection). */
  pool: Pick<Pool, 'query'>;
  temporal: Client;
  practices: PracticeRegistry;
  taskQueue: string;
  idSecret: string;
  now: () => Date;
  /** Overall budget for the Temporal calls of one hand-off; default {@link HANDOFF_TEMPORAL_DEADLINE_MS}. */
  temporalDeadlineMs?: number;
  /**
   * Where linking decisions are audited. Absent: the caller audits `linkEvents` itself (the athena
   * ingest does, after releasing its lock's connection).
   */
  audit?: Pick<AuditSink, 'append'>;
}

/**
 * How long one hand-off may wait for Temporal. A signal-with-start normally takes tens of
 * milliseconds; without a deadline the client retries an unreachable server for ~18 s (10 attempts,
 * backoff ×1.7 from 100 ms). 10 s answers an interface engine well inside its usual 30 s ACK timeout
 * (AR: keep the message, resend), and the athena webhook passes a shorter budget of its own.
 */
export const HANDOFF_TEMPORAL_DEADLINE_MS = 10_000;

/**
 * Attempts at applying a secondary source's sign-off: a refusal because a new version arrived between
 * reading the workflow and signing is read again once; a second refusal is final.
 */
const LINKED_SIGN_OFF_ATTEMPTS = 2;

export interface InboundMessage {
  source: ResultSource;
  practiceId: string;
  /**
   * Who numbered `messageId` (HL7: sending application and facility), so two senders reusing a
   * control ID are two messages. '' when the message ID is unique by construction (a digest).
   */
  sender: string;
  /**
   * Who the transport authenticated (the sender registry's id and how it proved it; `athena-api` for
   * what labloop itself read from athena's API). Stored with the message and in the audit rows it causes.
   */
  authenticatedSender: { id: string; channel: SenderChannel | 'athena-api' };
  messageId: string;
  /**
   * The message as the retransmission check compares it (only its digest is stored): for HL7 a
   * normalised form, so a resend that differs only in what an engine may rewrite is still the same.
   */
  content: string;
  results: LabResult[];
  /**
   * Per result (same index): what links it to the same result seen through another source, when the
   * source carries it (HL7 OBR-3.1/OBR-4/PID-3; athena's accession, panel LOINC and patient).
   */
  links?: readonly (ResultLinkKey | undefined)[];
}

/**
 * What the hand-off did with a result that another source defined (IDs and outcome tokens only):
 * - `started`: the defining source had not started the workflow yet; this version started it.
 * - `recorded`: the workflow has the result from its own source; this version adds nothing to deliver.
 * - `sign-off-applied`: this source's sign-off signed the workflow's current version.
 * - `sign-off-already`: the workflow was already signed.
 * - `sign-off-withheld`: not applied (`reason`: the values differ, the workflow refused it, or it is closed).
 */
export interface LinkEvent {
  practiceId: string;
  workflowId: string;
  source: ResultSource;
  /** The message (version) this is about; a digest or control ID, never content. */
  messageId: string;
  patientId: string;
  /** This hand-off is the first that mapped this source's identity to the other source's result. */
  newlyLinked: boolean;
  outcome: 'started' | 'recorded' | 'sign-off-applied' | 'sign-off-already' | 'sign-off-withheld';
  /** Why a sign-off was withheld; the workflow's own refusal names IDs and versions only. */
  reason?: string;
  /** The authenticated sender of the message (registry id). */
  sender?: string;
}

export type HandoffOutcome =
  | { kind: 'accepted'; workflowIds: string[]; duplicate: boolean; linkEvents: LinkEvent[] }
  | { kind: 'conflict'; reason: string }
  | { kind: 'unknown-practice'; practiceId: string };

/** A result's identity; the issuer defaults to the source's own namespace when the mapping named none. */
export function resultIdentity(
  result: Pick<LabResult, 'source' | 'practiceId' | 'resultId' | 'resultIdIssuer'>,
): ResultIdentity {
  const issuer = result.resultIdIssuer ?? (result.source === 'athena' ? ATHENA_RESULT_ID_ISSUER : result.source);
  return { practiceId: result.practiceId, issuer, resultId: result.resultId };
}

/**
 * `lab-result-{practice}-{keyed digest of the identity}`: no PHI. The workflow a result starts when
 * its source is the first to see it; a linked result's workflow is the one the hand-off reports.
 */
export function workflowIdForResult(idSecret: string, identity: ResultIdentity): string {
  return labResultWorkflowId(identity.practiceId, resultRef(idSecret, identity));
}

/** The audit row of one link event: a routing decision about where a version went. */
export async function auditLinkEvents(
  audit: Pick<AuditSink, 'append'>,
  events: readonly LinkEvent[],
  occurredAt: string,
): Promise<void> {
  for (const event of events) {
    const key = createHash('sha256')
      .update(JSON.stringify([event.workflowId, event.source, event.messageId, event.outcome]))
      .digest('hex')
      .slice(0, 32);
    await audit.append({
      occurredAt,
      practiceId: event.practiceId,
      workflowId: event.workflowId,
      ...resultRefField(event.workflowId),
      patientId: event.patientId,
      actor: { type: 'source', id: event.source },
      action: 'ingest',
      outcome: `linked-${event.outcome}`,
      details: {
        messageId: event.messageId,
        newlyLinked: event.newlyLinked,
        ...(event.reason === undefined ? {} : { reason: event.reason }),
        ...(event.sender === undefined ? {} : { sender: event.sender }),
      },
      idempotencyKey: `result-link:${key}`,
    });
  }
}

/**
 * One 'ingest' / 'accepted' row per result of a message taken in: which authenticated sender put
 * this version on the workflow, and whether it arrived signed (the workflow's own sign-off row names
 * only the source type). Keyed per message and result, so a hand-off finished again audits once.
 */
async function auditAccepted(
  audit: Pick<AuditSink, 'append'>,
  message: InboundMessage,
  workflowIds: readonly string[],
  occurredAt: string,
): Promise<void> {
  for (const [i, result] of message.results.entries()) {
    const workflowId = workflowIds[i];
    if (workflowId === undefined) continue;
    const key = createHash('sha256')
      .update(JSON.stringify([message.source, message.practiceId, message.sender, message.messageId, i]))
      .digest('hex')
      .slice(0, 32);
    await audit.append({
      occurredAt,
      practiceId: message.practiceId,
      workflowId,
      resultRef: workflowId.slice(workflowId.lastIndexOf('-') + 1),
      patientId: result.patient.id,
      actor: { type: 'source', id: message.source },
      action: 'ingest',
      outcome: 'accepted',
      details: {
        messageId: message.messageId.slice(0, 80),
        sender: message.authenticatedSender.id,
        senderChannel: message.authenticatedSender.channel,
        arrivedSigned: result.signedOff !== undefined,
      },
      idempotencyKey: `ingest-accepted:${key}`,
    });
  }
}

export function createHandoff(deps: HandoffDeps) {
  const deadlineMs = deps.temporalDeadlineMs ?? HANDOFF_TEMPORAL_DEADLINE_MS;
  const withDeadline = <T>(deadline: number, call: () => Promise<T>): Promise<T> =>
    deps.temporal.connection.withDeadline(deadline, call);

  /** A version of a result another source defined: see {@link LinkEvent}. */
  async function handOffSecondary(
    message: InboundMessage,
    result: LabResult,
    workflowId: string,
    input: LabResultWorkflowInput,
    deadline: number,
  ): Promise<Pick<LinkEvent, 'outcome' | 'reason'>> {
    try {
      // Nothing may be lost: if the defining source never got its result to Temporal (refused, or
      // never resent after an AR), this version starts the workflow. REJECT_DUPLICATE: never a new
      // run next to a running or closed one.
      await withDeadline(deadline, () =>
        deps.temporal.workflow.start(LAB_RESULT_WORKFLOW_TYPE, {
          workflowId,
          taskQueue: deps.taskQueue,
          args: [input],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          workflowIdConflictPolicy: 'FAIL',
        }),
      );
      return { outcome: 'started' };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    const signedOff = result.signedOff;
    if (signedOff === undefined) return { outcome: 'recorded' };

    const handle = deps.temporal.workflow.getHandle(workflowId);
    let refusal = '';
    for (let attempt = 1; attempt <= LINKED_SIGN_OFF_ATTEMPTS; attempt += 1) {
      let detail;
      try {
        detail = await withDeadline(deadline, () => handle.query(getResultDetailQuery));
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { outcome: 'sign-off-withheld', reason: 'workflow-closed' };
        throw err;
      }
      if (detail.view.state === 'closed') return { outcome: 'sign-off-withheld', reason: 'workflow-closed' };
      if (detail.view.signed) return { outcome: 'sign-off-already' };
      if (!sameReportedValues(detail.result.observations, result.observations)) {
        return { outcome: 'sign-off-withheld', reason: 'values-differ' };
      }
      try {
        await withDeadline(deadline, () =>
          handle.executeUpdate(signOffUpdate, {
            args: [
              {
                providerId: signedOff.providerId,
                practiceId: message.practiceId,
                via: result.source === 'athena' ? 'athena' : 'api',
                // The version whose values were just compared: a correction in between is refused.
                expectedVersion: detail.view.version,
              },
            ],
          }),
        );
        return { outcome: 'sign-off-applied' };
      } catch (err) {
        if (!(err instanceof WorkflowUpdateFailedError)) throw err;
        const cause = err.cause;
        if (!(cause instanceof ApplicationFailure) || cause.type !== INVALID_REQUEST_ERROR_TYPE) throw err;
        refusal = cause.message;
      }
    }
    return { outcome: 'sign-off-withheld', reason: `refused: ${refusal}` };
  }

  return async function handOff(message: InboundMessage): Promise<HandoffOutcome> {
    const policy = deps.practices.policy(message.practiceId);
    if (policy === undefined) return { kind: 'unknown-practice', practiceId: message.practiceId };
    const bodySha256 = createHash('sha256').update(message.content).digest('hex');
    const key = [message.source, message.practiceId, message.sender, message.messageId];

    const inserted = await deps.pool.query<{ id: string }>(
      `INSERT INTO ingest_message
         (source, practice_id, sender, message_id, body_sha256, workflow_ids, status, authenticated_sender, authenticated_by)
       VALUES ($1, $2, $3, $4, $5, '{}', 'received', $6, $7)
       ON CONFLICT (source, practice_id, sender, message_id) DO NOTHING RETURNING id`,
      [...key, bodySha256, message.authenticatedSender.id, message.authenticatedSender.channel],
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
        return { kind: 'accepted', workflowIds: previous.workflow_ids, duplicate: true, linkEvents: [] };
      }
      // An earlier attempt recorded it but did not finish the hand-off: finish it now.
    }

    // Only a message known to be new claims identities: a refused one must not define a result.
    const resolved: ResolvedResult[] = [];
    for (const [i, result] of message.results.entries()) {
      resolved.push(
        await resolveResult(deps.pool, deps.idSecret, message.source, resultIdentity(result), message.links?.[i]),
      );
    }
    const workflowIds = resolved.map((r) => labResultWorkflowId(message.practiceId, r.resultRef));
    await deps.pool.query(
      `UPDATE ingest_message SET workflow_ids = $5
       WHERE source = $1 AND practice_id = $2 AND sender = $3 AND message_id = $4`,
      [...key, workflowIds],
    );

    const receivedAt = deps.now().toISOString();
    const deadline = Date.now() + deadlineMs;
    const linkEvents: LinkEvent[] = [];
    for (const [i, result] of message.results.entries()) {
      const workflowId = workflowIds[i];
      const resolution = resolved[i];
      if (workflowId === undefined || resolution === undefined) continue;
      const input: LabResultWorkflowInput = { result, receivedAt, policy };
      if (resolution.resultRef !== resolution.ownRef) {
        const done = await handOffSecondary(message, result, workflowId, input, deadline);
        linkEvents.push({
          practiceId: message.practiceId,
          workflowId,
          source: message.source,
          messageId: message.messageId,
          patientId: result.patient.id,
          newlyLinked: resolution.newlyLinked,
          sender: message.authenticatedSender.id,
          ...done,
        });
        continue;
      }
      await withDeadline(deadline, () =>
        deps.temporal.workflow.signalWithStart(LAB_RESULT_WORKFLOW_TYPE, {
          workflowId,
          taskQueue: deps.taskQueue,
          args: [input],
          signal: resultReceivedSignal,
          signalArgs: [{ result, receivedAt }],
        }),
      );
    }
    // Audited before the message counts as handed off: a crash in between hands it off (and audits) again.
    if (deps.audit !== undefined) {
      await auditAccepted(deps.audit, message, workflowIds, receivedAt);
      await auditLinkEvents(deps.audit, linkEvents, receivedAt);
    }
    await deps.pool.query(
      `UPDATE ingest_message SET status = 'handed-off', handed_off_at = now()
       WHERE source = $1 AND practice_id = $2 AND sender = $3 AND message_id = $4`,
      key,
    );
    return { kind: 'accepted', workflowIds, duplicate: false, linkEvents };
  };
}

export type Handoff = ReturnType<typeof createHandoff>;

function resultRefField(workflowId: string): { resultRef?: string } {
  const resultRef = resultRefOf(workflowId);
  return resultRef === undefined ? {} : { resultRef };
}
