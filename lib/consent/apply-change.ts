import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { appendAuditInTransaction } from '../audit/append';
import { inTransaction } from '../db/transaction';
import type { AuditActor, AuditSink } from '../audit/types';
import {
  consentChangedSignal,
  patientReplySignal,
  type ConsentChangedEvent,
  type PatientReplyEvent,
} from '../../workflows/definitions';
import {
  closeWorkflowLink,
  openWorkflowsOfPatient,
  setSmsConsent,
  type ConsentKey,
  type ConsentSource,
  type PatientRef,
} from './repository';
import type { WorkflowSignaller } from './workflow-signaller';
import { consentChanges } from '../metrics/series';

/**
 * One consent change, end to end: the record in PostgreSQL (checked before every send, so it takes
 * effect at once) and its audit event, committed together in one transaction, then a
 * `consentChanged` signal to each open workflow of the patient. The record and its audit row can
 * never be apart: a failure before the commit leaves neither, one after it leaves both. What is owed
 * after the commit (the signals) is either done by the same caller or, for inbound webhook events,
 * recorded with the commit and finished by the sweeper (lib/inbound/sweeper.ts). Every step is
 * idempotent under `eventKey`, so a re-delivered webhook or a retried request re-runs it without
 * duplicates.
 */

export interface ConsentChangeDeps {
  pool: Pool;
  audit: AuditSink;
  signaller: WorkflowSignaller;
  now: () => Date;
}

export interface ConsentChange extends ConsentKey {
  consented: boolean;
  source: ConsentSource;
  actor: AuditActor;
  /** Provider event or request this change comes from (Twilio MessageSid, Spruce item id, request id). */
  eventKey: string;
  /** The classifier rule for patient texts (never the text itself). */
  rule?: string;
  /** The channel the patient used, for texts and Spruce messages. */
  via?: 'sms' | 'spruce';
}

export interface ConsentChangeOutcome {
  changed: boolean;
  workflowsSignalled: number;
}

/**
 * A signal owed to every open workflow of one patient. Internal ids, booleans, kinds and times only:
 * it is stored (inbound_event.pending_signals) until it has been sent.
 */
export type PendingSignal = PatientRef &
  ({ signal: 'consentChanged'; event: ConsentChangedEvent } | { signal: 'patientReply'; event: PatientReplyEvent });

/**
 * The consent record and its audit row, in the caller's open transaction (`client` ran BEGIN).
 * Returns whether the record changed and the signal the change owes the patient's workflows.
 */
export async function recordConsentChange(
  client: PoolClient,
  change: ConsentChange,
  at: string,
): Promise<{ changed: boolean; signal: PendingSignal }> {
  const write = await setSmsConsent(client, change);
  const audited = await appendAuditInTransaction(client, {
    occurredAt: at,
    practiceId: change.practiceId,
    patientId: change.patientId,
    actor: change.actor,
    action: 'consent-change',
    ...(change.via !== undefined ? { channel: change.via === 'sms' ? 'sms' : 'spruce' } : {}),
    outcome: change.consented ? 'granted' : 'revoked',
    details: {
      source: change.source,
      changed: write.changed,
      previous: write.previous ?? null,
      ...(change.rule !== undefined ? { rule: change.rule } : {}),
      event: change.eventKey,
    },
    // One event can change several numbers of a patient (a Spruce revocation): the key tells them apart by a
    // digest, never by the number itself.
    idempotencyKey: `consent:${change.eventKey}:${change.practiceId}:${change.patientId}:${phoneDigest(change.phone)}`,
  });
  // A re-run of the same event (duplicate audit row) is not a second change.
  if (write.changed && !audited.duplicate)
    consentChanges.inc({
      practice: change.practiceId,
      change: change.consented ? 'granted' : 'revoked',
      source: change.source,
    });
  return {
    changed: write.changed,
    signal: {
      practiceId: change.practiceId,
      patientId: change.patientId,
      signal: 'consentChanged',
      event: { smsConsent: change.consented, source: change.source, at },
    },
  };
}

/** A consent change not tied to an inbound event (the consent route, a refused send): its caller retries. */
export async function applyConsentChange(
  deps: ConsentChangeDeps,
  change: ConsentChange,
): Promise<ConsentChangeOutcome> {
  const at = deps.now().toISOString();
  const { changed, signal } = await inTransaction(deps.pool, (client) => recordConsentChange(client, change, at));
  return { changed, workflowsSignalled: await deliverSignals(deps, [signal]) };
}

/**
 * Send owed signals, each to every open workflow of its patient (looked up now, so a workflow that
 * started since the commit hears of it too). Returns how many signals reached a workflow.
 */
export async function deliverSignals(
  deps: Pick<ConsentChangeDeps, 'pool' | 'signaller'>,
  signals: readonly PendingSignal[],
): Promise<number> {
  let signalled = 0;
  for (const pending of signals) {
    signalled += await signalPatientWorkflows(deps, pending, (workflowId) =>
      pending.signal === 'consentChanged'
        ? deps.signaller.signal(workflowId, consentChangedSignal, pending.event)
        : deps.signaller.signal(workflowId, patientReplySignal, pending.event),
    );
  }
  return signalled;
}

/** Tell the patient's open workflows that the patient replied (STOP, START, HELP or a text). */
export async function signalPatientReply(
  deps: Pick<ConsentChangeDeps, 'pool' | 'signaller'>,
  patient: PatientRef,
  event: PatientReplyEvent,
): Promise<number> {
  return deliverSignals(deps, [{ ...patient, signal: 'patientReply', event }]);
}

async function signalPatientWorkflows(
  deps: Pick<ConsentChangeDeps, 'pool' | 'signaller'>,
  patient: PatientRef,
  send: (workflowId: string) => Promise<boolean>,
): Promise<number> {
  let signalled = 0;
  for (const workflowId of await openWorkflowsOfPatient(deps.pool, patient)) {
    if (await send(workflowId)) signalled += 1;
    // Gone from Temporal but still marked open (the close activity never ran): stop routing to it.
    else await closeWorkflowLink(deps.pool, workflowId);
  }
  return signalled;
}

function phoneDigest(phone: string): string {
  return createHash('sha256').update(phone).digest('hex').slice(0, 12);
}
