import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SERVICE_NUMBER } from '../../sandbox/fakes/twilio';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  assertAuditFreeOfPhi,
  assertNoPhi,
  auditRows,
  outboxOf,
  seedAthenaPatient,
  settle,
  signOff,
  smsConsentOf,
  smsTo,
  untilAudit,
  untilStatus,
  workflowIdOf,
} from '../fixtures/e2e/loop';
import { athenaLabResultSeed, PATIENTS, phiOf } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * Routing table, row "normal, not consented", for a practice that enables the one-time SMS consent
 * invitation (`smsConsentInvitation`): the portal note plus exactly one invitation text, never a
 * second one for a correction of the same result (signed by a provider: athena's leftover "reviewed"
 * flag does not sign it); the patient's YES is a consent like any other.
 */

const LAB_RESULT_ID = '880205';

describe('consent invitation: one invitation per result, none for a correction', () => {
  const who = PATIENTS.unconsented;
  let stack: Stack;
  let workflowId: string;

  before(async () => {
    stack = await startTestStack({
      // All day: quiet hours are not the subject, and a held invitation would hide a second one.
      policyOverrides: { patientQuietHours: { start: '00:00', end: '00:00' }, smsConsentInvitation: true },
    });
    seedAthenaPatient(stack, who);
  });
  after(async () => {
    await stack?.stop();
  });

  it('sends the portal note and exactly one invitation, which asks and tells nothing', async () => {
    stack.fakes.athena.control.addLabResult(
      athenaLabResultSeed(who, 'normal', { labResultId: LAB_RESULT_ID, signed: true }),
    );
    workflowId = workflowIdOf(stack, LAB_RESULT_ID);
    await untilAudit(stack, workflowId, 'routing-decision', 'portal-and-consent-invitation');
    const view = await untilStatus(stack, workflowId, 'invitation and portal note done', (v) => v.state === 'notified');
    assert.deepEqual(view.deliveries.map((d) => `${d.channel}:${d.step}`).sort(), [
      'portal:v1:portal-note',
      'sms:v1:sms-consent-invitation',
    ]);
    const texts = smsTo(stack, who);
    assert.equal(texts.length, 1);
    assert.match(texts[0].body, /want a text when your lab results are ready\? Reply YES to opt in, STOP to opt out/);
    assertNoPhi(texts[0].body, [...phiOf(who, 'normal'), who.firstName], 'the invitation');
    assert.ok(stack.fakes.athena.control.labResult(LAB_RESULT_ID).patientNote !== undefined, 'the portal note');
  });

  it('a correction of the same result is routed again but sends no second invitation', async () => {
    stack.fakes.athena.control.updateLabResult(LAB_RESULT_ID, {
      resultstatus: 'Corrected',
      analytes: athenaLabResultSeed(who, 'normal', { labResultId: LAB_RESULT_ID, signed: true }).analytes?.map(
        (a, i) => (i === 0 ? { ...a, value: '94' } : a),
      ),
    });
    // athena keeps the "reviewed" flag on an amended result and never dates it, so it does not
    // sign the correction (workflows/intake.ts): the correction waits for a provider.
    await untilAudit(stack, workflowId, 'sign-off', 'stale-source-sign-off-ignored');
    await untilStatus(
      stack,
      workflowId,
      'the correction waiting for a sign-off',
      (v) => v.state === 'awaiting-sign-off' && v.resultStatus === 'corrected',
    );
    await signOff(stack, workflowId, 'prov-1');
    // The correction's own routing decision: updated, portal only.
    const decision = await eventually(
      async () =>
        (await auditRows(stack, workflowId)).find(
          (r) => r.action === 'routing-decision' && r.outcome === 'portal-only' && r.details.updated === true,
        ),
      30_000,
      'the routing decision for the corrected version',
    );
    assert.equal(decision.details.smsConsent, false);
    const view = await untilStatus(
      stack,
      workflowId,
      'the correction notified',
      (v) => v.state === 'notified' && v.resultStatus === 'corrected',
    );
    assert.ok(view.version >= 2);
    await settle(1_500);
    const texts = smsTo(stack, who);
    assert.equal(texts.length, 1, `still the one invitation: ${texts.map((t) => t.body).join(' | ')}`);
    const invitations = (await outboxOf(stack, workflowId, 'sms')).filter((r) => r.template === 'consent-invitation');
    assert.equal(invitations.length, 1, 'one invitation in the outbox');
  });

  it('YES to the invitation records consent and the (updated) result text follows, once', async () => {
    const inbound = await stack.fakes.twilio.simulateInbound({
      from: who.phone,
      to: DEFAULT_SERVICE_NUMBER,
      body: 'YES',
    });
    assert.equal(inbound.webhookStatus, 200);
    assert.deepEqual(await smsConsentOf(stack, who), { consented: true, source: 'keyword' });
    const view = await untilStatus(stack, workflowId, 'the result text delivered', (v) =>
      v.deliveries.some((d) => d.step.endsWith(':sms-updated-result') && d.status === 'delivered'),
    );
    assert.equal(view.state, 'notified');
    await settle(1_500);
    const texts = smsTo(stack, who).map((t) => t.body);
    assert.equal(texts.length, 2, texts.join(' | '));
    assert.match(texts[1], /an updated lab result is ready in your patient portal/);
    assertNoPhi(texts[1], phiOf(who, 'normal'), 'the result text');
    assert.equal(texts.filter((t) => /Reply YES to opt in/.test(t)).length, 1, 'still one invitation');
  });

  it('keeps the audit chain intact, with no PHI in it', async () => {
    await assertAuditFreeOfPhi(stack, [...phiOf(who, 'normal'), who.firstName]);
    await assertAuditChainIntact(stack);
  });
});
