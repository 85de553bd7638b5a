import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from '../../workflows/commands';
import { newVersion, normalResult, testPolicy } from './support/fixtures';
import { Simulator, type Outcome } from './support/simulator';

/**
 * The decision core's side of stopping an in-flight send (the shell's side, cancelling the
 * activity's scope, is in in-flight-cancel.test.ts on the time-skipping server): the send moves to
 * `cancelling`, a `cancelSend` command goes out, and the attempt's own outcome decides the rest. An
 * attempt that had already reached the provider went out: the patient was told, and a person is
 * paged about the cancel. One that did not is cancelled for good.
 */

/** Tuesday 10:00 in New York: inside the practice's hours and the patient's messaging window. */
const TUESDAY_10AM = Date.parse('2026-03-03T15:00:00Z');

/** Complete every pending command except sends of `keep`, until only those are left. */
function settleAllBut(sim: Simulator, keep: Command['type']): void {
  for (let guard = 0; guard < 200; guard++) {
    const index = sim.pending.findIndex((p) => p.command.type !== keep);
    if (index < 0) return;
    sim.complete(index, 'ok');
  }
  throw new Error('commands kept coming');
}

function inFlightSms(outcome: Outcome) {
  const result = normalResult();
  const sim = new Simulator({
    result,
    policy: testPolicy(),
    startMs: TUESDAY_10AM,
    smsConsent: true,
    spruceSecure: false,
    prior: { lastVersion: 0 },
  });
  settleAllBut(sim, 'sendSms');
  assert.ok(sim.signOff('prov-1'), 'signed');
  settleAllBut(sim, 'sendSms');
  assert.equal(sim.pending.length, 1, 'the text is in flight');
  sim.receive(newVersion(result, { status: 'cancelled' }));
  const cancelSend = sim.issued.find((i) => i.command.type === 'cancelSend');
  assert.ok(cancelSend !== undefined, 'the core asks the shell to cancel the send');
  assert.equal(sim.model.deliveries.find((d) => d.channel === 'sms')?.state, 'cancelling');
  const index = sim.pending.findIndex((p) => p.command.type === 'sendSms');
  sim.complete(index, outcome);
  settleAllBut(sim, 'sendSms');
  const audits = sim.issued.flatMap((i) => (i.command.type === 'audit' ? [i.command.event] : []));
  return { sim, outcomes: audits.map((a) => a.outcome), actions: audits.map((a) => a.action) };
}

describe('cancelling an in-flight send (decision core)', () => {
  it('the attempt under way had landed: it counts as sent, audited, and a person is told of the cancel', () => {
    const { sim, outcomes } = inFlightSms('ok');
    const sms = sim.model.deliveries.find((d) => d.channel === 'sms');
    assert.equal(sms?.state, 'accepted');
    assert.ok(outcomes.includes('in-flight-send-cancelled-result-cancelled'));
    assert.ok(outcomes.includes('sent-before-cancel-took-effect'));
    assert.equal(sim.model.patientToldVersion, 1);
    assert.ok(sim.model.pages.some((p) => p.reason === 'result-cancelled'));
    assert.deepEqual(sim.violations, []);
  });

  it('the attempt failed (or was cancelled before it ran): the text is cancelled for good', () => {
    const { sim, outcomes, actions } = inFlightSms('outage');
    const sms = sim.model.deliveries.find((d) => d.channel === 'sms');
    assert.deepEqual([sms?.state, sms?.failure], ['cancelled', 'cancelled']);
    assert.ok(!outcomes.includes('sent-before-cancel-took-effect'));
    assert.ok(!actions.includes('fallback'), 'not a channel fallback');
    assert.equal(sim.model.closed, true);
  });
});
