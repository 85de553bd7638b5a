import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditFreeOfPhi,
  callTasksOf,
  grantSmsConsent,
  outboxOf,
  pagesTo,
  postHl7,
  sandboxSenderOf,
  secureMessagesTo,
  seedAthenaPatient,
  seedSpruceContact,
  signOff,
  smsTo,
  statusOf,
  untilAudit,
  untilStatus,
} from '../fixtures/e2e/loop';
import { oru, phiOf, type E2ePatient } from '../fixtures/e2e/patients';
import { sendMllp } from '../../api/mllp';
import { eventually, startTestStack } from '../support/stack';

/**
 * Issue 13 §3 on the assembled loop: a potassium of 7.2 mmol/L that the lab sent without any
 * abnormal flag (OBX-8 empty, no "critical" note) is critical by the practice's critical-value
 * table. Over HL7 it pages the on-call provider at once and opens a call task, and the patient is
 * never texted (nor messaged), though consent and a Spruce account are on file. And (§6) a
 * message whose date of birth is malformed (`196203520`, as in the HL7 normative example) is
 * accepted over MLLP with a warning naming PID-7, and audited as a data-quality finding.
 */

const ON_CALL = 'prov-oncall';
const ON_CALL_MEMBER = 'entity_member_oncall';

/** This file's own fictional patient, so a message to anyone else shows up as such. */
const WHO: E2ePatient = {
  id: '7130',
  firstName: 'Perpetua',
  lastName: 'Delacroix-Ames',
  dob: '19610422',
  sex: 'F',
  street: '30 Harbor St',
  city: 'Medford',
  zip: '02155',
  phone: '+16175550198',
};

/** The critical template with its panic flag and its "called to office" note removed, value 7.2. */
function unflaggedPotassium(accession: string, controlId: string): string {
  const message = oru('critical', WHO, { accession, controlId });
  const unflagged = message
    .replace('|6.9|mmol/L^^UCUM|3.5-5.1|HH|', '|7.2|mmol/L^^UCUM|3.5-5.1||')
    .split('\r')
    .filter((segment) => !segment.startsWith('NTE|'))
    .join('\r');
  assert.ok(unflagged.includes('|7.2|mmol/L^^UCUM|3.5-5.1||'), 'the template still has the OBX this test rewrites');
  assert.ok(!/\|HH\||CRITICAL/i.test(unflagged), 'no flag or note says critical');
  return unflagged;
}

describe('routing, unflagged panic value over HL7: page and call at once, never a text', () => {
  let stack: Stack;
  let contactId: string;

  before(async () => {
    stack = await startTestStack({
      // All day, so that "no text" is never explained by quiet hours.
      policyOverrides: { patientQuietHours: { start: '00:00', end: '00:00' } },
    });
    seedAthenaPatient(stack, WHO);
    await grantSmsConsent(stack, WHO);
    contactId = seedSpruceContact(stack, WHO, true);
  });
  after(async () => {
    await stack?.stop();
  });

  it('pages the on-call provider and opens a call task before anyone signs; no patient message after sign-off', async () => {
    const accepted = await postHl7(stack, unflaggedPotassium('E2E-UNFLAG-1', 'E2E-UNFLAG-1-1'));
    const page = await eventually(
      () => pagesTo(stack, ON_CALL_MEMBER).find((p) => p.text.includes(accepted.workflowId)),
      30_000,
      'the page to the on-call provider',
    );
    assert.match(page.text, /^URGENT: Critical lab result needs action\./);
    const [task] = await eventually(
      async () => {
        const rows = await callTasksOf(stack, accepted.workflowId);
        return rows.length > 0 ? rows : undefined;
      },
      30_000,
      'the call task',
    );
    assert.deepEqual([task.reason, task.priority, task.assigned_to], ['critical-result', 'urgent', ON_CALL]);
    const view = await untilStatus(stack, accepted.workflowId, 'critical call', (v) => v.state === 'critical-call');
    assert.equal(view.acuity, 'critical');
    assert.equal(view.signed, false, 'paged before anyone signed');
    const classified = await untilAudit(stack, accepted.workflowId, 'routing-decision', 'classified-critical');
    assert.deepEqual(classified.details.drivers, ['0:critical-limit'], 'the table, not a flag, made it critical');

    await signOff(stack, accepted.workflowId, 'prov-1', 'Please go to the emergency department.');
    await untilAudit(stack, accepted.workflowId, 'routing-decision', 'critical-staff-call-only');
    assert.equal(smsTo(stack, WHO).length, 0, 'never texted, consent notwithstanding');
    assert.equal(secureMessagesTo(stack, contactId).length, 0, 'no secure message');
    for (const channel of ['sms', 'spruce', 'portal']) {
      assert.deepEqual(await outboxOf(stack, accepted.workflowId, channel), [], `no ${channel} intent in the outbox`);
    }
    await assertAuditFreeOfPhi(stack, [...phiOf(WHO, 'critical'), WHO.firstName, '7.2']);
  });

  it('a malformed date of birth (PID-7 196203520) is accepted over MLLP: AA with ERR severity W, a data-quality row', async () => {
    const message = oru('critical', WHO, { accession: 'E2E-DOB-1', controlId: 'E2E-DOB-1-1' }).replace(
      `|${WHO.dob}|`,
      '|196203520|',
    );
    assert.ok(message.includes('|196203520|'));
    const url = new URL(stack.urls.mllp);
    // Mutual TLS with the sandbox sender's client certificate, as every MLLP sender must.
    const client = stack.mllpTls.clients[sandboxSenderOf(message)];
    const ack = await sendMllp({
      host: url.hostname,
      port: Number(url.port),
      message,
      timeoutMs: 10_000,
      tls: { ca: stack.mllpTls.ca, cert: client.cert, key: client.key },
    });
    assert.match(ack, /\rMSA\|AA\|E2E-DOB-1-1/);
    const err = ack.split('\r').find((s) => s.startsWith('ERR|'));
    assert.ok(err !== undefined, ack);
    assert.deepEqual([err.split('|')[2], err.split('|')[4]], ['PID^1^7', 'W']);
    const row = await eventually(
      async () => {
        const { rows } = await stack.pool.query<{ workflow_id: string; details: { fields: string[] } }>(
          `SELECT workflow_id, details FROM audit_log WHERE action = 'ingest' AND outcome = 'data-quality-warning'
             AND details->>'messageId' = 'E2E-DOB-1-1'`,
        );
        return rows[0];
      },
      15_000,
      'the data-quality audit row',
    );
    assert.deepEqual(row.details.fields, ['PID-7']);
    // Routed as any other critical result: the patient's birth date is not needed for that.
    const view = await untilStatus(stack, row.workflow_id, 'critical call', (v) => v.state === 'critical-call');
    assert.equal(view.acuity, 'critical');
    assert.equal((await statusOf(stack, row.workflow_id)).signed, false);
  });
});
