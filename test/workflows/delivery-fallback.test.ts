import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { ActivityErrorType } from '../../domain/activity-error-types';
import { deliveryStatusSignal } from '../../workflows/definitions';
import type { LabloopActivities } from '../../domain/activity-contract';
import { permanent, retryable } from './support/fake-world';
import { abnormalResult, nextLocal, normalResult, testPolicy } from './support/fixtures';
import { assertNoPhiAnywhere, searchAttributes } from './support/assertions';
import { workflowHarnessForSuite, type LabHandle, type Scenario } from './support/harness';

const MINUTE = 60_000;

/**
 * Delivery retries and the fallback. Time does not skip while an activity runs, so the fake SMS
 * activity fails retryably until the server's clock (the attempt's scheduled time) passes the end of
 * the simulated outage: the retry backoff timers are what move time.
 */

/** Twilio (or another channel's activity) is down from the first attempt until `minutes` later. */
function outage(s: Scenario, minutes: number, activity: keyof LabloopActivities = 'sendGenericSms'): void {
  let start: number | undefined;
  s.world.faults[activity] = ({ at }) => {
    start ??= at;
    if (at < start + minutes * MINUTE) throw retryable('provider unavailable');
  };
}

/** A Twilio status callback for the result text, as the API signals it. */
async function smsReport(
  s: Scenario,
  handle: LabHandle,
  sid: string,
  report: { errorCode: string; errorClass: 'transient' | 'permanent'; errorType?: string },
): Promise<void> {
  await handle.signal(deliveryStatusSignal, {
    channel: 'sms',
    providerMessageId: sid,
    status: 'undelivered',
    ...report,
    at: await s.nowIso(),
  });
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
      await s.eventually(
        'the fallback search attribute',
        async () => (await searchAttributes(handle)).state === 'fallback',
      );
    });
  });

  for (const [label, type] of [
    ['invalid number', ActivityErrorType.SMS_INVALID_NUMBER],
    ['carrier-blocked', ActivityErrorType.SMS_BLOCKED],
    ['unlisted refusal', ActivityErrorType.SMS_PERMANENT],
  ] as const) {
    it(`a permanent refusal (${label}) falls back at once without retrying, and pages the administrator`, async () => {
      await h.scenario({ smsConsent: true }, async (s) => {
        await s.advanceToNext(2, '10:00');
        s.world.faults.sendGenericSms = () => {
          throw permanent(type, 'refused');
        };
        const handle = await s.start({ result: normalResult() });
        await s.signOff(handle);
        await s.untilStatus(handle, 'fallback', (x) => x.state === 'fallback');
        await s.eventually('administrator page', () => s.world.pages().length === 1);
        assert.equal(s.world.callsOf('sendGenericSms').length, 1, 'not retried');
        assert.ok(s.world.pages()[0].at - s.world.callsOf('sendGenericSms')[0].at < 5_000);
        assert.deepEqual(
          [s.world.pages()[0].input.staffId, s.world.pages()[0].input.reason],
          ['admin-1', 'channel-fallback'],
        );
        assert.equal(s.world.portal().length, 1, 'the portal note stands');
      });
    });
  }

  it('opted out at the carrier (21610): consent revoked for this result, portal only, nobody paged', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      s.world.faults.sendGenericSms = () => {
        throw permanent(ActivityErrorType.SMS_OPTED_OUT, '21610 opted out');
      };
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      const v = await s.untilNotified(handle);
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 0, "an opt-out is the patient's choice, not a channel failure");
      assert.equal(s.world.portal().length, 1);
      assert.equal(s.world.callsOf('sendGenericSms').length, 1);
      const [fallback] = s.world.auditsOf('fallback');
      assert.deepEqual([fallback?.outcome, fallback?.details?.reason], ['portal-only-opted-out', 'consent']);
      assert.equal(v.deliveries.find((d) => d.channel === 'sms')?.errorCode, ActivityErrorType.SMS_OPTED_OUT);
    });
  });

  it('a burst: an SMS waiting 35 minutes in the rate-limited queue with no failure is delivered, not a fallback', async () => {
    await h.scenario({ smsConsent: true, holdSmsQueue: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.untilStatus(handle, 'the text queued', (v) =>
        v.deliveries.some((d) => d.channel === 'sms' && d.status === 'pending'),
      );
      await s.advance(35 * MINUTE);
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 0, 'queue wait is not an outage');
      assert.equal((await s.status(handle)).state, 'notifying');
      await s.releaseSmsQueue();
      await s.untilNotified(handle);
      assert.equal(s.world.sms().length, 1);
      assert.equal(s.world.callsOf('sendGenericSms').length, 1, 'one attempt, after its turn in the queue');
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 0);
      assert.equal(s.world.auditsOf('fallback').length, 0);
    });
  });

  for (const [minutes, fallsBack] of [
    [29, false],
    [31, true],
  ] as const) {
    it(`a ${minutes}-minute Spruce outage (abnormal result) ends in ${fallsBack ? 'the fallback: administrator page and a call task' : 'the secure thread'}`, async () => {
      await h.scenario({ smsConsent: true, spruceSecure: true }, async (s) => {
        await s.advanceToNext(2, '10:00');
        outage(s, minutes, 'sendSpruceResult');
        const result = abnormalResult();
        const handle = await s.start({ result });
        await s.signOff(handle);
        await s.advance(35 * MINUTE);
        const adminPages = () => s.world.pages().filter((p) => p.input.staffId === 'admin-1');
        const first = s.world.callsOf('sendSpruceResult')[0].at;
        if (!fallsBack) {
          await s.untilNotified(handle);
          assert.equal(s.world.spruce().length, 1);
          assert.ok(s.world.spruce()[0].at - first >= 29 * MINUTE, 'delivered after the outage');
          await s.quiesce(150);
          assert.equal(adminPages().length, 0);
          assert.equal(s.world.callTasks().length, 0);
          return;
        }
        await s.untilStatus(handle, 'fallback', (v) => v.state === 'fallback');
        await s.eventually(
          'administrator page and call task',
          () => adminPages().length === 1 && s.world.callTasks().length === 1,
        );
        const after = adminPages()[0].at - first;
        assert.ok(after >= 29.5 * MINUTE && after <= 31 * MINUTE, `fell back ${after / MINUTE} minutes in`);
        assert.equal(s.world.spruce().length, 0);
        assert.equal(s.world.portal().length, 1, 'the portal note stands');
        assert.deepEqual(
          [s.world.callTasks()[0].input.reason, s.world.callTasks()[0].input.step],
          ['channel-fallback', 'call-fallback-spruce'],
        );
        await s.quiesce(150);
        assert.ok(s.world.auditsOf('fallback').some((a) => a.outcome === 'spruce-outage'));
        assert.ok(s.world.auditsOf('routing-decision').some((a) => a.outcome === 'spruce-and-portal'));
        await assertNoPhiAnywhere(s.world, handle, result);
      });
    });

    it(`a ${minutes}-minute athena outage for the portal note ends in ${fallsBack ? 'the fallback: administrator page and a call task' : 'the published note'}`, async () => {
      await h.scenario({ smsConsent: false }, async (s) => {
        await s.advanceToNext(2, '10:00');
        outage(s, minutes, 'postPortalNote');
        const handle = await s.start({ result: normalResult() });
        await s.signOff(handle);
        await s.advance(35 * MINUTE);
        const adminPages = () => s.world.pages().filter((p) => p.input.staffId === 'admin-1');
        const first = s.world.callsOf('postPortalNote')[0].at;
        if (!fallsBack) {
          await s.untilNotified(handle);
          assert.equal(s.world.portal().length, 1);
          assert.ok(s.world.portal()[0].at - first >= 29 * MINUTE);
          await s.quiesce(150);
          assert.equal(adminPages().length, 0);
          assert.equal(s.world.callTasks().length, 0);
          return;
        }
        await s.untilStatus(handle, 'fallback', (v) => v.state === 'fallback');
        await s.eventually(
          'administrator page and call task',
          () => adminPages().length === 1 && s.world.callTasks().length === 1,
        );
        const after = adminPages()[0].at - first;
        assert.ok(after >= 29.5 * MINUTE && after <= 31 * MINUTE, `fell back ${after / MINUTE} minutes in`);
        assert.equal(s.world.portal().length, 0);
        assert.deepEqual(
          [s.world.callTasks()[0].input.reason, s.world.callTasks()[0].input.step],
          ['channel-fallback', 'call-fallback-portal'],
        );
        await s.quiesce(150);
        assert.ok(s.world.auditsOf('fallback').some((a) => a.outcome === 'portal-outage'));
      });
    });
  }

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

  it('"undelivered" with a permanent code after acceptance falls back and pages the administrator', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      const v = await s.untilNotified(handle);
      const sid = v.deliveries.find((d) => d.channel === 'sms')!.providerMessageId!;
      await smsReport(s, handle, sid, {
        errorCode: '30005',
        errorClass: 'permanent',
        errorType: ActivityErrorType.SMS_INVALID_NUMBER,
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

  it('"undelivered" with a transient code (30003) is never sent again: the fallback, the portal note stands', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      const v = await s.untilNotified(handle);
      const sid = v.deliveries.find((d) => d.channel === 'sms')!.providerMessageId!;
      await smsReport(s, handle, sid, { errorCode: '30003', errorClass: 'transient' });
      const fallen = await s.untilStatus(handle, 'fallback', (x) => x.state === 'fallback');
      assert.deepEqual(
        fallen.deliveries.filter((d) => d.channel === 'sms').map((d) => [d.step, d.status]),
        [['v1:sms-results-ready', 'undelivered']],
        'no second text is planned',
      );
      assert.ok(
        fallen.deliveries.some((d) => d.channel === 'portal' && d.status !== 'failed'),
        'the portal note stands',
      );
      await s.eventually('administrator page', () => s.world.pages().length === 1);
      assert.deepEqual(
        [s.world.pages()[0].input.staffId, s.world.pages()[0].input.reason],
        ['admin-1', 'channel-fallback'],
      );
      // Hours pass, the handset comes back: still one text for this version, ever.
      await s.advance(6 * 60 * MINUTE);
      await s.quiesce(150);
      assert.equal(s.world.sms().length, 1, 'one text for the version');
      assert.equal(s.world.callsOf('sendGenericSms').length, 1, 'not even an attempt at a second');
      const status = s.world.auditsOf('delivery-status').find((a) => a.outcome === 'undelivered');
      assert.deepEqual([status?.details?.errorCode, status?.details?.errorClass], ['30003', 'transient']);
      const fallback = s.world.auditsOf('fallback').find((a) => a.outcome === 'sms-undelivered');
      assert.deepEqual([fallback?.details?.errorType, fallback?.details?.errorClass], ['30003', 'transient']);
    });
  });

  it('"undelivered" because the number opted out (21610): a consent revocation, not a fallback', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      const v = await s.untilNotified(handle);
      const sid = v.deliveries.find((d) => d.channel === 'sms')!.providerMessageId!;
      await smsReport(s, handle, sid, {
        errorCode: '21610',
        errorClass: 'permanent',
        errorType: ActivityErrorType.SMS_OPTED_OUT,
      });
      await s.eventually('the consent fallback audit', () =>
        s.world
          .auditsOf('fallback')
          .some((a) => a.outcome === 'portal-only-opted-out' && a.details?.reason === 'consent'),
      );
      await s.advance(60 * MINUTE);
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 0);
      assert.equal(s.world.sms().length, 1, 'never re-sent');
      assert.equal((await s.status(handle)).state, 'notified');
    });
  });

  it('a portal note athena does not publish, and no other channel: a staff call, no administrator page', async () => {
    await h.scenario({ smsConsent: false }, async (s) => {
      await s.advanceToNext(2, '10:00');
      s.world.portalPublished = false;
      const handle = await s.start({ result: normalResult(), policy: testPolicy({ smsConsentInvitation: false }) });
      await s.signOff(handle);
      await s.eventually('the call task', () => s.world.callTasks().length === 1);
      assert.deepEqual(
        [s.world.callTasks()[0].input.reason, s.world.callTasks()[0].input.step],
        ['no-reachable-channel', 'call-no-reachable'],
      );
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 0);
      assert.ok(s.world.auditsOf('fallback').some((a) => a.outcome === 'portal-note-not-published'));
      assert.equal((await s.status(handle)).patientNotifiedVersion, undefined, 'a note nobody sees told nobody');
    });
  });

  it("athena still not publishing when the activity's window ends (PortalNotYetPublished) is 'not published': the text tells the patient", async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      s.world.faults.postPortalNote = () => {
        throw ApplicationFailure.retryable('not yet published', ActivityErrorType.PORTAL_NOT_YET_PUBLISHED);
      };
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.eventually('the text', () => s.world.sms().length === 1);
      await s.advance(35 * MINUTE);
      await s.eventually('the not-published audit', () =>
        s.world.auditsOf('fallback').some((a) => a.outcome === 'portal-note-not-published'),
      );
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 0, 'the text reached the patient: not an outage');
      assert.equal(s.world.callTasks().length, 0);
      const v = await s.status(handle);
      assert.equal(v.deliveries.find((d) => d.channel === 'portal')?.errorCode, 'PortalNotPublished');
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
