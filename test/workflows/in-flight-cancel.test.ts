import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryable } from './support/fake-world';
import { abnormalResult, criticalResult, newVersion, normalResult } from './support/fixtures';
import { workflowHarnessForSuite, type Scenario } from './support/harness';

const MINUTE = 60_000;

/**
 * A send already in flight (its activity retrying through an outage) is stopped by a cancel, a
 * correction or a correction to critical: its cancellation scope is cancelled, the server schedules
 * no further attempt, and when the outage ends nothing reaches the patient. The drop is audited.
 *
 * The cancels land between two attempts (after the first minute attempts come every 30 s, so
 * MID_BACKOFF_MS past a whole minute is mid-pause). A cancel that meets an attempt while it runs
 * is handled by the workflow too (the send waits in `cancelling` for that attempt's outcome, see
 * decide-cancel.test.ts), but the time-skipping test server stops skipping time after such an
 * attempt fails, which would stall the scenario rather than test anything.
 */
const MID_BACKOFF_MS = 15_000;

/** `activity` fails retryably from the first attempt until `minutes` after it. */
function outage(s: Scenario, activity: 'sendGenericSms' | 'sendSpruceResult', minutes: number): void {
  let start: number | undefined;
  s.world.faults[activity] = ({ at }) => {
    start ??= at;
    if (at < start + minutes * MINUTE) throw retryable('provider unavailable');
  };
}

function attemptsAfter(s: Scenario, activity: 'sendGenericSms' | 'sendSpruceResult', afterMs: number): number {
  return s.world.callsOf(activity).filter((c) => c.at > afterMs).length;
}

describe('in-flight sends are stopped by a cancel or a correction (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('cancel while the SMS retries through an outage: no text when the outage ends', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      outage(s, 'sendGenericSms', 10);
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.eventually('retrying', () => s.world.callsOf('sendGenericSms').length >= 2);
      await s.advance(5 * MINUTE + MID_BACKOFF_MS);
      const cancelAt = await s.nowMs();
      await s.receive(handle, newVersion(v1, { status: 'cancelled' }));
      const final = await handle.result();
      assert.equal(final.state, 'closed');
      await s.advance(40 * MINUTE);
      await s.quiesce(150);
      assert.equal(s.world.sms().length, 0, 'the text never went');
      assert.equal(attemptsAfter(s, 'sendGenericSms', cancelAt + 1_000), 0, 'no attempt after the cancel');
      assert.ok(s.world.auditsOf('hold').some((a) => a.outcome === 'in-flight-send-cancelled-result-cancelled'));
      assert.ok(final.deliveries.some((d) => d.channel === 'sms' && d.errorCode === 'cancelled'));
    });
  });

  it('a correction while the SMS retries: the old version never goes; the new one does after its sign-off', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      outage(s, 'sendGenericSms', 10);
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.eventually('retrying', () => s.world.callsOf('sendGenericSms').length >= 2);
      await s.advance(3 * MINUTE + MID_BACKOFF_MS);
      const correctedAt = await s.nowMs();
      await s.receive(
        handle,
        newVersion(v1, { status: 'corrected', observations: [{ ...v1.observations[0], value: '131.7' }] }),
      );
      await s.untilStatus(handle, 're-gated', (v) => v.version === 2 && !v.signed);
      await s.advance(20 * MINUTE);
      await s.quiesce(150);
      assert.equal(s.world.sms().length, 0, 'version 1 never went');
      assert.equal(attemptsAfter(s, 'sendGenericSms', correctedAt + 1_000), 0);
      assert.ok(s.world.auditsOf('hold').some((a) => a.outcome === 'in-flight-send-cancelled-superseded'));

      await s.signOff(handle, 'prov-2');
      await s.eventually('the version 2 text', () => s.world.sms().length === 1);
      assert.equal(s.world.sms()[0].input.resultVersion, 2);
    });
  });

  it('a correction to critical while the SMS retries: no text at all, a page and a call instead', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      outage(s, 'sendGenericSms', 10);
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.eventually('retrying', () => s.world.callsOf('sendGenericSms').length >= 2);
      await s.advance(2 * MINUTE + MID_BACKOFF_MS);
      const correctedAt = await s.nowMs();
      await s.receive(handle, newVersion(v1, { status: 'corrected', observations: criticalResult().observations }));
      await s.untilStatus(handle, 'critical call', (v) => v.state === 'critical-call');
      await s.signOff(handle, 'prov-oncall');
      await s.advance(30 * MINUTE);
      await s.quiesce(150);
      assert.equal(s.world.sms().length, 0, 'never a text once the result is critical');
      assert.equal(attemptsAfter(s, 'sendGenericSms', correctedAt + 1_000), 0);
      assert.ok(s.world.pages().some((p) => p.input.reason === 'critical-result'));
    });
  });

  it('cancel while the Spruce thread retries: no secure message when Spruce recovers', async () => {
    await h.scenario({ smsConsent: true, spruceSecure: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      outage(s, 'sendSpruceResult', 10);
      const v1 = abnormalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.eventually('retrying', () => s.world.callsOf('sendSpruceResult').length >= 2);
      await s.advance(4 * MINUTE + MID_BACKOFF_MS);
      const cancelAt = await s.nowMs();
      await s.receive(handle, newVersion(v1, { status: 'cancelled' }));
      await handle.result();
      await s.advance(30 * MINUTE);
      await s.quiesce(150);
      assert.equal(s.world.spruce().length, 0);
      assert.equal(attemptsAfter(s, 'sendSpruceResult', cancelAt + 1_000), 0);
      assert.ok(s.world.auditsOf('hold').some((a) => a.outcome === 'in-flight-send-cancelled-result-cancelled'));
    });
  });
});
