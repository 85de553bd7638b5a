import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  assertAuditFreeOfPhi,
  assertNoPhi,
  grantSmsConsent,
  outboxOf,
  pagesAbout,
  postHl7,
  seedAthenaPatient,
  settle,
  smsTo,
  statusOf,
  untilAudit,
  untilStatus,
  workflowIdOf,
} from '../fixtures/e2e/loop';
import { athenaLabResultSeed, oru, PATIENTS, phiOf, SIGNED_FACILITY } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * Routing table, row "normal", on the assembled loop, for a practice that does NOT send consent
 * invitations (consent-invitation.test.ts covers the practice that does):
 *
 * - consent on file: one generic SMS through Twilio (no PHI) and the portal note, which for an
 *   athena result is written on the athena lab-result document and published to the portal;
 * - no consent: the portal note only, and not a single text.
 *
 * Results come from athena here (signed in athena, delivered by its webhook), because only for an
 * athena document can labloop write the portal note; see the last test for an HL7 result.
 */

describe('routing, normal result: generic SMS where consented, the portal note always', () => {
  const consented = PATIENTS.consented;
  const unconsented = PATIENTS.unconsented;
  let stack: Stack;
  let smsWorkflow: string;
  let portalWorkflow: string;

  before(async () => {
    stack = await startTestStack({
      policyOverrides: {
        // The messaging window is routing-normal-quiet-hours' subject; all day here.
        patientQuietHours: { start: '00:00', end: '00:00' },
        smsConsentInvitation: false,
      },
    });
    seedAthenaPatient(stack, consented);
    seedAthenaPatient(stack, unconsented);
    await grantSmsConsent(stack, consented);
  });
  after(async () => {
    await stack?.stop();
  });

  it('consented: one generic SMS without PHI and the portal note on the athena document', async () => {
    const labResultId = '880104';
    // Reviewed in athena before it reaches labloop: it arrives signed and routes at once.
    stack.fakes.athena.control.addLabResult(athenaLabResultSeed(consented, 'normal', { labResultId, signed: true }));
    smsWorkflow = workflowIdOf(stack, labResultId);

    const view = await untilStatus(
      stack,
      smsWorkflow,
      'SMS delivered and the portal note posted',
      (v) =>
        v.state === 'notified' &&
        v.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered') &&
        v.deliveries.some((d) => d.channel === 'portal' && d.status !== 'pending'),
    );
    assert.equal(view.acuity, 'normal');
    assert.equal(view.signed, true);
    await untilAudit(stack, smsWorkflow, 'routing-decision', 'sms-and-portal');

    const texts = smsTo(stack, consented);
    assert.equal(texts.length, 1, 'exactly one text');
    assert.match(texts[0].body, /your lab results are ready in your patient portal/);
    assertNoPhi(texts[0].body, [...phiOf(consented, 'normal'), 'normal', 'Riverside'], 'the SMS body');

    const document = stack.fakes.athena.control.labResult(labResultId);
    assert.match(document.patientNote ?? '', /^Your lab results from Riverside Family Medicine have been reviewed/);
    assert.ok(document.portalPublishedAt !== undefined, 'athena published the note to the portal');
    await untilAudit(stack, smsWorkflow, 'send', 'published');
    assert.equal(pagesAbout(stack, smsWorkflow).length, 0, 'nobody is paged for a normal result');
  });

  it('no consent: the portal note only, and no text at all', async () => {
    const labResultId = '880105';
    stack.fakes.athena.control.addLabResult(athenaLabResultSeed(unconsented, 'normal', { labResultId, signed: true }));
    portalWorkflow = workflowIdOf(stack, labResultId);

    const view = await untilStatus(stack, portalWorkflow, 'notified', (v) => v.state === 'notified');
    // Routing has decided and nothing is in flight: a text would have been planned and sent by now.
    await untilAudit(stack, portalWorkflow, 'routing-decision', 'portal-only');
    assert.deepEqual(
      view.deliveries.map((d) => `${d.channel}:${d.step}`),
      ['portal:v1:portal-note'],
    );
    const document = await eventually(
      () => {
        const found = stack.fakes.athena.control.labResult(labResultId);
        return found.portalPublishedAt !== undefined ? found : undefined;
      },
      10_000,
      'the published portal note',
    );
    assert.match(document.patientNote ?? '', /have been reviewed by your provider/);
    await settle(1_000);
    assert.equal(smsTo(stack, unconsented).length, 0, 'no text, not even an invitation (the practice has none)');
    assert.deepEqual(await outboxOf(stack, portalWorkflow, 'sms'), []);
    assert.equal((await statusOf(stack, portalWorkflow)).deliveries.length, 1);
  });

  it('an HL7 result without consent and without an athena document reaches staff as a call task', async () => {
    // The portal note can only be written on an athena lab-result document; an HL7 result has none
    // we can safely identify, so the note is "not published". That told nobody: the workflow must
    // not claim the patient was told, and staff get a normal-priority call task (no page: this is a
    // standing limitation, not an outage).
    const accepted = await postHl7(
      stack,
      oru('normal', unconsented, { accession: 'E2E-NRM-HL7', controlId: 'E2E-NRM-HL7-1', facility: SIGNED_FACILITY }),
    );
    await untilAudit(stack, accepted.workflowId, 'fallback', 'portal-note-not-published');
    const tasks = await eventually(
      async () => {
        const { rows } = await stack.pool.query<{ reason: string; priority: string }>(
          `SELECT reason, priority FROM call_task WHERE workflow_id = $1`,
          [accepted.workflowId],
        );
        return rows.length > 0 ? rows : undefined;
      },
      30_000,
      'the call task for an unreachable patient',
    );
    assert.deepEqual(tasks, [{ reason: 'no-reachable-channel', priority: 'normal' }]);
    await settle(1_000);
    const noted = stack.fakes.athena.control
      .patientNotes()
      .some((n) => n.patientId === unconsented.id && n.labResultId === 'E2E-NRM-HL7');
    assert.equal(noted, false, 'no note was written on a guessed athena document');
    assert.equal(smsTo(stack, unconsented).length, 0);
    assert.equal(
      (await statusOf(stack, accepted.workflowId)).patientNotifiedVersion,
      undefined,
      'the status does not claim the patient was told',
    );
    assert.equal(pagesAbout(stack, accepted.workflowId).length, 0, 'no administrator page for a standing limitation');
  });

  it('keeps the audit chain intact, with no PHI in it', async () => {
    await assertAuditFreeOfPhi(stack, [
      ...phiOf(consented, 'normal'),
      ...phiOf(unconsented, 'normal'),
      consented.firstName,
      unconsented.firstName,
    ]);
    await assertAuditChainIntact(stack);
  });
});
