import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Stack } from '../../sandbox/stack';
import {
  annotate,
  assertAuditChainIntact,
  pagesAbout,
  postHl7,
  secureMessagesTo,
  seedAthenaPatient,
  seedSpruceContact,
  signOff,
  untilAudit,
  untilStatus,
  type Accepted,
} from '../fixtures/e2e/loop';
import { oru, PATIENTS, PRACTICE_ID, SIGNED_FACILITY } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * The audit log as an auditor reads it: after a normal result is texted (consent taken by staff
 * first) and finds no portal document, an abnormal one is annotated, signed with a note and sent
 * as a secure message, and a critical one pages on-call, opens a call task and escalates, every
 * kind of event the issue lists is in the log (routing decision, hold, escalation, page, send,
 * delivery status, consent change, sign-off, annotation, fallback), and each row says when, which
 * result (workflow and result reference), which patient (internal ID), who, on which channel with
 * which template and variant where those apply, and the outcome.
 */

const ESCALATION_MINUTES = 1;
/** The actor of the workflow's own decisions (workflows/draft.ts). */
const WORKFLOW_ACTOR = 'lab-result-workflow';

interface Row {
  seq: number;
  occurred_at: Date | null;
  practice_id: string | null;
  workflow_id: string | null;
  result_ref: string | null;
  patient_id: string | null;
  actor_type: string | null;
  actor_id: string | null;
  action: string;
  channel: string | null;
  template: string | null;
  variant: string | null;
  outcome: string | null;
  details: Record<string, unknown>;
}

const LISTED = [
  'routing-decision',
  'hold',
  'escalation',
  'page',
  'send',
  'delivery-status',
  'consent-change',
  'sign-off',
  'annotation',
  'fallback',
] as const;

/** What a row of this kind must carry, beyond when, who and the outcome (which every row carries). */
function required(row: Row): (keyof Row)[] {
  const fields: (keyof Row)[] = ['practice_id'];
  // Everything but a consent change belongs to one result; a consent change always to a patient.
  if (row.action !== 'consent-change' || row.workflow_id !== null) fields.push('workflow_id', 'result_ref');
  fields.push('patient_id');
  const send = row.action === 'send' || row.action === 'send-intent' || row.action === 'delivery-status';
  if (send || row.action === 'page' || row.action === 'fallback') fields.push('channel');
  // A hold or an escalation about one send or call names its channel.
  if ((row.action === 'hold' && typeof row.details.step === 'string') || row.outcome?.startsWith('call-') === true)
    fields.push('channel');
  // What went out (or came back about it): its template, and the variant of a patient message, as
  // the outbox sent it and the provider reported it. The workflow's own record of a delivery status
  // follows the provider's row (checked below), which carries them.
  const workflowEcho = row.action === 'delivery-status' && row.actor_id === WORKFLOW_ACTOR;
  if (send && !workflowEcho) fields.push('template');
  if (send && !workflowEcho && (row.channel === 'sms' || row.channel === 'spruce')) fields.push('variant');
  // A page as sent (the outbox's row, not the workflow's decision to page) names its template.
  if (row.action === 'page' && row.actor_id === 'worker') fields.push('template');
  return fields;
}

describe('the audit trail: every kind of event, each with the fields an auditor needs', () => {
  const normal = PATIENTS.auditNormal;
  const abnormal = PATIENTS.auditAbnormal;
  const critical = PATIENTS.auditCritical;
  let stack: Stack;
  let normalResult: Accepted;
  let abnormalResult: Accepted;
  let criticalResult: Accepted;
  let contactId: string;

  before(async () => {
    stack = await startTestStack({
      policyOverrides: {
        patientQuietHours: { start: '00:00', end: '00:00' },
        smsConsentInvitation: false,
        criticalCallEscalationMinutes: ESCALATION_MINUTES,
      },
    });
    for (const who of [normal, abnormal, critical]) seedAthenaPatient(stack, who);
    contactId = seedSpruceContact(stack, abnormal, true);
  });
  after(async () => {
    await stack?.stop();
  });

  it('staff record consent, then a signed normal result is texted and finds no portal document', async () => {
    const consent = await fetch(`${stack.urls.api}/v1/practices/${PRACTICE_ID}/patients/${normal.id}/sms-consent`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${stack.secrets.apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phone: normal.phone, consented: true, source: 'staff' }),
    });
    assert.ok(consent.status < 300, `consent recorded (${consent.status}): ${await consent.text()}`);
    normalResult = await postHl7(
      stack,
      oru('normal', normal, { accession: 'E2E-AUD-N', controlId: 'E2E-AUD-N-1', facility: SIGNED_FACILITY }),
    );
    await untilStatus(stack, normalResult.workflowId, 'the SMS delivered', (v) =>
      v.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered'),
    );
    await untilAudit(stack, normalResult.workflowId, 'delivery-status', 'delivered');
    await untilAudit(stack, normalResult.workflowId, 'fallback', 'portal-note-not-published');
  });

  it('an abnormal result is held, annotated, signed with a note and sent as a secure message', async () => {
    abnormalResult = await postHl7(
      stack,
      oru('abnormal', abnormal, { accession: 'E2E-AUD-A', controlId: 'E2E-AUD-A-1' }),
    );
    await untilAudit(stack, abnormalResult.workflowId, 'hold', 'awaiting-sign-off');
    // As the review app does (and the note and the annotation join the PHI the log scan looks for).
    await annotate(stack, abnormalResult.workflowId, 'prov-2', 'Discussed at the huddle.');
    await signOff(stack, abnormalResult.workflowId, 'prov-2', 'Please book a visit to talk about it.');
    await eventually(
      () => (secureMessagesTo(stack, contactId).length > 0 ? true : undefined),
      30_000,
      'the secure message',
    );
    await untilAudit(stack, abnormalResult.workflowId, 'send', 'sent');
  });

  it('a critical result pages on-call, opens a call task and escalates when nobody completes it', async () => {
    criticalResult = await postHl7(
      stack,
      oru('critical', critical, { accession: 'E2E-AUD-C', controlId: 'E2E-AUD-C-1' }),
    );
    await eventually(
      () => (pagesAbout(stack, criticalResult.workflowId).length > 0 ? true : undefined),
      30_000,
      'the page',
    );
    await untilAudit(stack, criticalResult.workflowId, 'escalation', /^call-/, (ESCALATION_MINUTES + 1) * 60_000);
  });

  it('has every listed kind of event, each row with when, result, patient, actor, channel, template, variant and outcome', async () => {
    const { rows } = await stack.pool.query<Row>(
      `SELECT seq::int AS seq, occurred_at, practice_id, workflow_id, result_ref, patient_id, actor_type, actor_id,
              action, channel, template, variant, outcome, details
         FROM audit_log WHERE action <> 'export' AND action <> 'phi-access' ORDER BY seq`,
    );
    const ours = new Set([normalResult, abnormalResult, criticalResult].map((r) => r.workflowId));
    const patients = new Set([normal, abnormal, critical].map((p) => p.id));
    const missingKinds = LISTED.filter((action) => !rows.some((r) => r.action === action));
    assert.deepEqual(missingKinds, [], 'every listed kind of event is in the log');

    const problems: string[] = [];
    for (const row of rows) {
      const absent = (['occurred_at', 'actor_type', 'actor_id', 'outcome', ...required(row)] as const).filter(
        (field) => row[field] === null || row[field] === '',
      );
      if (absent.length > 0)
        problems.push(`seq ${row.seq} ${row.action}/${row.outcome} (${row.actor_id}) lacks ${absent.join(', ')}`);
      if (row.workflow_id !== null && !ours.has(row.workflow_id))
        problems.push(`seq ${row.seq} names a workflow this test did not start`);
      if (row.patient_id !== null && !patients.has(row.patient_id))
        problems.push(`seq ${row.seq} names patient ${row.patient_id}, not one of this test's`);
      if (row.result_ref !== null && row.workflow_id?.endsWith(`-${row.result_ref}`) !== true)
        problems.push(`seq ${row.seq}'s result reference is not its workflow's`);
    }
    // Each delivery status the workflow recorded was first recorded, complete, as the provider reported it.
    for (const echo of rows.filter((r) => r.action === 'delivery-status' && r.actor_id === WORKFLOW_ACTOR)) {
      const reported = rows.find(
        (r) =>
          r.action === 'delivery-status' &&
          r.actor_id !== WORKFLOW_ACTOR &&
          r.workflow_id === echo.workflow_id &&
          r.channel === echo.channel &&
          r.outcome === echo.outcome &&
          r.seq < echo.seq,
      );
      if (reported === undefined)
        problems.push(`seq ${echo.seq} delivery-status/${echo.outcome} has no provider report before it`);
    }
    assert.deepEqual(problems, []);

    // The send fields say what went out: the SMS greeted by name, the secure message carried the note.
    const sms = rows.find((r) => r.action === 'send' && r.channel === 'sms' && r.outcome === 'sent');
    assert.deepEqual([sms?.template, sms?.variant, sms?.patient_id], ['results-ready', 'personal', normal.id]);
    const delivered = rows.find((r) => r.action === 'delivery-status' && r.outcome === 'delivered');
    assert.deepEqual(
      [delivered?.template, delivered?.variant, delivered?.actor_id],
      ['results-ready', 'personal', 'twilio'],
    );
    const spruce = rows.find((r) => r.action === 'send' && r.channel === 'spruce');
    assert.deepEqual([spruce?.template, spruce?.variant], ['spruce-result', 'with-note']);
    const signed = rows.find((r) => r.action === 'sign-off' && r.workflow_id === abnormalResult.workflowId);
    assert.deepEqual([signed?.actor_type, signed?.actor_id], ['provider', 'prov-2']);
    const annotation = rows.find((r) => r.action === 'annotation');
    assert.deepEqual([annotation?.actor_type, annotation?.actor_id], ['provider', 'prov-2']);
    const consent = rows.find((r) => r.action === 'consent-change');
    // The actor is who authenticated (the lab engine's token), never a staff member the caller names.
    assert.deepEqual(
      [consent?.patient_id, consent?.actor_type, consent?.actor_id],
      [normal.id, 'source', 'riverside-lab-engine'],
    );
    await assertAuditChainIntact(stack);
  });
});
