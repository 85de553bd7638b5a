import type { PoolClient } from 'pg';
import { appendAuditInTransaction } from '../audit/append';
import type { AuditEventInput } from '../audit/types';
import {
  recordConsentChange,
  type ConsentChange,
  type ConsentChangeDeps,
  type PendingSignal,
} from '../consent/apply-change';
import type { PatientRef } from '../consent/repository';
import { inTransaction } from '../db/transaction';
import type { PatientReplyEvent } from '../../workflows/definitions';
import { finishInboundEvent, recordPendingSignals, type InboundChannel } from './events';

/**
 * A patient's message, whichever vendor brought it (a Twilio text, a Spruce secure message), goes
 * through this one pipeline. The vendor's adapter (sms-reply.ts, spruce-reply.ts) reads the message:
 * who it is from, what it changes and what is audited. The pipeline then does what every reply
 * needs: the consent changes, the audit rows and the list of signals owed commit in one transaction,
 * and the signals go out after it. A failure in between leaves the event at `received` with its
 * list, and the sweeper (sweeper.ts) or the vendor's re-delivery finishes it.
 */
export interface InboundReply {
  channel: InboundChannel;
  /** The event's key in inbound_event. */
  eventKey: string;
  /** The patients the message is from (every patient who uses the number, or the thread's patients). */
  patients: readonly PatientRef[];
  /** When it was received (ISO): the time of its audit rows and signals. */
  at: string;
  /** The consent changes the message makes for one patient (a STOP revokes); none for a plain reply. */
  consentChanges(client: PoolClient, patient: PatientRef): Promise<ConsentChange[]>;
  /** The `patient-reply` audit row of one patient, when the message is audited as a reply. */
  replyAudit(patient: PatientRef): AuditEventInput | undefined;
  /** What each patient's open workflows hear as `patientReply`, or nothing. */
  replySignal: PatientReplyEvent | undefined;
  /** Audit rows of our own answer to the message, in the same transaction. */
  auditAnswer?: (client: PoolClient) => Promise<void>;
  /** What the event was made into (inbound_event.kind), when the adapter names it here. */
  kind?: string;
}

/** Where the event stood when the transaction began, as the adapter's claim found it. */
export type EventClaim = { kind: 'fresh' } | { kind: 'duplicate' } | { kind: 'resume'; signals: PendingSignal[] };

/**
 * `fresh`: the work was done now; `duplicate`: the event had been processed, nothing was done;
 * `resume`: an earlier delivery committed the work and failed before its signals, which went out now.
 */
export type ReplyOutcome = EventClaim['kind'];

/**
 * Run the reply's transaction, then send what it owes and mark the event processed. `claim` runs
 * first inside the transaction (the SMS adapter records the event there, so a concurrent copy waits
 * on its row lock); without one, the adapter has recorded and checked the event already.
 */
export async function processInboundReply(
  deps: Pick<ConsentChangeDeps, 'pool' | 'signaller'>,
  reply: InboundReply,
  claim: (client: PoolClient) => Promise<EventClaim> = () => Promise.resolve({ kind: 'fresh' }),
): Promise<ReplyOutcome> {
  const work = await inTransaction(deps.pool, async (client) => {
    const claimed = await claim(client);
    if (claimed.kind !== 'fresh') return claimed;
    const signals: PendingSignal[] = [];
    for (const patient of reply.patients) {
      for (const change of await reply.consentChanges(client, patient)) {
        const { signal } = await recordConsentChange(client, change, reply.at);
        signals.push(signal);
      }
      const audit = reply.replyAudit(patient);
      if (audit !== undefined) await appendAuditInTransaction(client, audit);
      if (reply.replySignal !== undefined) {
        signals.push({ ...patient, signal: 'patientReply', event: reply.replySignal });
      }
    }
    await reply.auditAnswer?.(client);
    await recordPendingSignals(client, reply.channel, reply.eventKey, signals, reply.kind);
    return { kind: 'fresh' as const, signals };
  });
  if (work.kind === 'duplicate') return 'duplicate';
  await finishInboundEvent(deps, reply.channel, reply.eventKey, work.signals, reply.kind);
  return work.kind;
}
