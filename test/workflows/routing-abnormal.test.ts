import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActivityErrorType } from '../../domain/activity-error-types';
import { deliveryStatusSignal } from '../../workflows/definitions';
import { permanent } from './support/fake-world';
import { abnormalResult, normalResult } from './support/fixtures';
import { workflowHarnessForSuite } from './support/harness';

const DAY_MS = 24 * 60 * 60_000;

/**
 * Routing table, abnormal row: Spruce thread (summary, provider note, PDF, scheduling link), the
 * ordering provider paged, portal note; without Spruce a generic "secure message" text where
 * consented, and a call task if nothing is read in time (at once when nothing reaches the patient).
 */
describe('abnormal results (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('Spruce: secure thread with the provider note and scheduling link, ordering provider paged, portal; read in time means no call', async () => {
    await h.scenario({ smsConsent: true, spruceSecure: true }, async (s) => {
      await s.advanceToNext(3, '09:15');
      const handle = await s.start({ result: abnormalResult() });
      await s.signOff(handle, 'prov-1', 'Please book a follow-up to discuss.');
      const v = await s.untilNotified(handle);
      const [thread] = s.world.spruce();
      assert.equal(thread?.input.providerNote, 'Please book a follow-up to discuss.');
      assert.equal(thread?.input.schedulingUrl, 'https://riverside.example.org/schedule');
      assert.equal(thread?.input.updated, false);
      assert.equal(s.world.portal().length, 1);
      assert.deepEqual(
        s.world.pages().map((p) => [p.input.staffId, p.input.reason]),
        [['prov-1', 'abnormal-result']],
      );
      assert.equal(s.world.sms().length, 0, 'the secure thread replaces the text');
      await s.quiesce(150);
      assert.deepEqual(
        s.world.auditsOf('routing-decision').map((a) => a.outcome),
        ['classified-abnormal', 'spruce-and-portal'],
      );

      const ref = v.deliveries.find((d) => d.channel === 'spruce')!.providerMessageId!;
      await handle.signal(deliveryStatusSignal, {
        channel: 'spruce',
        providerMessageId: ref,
        status: 'read',
        at: await s.nowIso(),
      });
      await s.untilStatus(handle, 'read', (x) =>
        x.deliveries.some((d) => d.channel === 'spruce' && d.status === 'read'),
      );
      await s.advance(2 * DAY_MS);
      await s.quiesce(150);
      assert.equal(s.world.callTasks().length, 0);
    });
  });

  it('Spruce thread unread after the configured time: an outbound-call task', async () => {
    await h.scenario({ smsConsent: true, spruceSecure: true }, async (s) => {
      const handle = await s.start({ result: abnormalResult() });
      await s.signOff(handle);
      const notified = await s.untilStatus(handle, 'the unread deadline', (v) => v.unreadCallDueAt !== undefined);
      const sentAt = s.world.spruce()[0].at;
      // The status query says when the call task comes if nobody reads the thread.
      const due = Date.parse(notified.unreadCallDueAt!);
      assert.ok(due - sentAt >= DAY_MS && due - sentAt < DAY_MS + 5_000, 'a day after the thread went');
      await s.advanceTo(sentAt + DAY_MS - 60_000);
      await s.quiesce(150);
      assert.equal(s.world.callTasks().length, 0);
      await s.advanceTo(sentAt + DAY_MS + 60_000);
      await s.eventually('the unread call task', () => s.world.callTasks().length === 1);
      assert.equal(s.world.callTasks()[0].input.reason, 'abnormal-unread');
      assert.equal((await s.status(handle)).unreadCallDueAt, undefined, 'due no more');
    });
  });

  it('no Spruce account, consented: generic "secure message" text and portal, then a call task if unread', async () => {
    await h.scenario({ smsConsent: true, spruceSecure: false }, async (s) => {
      await s.advanceToNext(4, '10:00');
      const handle = await s.start({ result: abnormalResult() });
      await s.signOff(handle);
      await s.untilNotified(handle);
      const [sms] = s.world.sms();
      assert.equal(sms?.input.template, 'secure-message-waiting');
      assert.equal(
        sms?.input.body,
        'Hi Dana, you have a secure message from Riverside Family Medicine. Check your patient portal. Reply HELP for help.',
      );
      assert.equal(s.world.spruce().length, 0);
      assert.equal(s.world.portal().length, 1);
      await s.advance(DAY_MS + 60_000);
      await s.eventually('the unread call task', () => s.world.callTasks().length === 1);
    });
  });

  it('no Spruce, no consent, no portal account: a call task at once', async () => {
    await h.scenario({ smsConsent: false, spruceSecure: false }, async (s) => {
      const result = abnormalResult({ patient: { ...normalResult().patient, portalActive: false } });
      const handle = await s.start({ result });
      await s.signOff(handle);
      await s.eventually('the call task', () => s.world.callTasks().length === 1);
      assert.equal(s.world.callTasks()[0].input.reason, 'no-reachable-channel');
      assert.equal(s.world.sms().length, 0);
    });
  });

  it('Spruce refuses the thread (no account after all): switches to the secure-message text', async () => {
    await h.scenario({ smsConsent: true, spruceSecure: true }, async (s) => {
      await s.advanceToNext(2, '10:00');
      s.world.faults.sendSpruceResult = () => {
        throw permanent(ActivityErrorType.SPRUCE_NO_ACCOUNT, 'no account');
      };
      const handle = await s.start({ result: abnormalResult() });
      await s.signOff(handle);
      await s.eventually('the fallback text', () => s.world.sms().length === 1);
      assert.equal(s.world.sms()[0].input.template, 'secure-message-waiting');
      await s.quiesce(150);
      assert.ok(s.world.auditsOf('routing-decision').some((a) => a.outcome === 'no-spruce-account'));
      assert.equal(s.world.pages().filter((p) => p.input.reason === 'channel-fallback').length, 0, 'not an outage');
    });
  });
});
