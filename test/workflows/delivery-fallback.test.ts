import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActivityErrorType } from '../../activities/error-types';
import { deliveryStatusSignal } from '../../workflows/definitions';
import { permanent, retryable } from './support/fake-world';
import { nextLocal, normalResult } from './support/fixtures';
import { workflowHarnessForSuite, type Scenario } from './support/harness';

const MINUTE = 60_000;

/**
 * Delivery retries and the fallback. Time does not skip while an activity runs, so the fake SMS
 * activity fails retryably until the server's clock (the attempt's scheduled time) passes the end of
 * the simulated outage: the retry backoff timers are what move time.
 */

/** Twilio is down from the first attempt until `minutes` later. */
function outage(s: Scenario, minutes: number): void {
  let start: number | undefined;
  s.world.faults.sendGenericSms = ({ at }) => {
    start ??= at;
    if (at < start + minutes * MINUTE) throw retryable('twilio unavailable');
  };
}

describe('delivery retries and fallback (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('a 29-minute SMS outage ends in normal delivery: one SMS, no fallback', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      outage(s, 29);
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.advance(35 * MINUTE);
      const done = await s.untilNotified(handle);
      const attempts = s.world.callsOf('sendGenericSms');
      const first = attempts[0].at;
      const delivered = s.world.sms()[0];
      assert.equal(s.world.sms().length, 1);
      assert.ok(
        delivered.at - first >= 29 * MINUTE && delivered.at - first < 29.5 * MINUTE + 5_000,
        'delivered right after the outage',
      );
      assert.ok(attempts.length > 20, `retried (${attempts.length} attempts)`);
      assert.equal(s.world.pages().length, 0, 'no administrator page');
      assert.equal(done.deliveries.find((d) => d.channel === 'sms')?.status, 'queued');
    });
  });

  it('a 31-minute SMS outage ends in the portal-only fallback and an administrator page', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      outage(s, 31);
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.advance(35 * MINUTE);
      const v = await s.untilStatus(handle, 'fallback', (x) => x.state === 'fallback');
      await s.eventually('administrator page', () => s.world.pages().length === 1);
      const first = s.world.callsOf('sendGenericSms')[0].at;
      const [adminPage] = s.world.pages();
      assert.deepEqual([adminPage.input.staffId, adminPage.input.reason], ['admin-1', 'channel-fallback']);
      const after = adminPage.at - first;
      assert.ok(after >= 29.5 * MINUTE && after <= 31 * MINUTE, `fell back ${after / MINUTE} minutes in`);
      assert.equal(s.world.sms().length, 0);
      assert.equal(s.world.portal().length, 1, 'the portal note stands');
      assert.equal(v.deliveries.find((d) => d.channel === 'sms')?.errorCode, 'ProviderUnavailable');
      await s.quiesce(150);
      assert.ok(s.world.auditsOf('fallback').some((a) => a.outcome === 'sms-outage'));
      assert.equal((await s.status(handle)).state, 'fallback');
    });
  });

  it('a permanent refusal (invalid number) falls back at once without retrying', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      s.world.faults.sendGenericSms = () => {
        throw permanent(ActivityErrorType.SMS_PERMANENT, '21211 invalid number');
      };
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.untilStatus(handle, 'fallback', (x) => x.state === 'fallback');
      await s.eventually('administrator page', () => s.world.pages().length === 1);
      assert.equal(s.world.callsOf('sendGenericSms').length, 1, 'not retried');
      assert.ok(s.world.pages()[0].at - s.world.callsOf('sendGenericSms')[0].at < 5_000);
    });
  });

  it('consent revoked before the send: portal only, quietly (no administrator page)', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      s.world.faults.sendGenericSms = () => {
        throw permanent(ActivityErrorType.SMS_CONSENT_MISSING, 'revoked');
      };
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.untilNotified(handle);
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 0);
      assert.ok(s.world.auditsOf('fallback').some((a) => a.outcome === 'portal-only-no-consent'));
    });
  });

  it('a delivery report that arrives before the send activity returns is kept and applied', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handleRef = await s.start({ result: normalResult() });
      s.world.faults.sendGenericSms = async () => {
        // Twilio's callback beats the API response: the API signals before our activity returns.
        const sid = s.world.peekNextId('SM');
        await handleRef.signal(deliveryStatusSignal, {
          channel: 'sms',
          providerMessageId: sid,
          status: 'delivered',
          at: await s.nowIso(),
        });
        await s.eventually(
          'status buffered',
          async () => (await s.status(handleRef)).state === 'notifying' || undefined,
        );
      };
      await s.signOff(handleRef);
      const v = await s.untilStatus(handleRef, 'delivered', (x) =>
        x.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered'),
      );
      assert.equal(v.state, 'notified');
    });
  });

  it('"undelivered" after acceptance falls back and pages the administrator', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      const v = await s.untilNotified(handle);
      const sid = v.deliveries.find((d) => d.channel === 'sms')!.providerMessageId!;
      await handle.signal(deliveryStatusSignal, {
        channel: 'sms',
        providerMessageId: sid,
        status: 'undelivered',
        errorCode: '30003',
        at: await s.nowIso(),
      });
      await s.untilStatus(handle, 'fallback', (x) => x.state === 'fallback');
      await s.eventually('administrator page', () => s.world.pages().length === 1);
      // A late "sent" never overwrites the final status.
      await handle.signal(deliveryStatusSignal, {
        channel: 'sms',
        providerMessageId: sid,
        status: 'sent',
        at: await s.nowIso(),
      });
      const after = await s.status(handle);
      assert.equal(after.deliveries.find((d) => d.channel === 'sms')?.status, 'undelivered');
    });
  });

  it('an outage that runs into quiet hours stops at 21:00 and resumes at 08:00 with what is left of the window', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const evening = nextLocal(await s.nowMs(), 3, '20:50');
      await s.advanceTo(evening.toMillis());
      outage(s, 40);
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.advance(15 * MINUTE);
      await s.untilStatus(handle, 'held for the morning', (v) =>
        v.deliveries.some((d) => d.channel === 'sms' && d.status === 'held'),
      );
      const nine = evening.set({ hour: 21, minute: 0 }).toMillis();
      assert.ok(
        s.world.callsOf('sendGenericSms').every((c) => c.at < nine),
        'no attempt starts after 21:00',
      );
      const morning = evening.plus({ days: 1 }).set({ hour: 8, minute: 0 });
      await s.advanceTo(morning.toMillis() + MINUTE);
      await s.eventually('the morning SMS', () => s.world.sms().length === 1);
      const sent = s.world.sms()[0];
      assert.ok(sent.at >= morning.toMillis() && sent.at < morning.toMillis() + 5_000, 'sent at 08:00');
      assert.equal(s.world.pages().length, 0, 'ten minutes of outage is not a fallback');
      await s.quiesce(150);
      assert.ok(s.world.auditsOf('hold').some((a) => a.outcome === 'retry-after-quiet-hours'));
    });
  });
});
