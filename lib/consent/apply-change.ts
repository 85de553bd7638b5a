import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { AuditActor, AuditSink } from '../audit/types';
import { consentChangedSignal, patientReplySignal, type PatientReplyEvent } from '../../workflows/definitions';
import {
  closeWorkflowLink,
  openWorkflowsOfPatient,
  setSmsConsent,
  type ConsentKey,
  type ConsentSource,
  type PatientRef,
} from './repository';
import type { WorkflowSignaller } from './workflow-signaller';

/**
 * One consent change, end to end: the record in PostgreSQL (checked before every send, so it takes
 * effect at once), an audit event, and a `consentChanged` signal to each open workflow of the
 * patient. Every step is idempotent under `eventKey`, so a re-delivered webhook or a retried request
 * re-runs it without duplicates.
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

export async function applyConsentChange(
  deps: ConsentChangeDeps,
  change: ConsentChange,
): Promise<ConsentChangeOutcome> {
  const write = await setSmsConsent(deps.pool, change);
  const at = deps.now().toISOString();
  await deps.audit.append({
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
  const workflowsSignalled = await signalPatientWorkflows(deps, change, (workflowId) =>
    deps.signaller.signal(workflowId, consentChangedSignal, {
      smsConsent: change.consented,
      source: change.source,
      at,
    }),
  );
  return { changed: write.changed, workflowsSignalled };
}

/** Tell the patient's open workflows that the patient replied (STOP, START, HELP or a text). */
export async function signalPatientReply(
  deps: ConsentChangeDeps,
  patient: PatientRef,
  event: PatientReplyEvent,
): Promise<number> {
  return signalPatientWorkflows(deps, patient, (workflowId) =>
    deps.signaller.signal(workflowId, patientReplySignal, event),
  );
}

async function signalPatientWorkflows(
  deps: ConsentChangeDeps,
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
