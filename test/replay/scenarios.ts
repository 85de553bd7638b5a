import { callCompletedSignal, consentChangedSignal, deliveryStatusSignal } from '../../workflows/definitions';
import { retryable } from '../workflows/support/fake-world';
import { abnormalResult, criticalResult, newVersion, nextLocal, normalResult } from '../workflows/support/fixtures';
import type { LabHandle, Scenario } from '../workflows/support/harness';
import type { WorldOptions } from '../workflows/support/fake-world';

/**
 * One scenario per path of the workflow, recorded into test/replay/histories/ by
 * scripts/record-histories.ts and replayed by replay.test.ts. Each drives the workflow on the
 * time-skipping server to a quiet point and returns the handle whose history is kept.
 */
export interface RecordedScenario {
  name: string;
  world: WorldOptions;
  run(s: Scenario): Promise<LabHandle>;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export const SCENARIOS: RecordedScenario[] = [
  {
    name: 'normal-sms-and-portal',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle, 'prov-1', 'All normal.');
      await s.untilNotified(handle);
      const sid = (await s.status(handle)).deliveries.find((d) => d.channel === 'sms')!.providerMessageId!;
      await handle.signal(deliveryStatusSignal, {
        channel: 'sms',
        providerMessageId: sid,
        status: 'delivered',
        at: await s.nowIso(),
      });
      return handle;
    },
  },
  {
    name: 'normal-quiet-hours-hold',
    world: { smsConsent: true },
    async run(s) {
      const evening = nextLocal(await s.nowMs(), 3, '22:10');
      await s.advanceTo(evening.toMillis());
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.untilStatus(handle, 'held', (v) => v.deliveries.some((d) => d.status === 'held'));
      await s.advanceTo(evening.plus({ hours: 10 }).toMillis());
      await s.eventually('morning text', () => s.world.sms().length === 1);
      return handle;
    },
  },
  {
    name: 'normal-consent-invitation',
    world: { smsConsent: false },
    async run(s) {
      await s.advanceToNext(4, '11:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.eventually('invitation', () => s.world.sms().length === 1);
      s.world.smsConsent = true;
      await handle.signal(consentChangedSignal, { smsConsent: true, source: 'invitation', at: await s.nowIso() });
      await s.eventually('results text', () => s.world.sms().length === 2);
      return handle;
    },
  },
  {
    name: 'abnormal-spruce-read',
    world: { smsConsent: true, spruceSecure: true },
    async run(s) {
      await s.advanceToNext(2, '09:30');
      const handle = await s.start({ result: abnormalResult() });
      await s.signOff(handle, 'prov-1', 'Please book a follow-up.');
      const v = await s.untilNotified(handle);
      const ref = v.deliveries.find((d) => d.channel === 'spruce')!.providerMessageId!;
      await handle.signal(deliveryStatusSignal, {
        channel: 'spruce',
        providerMessageId: ref,
        status: 'read',
        at: await s.nowIso(),
      });
      await s.advance(2 * DAY);
      return handle;
    },
  },
  {
    name: 'abnormal-no-spruce-unread-call',
    world: { smsConsent: true, spruceSecure: false },
    async run(s) {
      await s.advanceToNext(2, '09:30');
      const handle = await s.start({ result: abnormalResult() });
      await s.signOff(handle);
      await s.untilNotified(handle);
      await s.advance(DAY + MINUTE);
      await s.eventually('call task', () => s.world.callTasks().length === 1);
      const task = await s.untilStatus(handle, 'task open', (x) => x.callTasks?.[0]?.status === 'open');
      await handle.signal(callCompletedSignal, {
        taskId: task.callTasks![0].taskId!,
        staffId: 'staff-1',
        outcome: 'reached',
        at: await s.nowIso(),
      });
      await s.untilStatus(handle, 'task completed', (x) => x.callTasks?.[0]?.status === 'completed');
      return handle;
    },
  },
  {
    name: 'critical-page-call-escalation',
    world: { smsConsent: true },
    async run(s) {
      const handle = await s.start({ result: criticalResult() });
      const open = await s.untilStatus(handle, 'call task', (v) => v.callTasks?.[0]?.status === 'open');
      await s.advance(31 * MINUTE);
      await s.eventually('administrator page', () => s.world.pages().length === 2);
      await s.signOff(handle, 'prov-oncall');
      await handle.signal(callCompletedSignal, {
        taskId: open.callTasks![0].taskId!,
        staffId: 'staff-1',
        outcome: 'reached',
        at: await s.nowIso(),
      });
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'escalation-ladder-then-sign',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.advance(8 * 60 * MINUTE);
      await s.eventually('ladder', () => s.world.pages().length === 3);
      await s.signOff(handle, 'prov-2');
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'sms-outage-fallback',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      let start: number | undefined;
      s.world.faults.sendGenericSms = ({ at }) => {
        start ??= at;
        if (at < start + 31 * MINUTE) throw retryable('twilio unavailable');
      };
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.advance(35 * MINUTE);
      await s.untilStatus(handle, 'fallback', (v) => v.state === 'fallback');
      await s.eventually('administrator page', () => s.world.pages().length === 1);
      return handle;
    },
  },
  {
    name: 'correction-updated-result',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.untilNotified(handle);
      await s.receive(
        handle,
        newVersion(v1, { status: 'corrected', observations: [{ ...v1.observations[0], value: '119.8' }] }),
      );
      await s.untilStatus(handle, 're-gated', (v) => v.version === 2 && v.slaDeadline !== undefined);
      await s.signOff(handle, 'prov-2');
      await s.eventually('updated text', () => s.world.sms().length === 2);
      return handle;
    },
  },
  {
    name: 'cancel-after-notify',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.untilNotified(handle);
      await s.receive(handle, newVersion(v1, { status: 'cancelled' }));
      await handle.result();
      return handle;
    },
  },
  {
    name: 'correction-window-closes',
    world: { smsConsent: false },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult({ signedOff: { providerId: 'prov-1' } }) });
      await s.untilNotified(handle);
      await handle.result();
      return handle;
    },
  },
];
