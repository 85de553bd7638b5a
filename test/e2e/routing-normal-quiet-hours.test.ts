import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  grantSmsConsent,
  outboxOf,
  seedAthenaPatient,
  settle,
  smsTo,
  statusOf,
  untilAudit,
  untilStatus,
  workflowIdOf,
} from '../fixtures/e2e/loop';
import { athenaLabResultSeed, PATIENTS } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * Routing table, row "normal, consented": the generic SMS goes only inside the patient's messaging
 * window, otherwise it is held; the portal note is not held. The practice's window is set to one
 * hour starting two whole hours from now (America/New_York, the patient's zone by ZIP and area
 * code), so "now" is outside it whatever time the test runs, and the hold's due time is known.
 */

const ZONE = 'America/New_York';

/** A one-hour window starting at the whole hour two to three hours from now, local to the patient. */
function windowAhead(now: DateTime): { start: string; end: string; opensAt: DateTime } {
  const opensAt = now.setZone(ZONE).plus({ hours: 2 }).startOf('hour');
  const closesAt = opensAt.plus({ hours: 1 });
  return { start: opensAt.toFormat('HH:mm'), end: closesAt.toFormat('HH:mm'), opensAt };
}

describe('routing, normal result outside the messaging window: the text is held, the portal note is not', () => {
  const who = PATIENTS.lateEvening;
  const window = windowAhead(DateTime.now());
  let stack: Stack;
  let workflowId: string;

  before(async () => {
    stack = await startTestStack({ policyOverrides: { patientQuietHours: { start: window.start, end: window.end } } });
    seedAthenaPatient(stack, who);
    await grantSmsConsent(stack, who);
  });
  after(async () => {
    await stack?.stop();
  });

  it('holds the SMS until the window opens and posts the portal note now', async () => {
    const labResultId = '880106';
    stack.fakes.athena.control.addLabResult(athenaLabResultSeed(who, 'normal', { labResultId, signed: true }));
    workflowId = workflowIdOf(stack, labResultId);

    const view = await untilStatus(
      stack,
      workflowId,
      'a held SMS and the portal note',
      (v) =>
        v.deliveries.some((d) => d.channel === 'sms' && d.status === 'held') &&
        v.deliveries.some((d) => d.channel === 'portal' && d.status !== 'pending'),
    );
    const sms = view.deliveries.find((d) => d.channel === 'sms');
    assert.equal(sms?.step, 'v1:sms-results-ready');
    assert.equal(
      Date.parse(sms?.dueAt ?? ''),
      window.opensAt.toMillis(),
      `due when the window opens (${window.start})`,
    );
    assert.equal(view.state, 'notifying', 'a held text is still owed');

    const hold = await untilAudit(stack, workflowId, 'hold', 'held-quiet-hours');
    assert.equal(Date.parse(String(hold.details.dueAt)), window.opensAt.toMillis());
    const note = await eventually(
      () => stack.fakes.athena.control.labResult(labResultId).patientNote,
      10_000,
      'the portal note',
    );
    assert.match(note, /have been reviewed by your provider/);

    // The hold is the decision; give a wrong send a moment to show up anyway.
    await settle(2_000);
    assert.equal(smsTo(stack, who).length, 0, 'nothing texted outside the window');
    assert.deepEqual(await outboxOf(stack, workflowId, 'sms'), [], 'no send intent either');
    const still = await statusOf(stack, workflowId);
    assert.equal(still.deliveries.find((d) => d.channel === 'sms')?.status, 'held');
  });

  it('keeps the audit chain intact', async () => {
    await assertAuditChainIntact(stack);
  });
});
