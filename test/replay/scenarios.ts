import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ActivityErrorType } from '../../domain/activity-error-types';
import type { LabResult } from '../../domain/lab-result';
import type { labResultWorkflow } from '../../workflows/lab-result-workflow';
import {
  callCompletedSignal,
  consentChangedSignal,
  deliveryStatusSignal,
  labResultWorkflowId,
  patientReplySignal,
} from '../../workflows/definitions';
import { permanent, retryable } from '../workflows/support/fake-world';
import {
  abnormalResult,
  criticalResult,
  isoDate,
  messageId,
  newVersion,
  nextLocal,
  normalResult,
  testPolicy,
  withHolidays,
} from '../workflows/support/fixtures';
import type { LabHandle, Scenario } from '../workflows/support/harness';
import type { WorldOptions } from '../workflows/support/fake-world';

/**
 * One scenario per path of the workflow, recorded into test/replay/histories/<name>.json and
 * replayed by replay.test.ts, which also checks that the histories are exactly these scenarios.
 * Each drives the workflow on the time-skipping server to a quiet point and returns the handle
 * whose history is kept.
 *
 * Regenerate every history in one command (after a deliberate, versioned workflow change):
 *
 *   npx tsx scripts/record-histories.ts          # all scenarios; stale files are removed
 *   npx tsx scripts/record-histories.ts cancel   # only those whose name contains "cancel"
 *
 * A recording holds one workflow (every run of it, for a result that came back after its workflow
 * closed): workflow IDs, times and encrypted payloads differ from one recording to the next, the
 * paths they record do not.
 */
export interface RecordedScenario {
  name: string;
  world: WorldOptions;
  /** The workflow to record; a scenario over several runs of one workflow ID returns each run, the last one last. */
  run(s: Scenario): Promise<LabHandle | LabHandle[]>;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** Half a retry pause: a cancel then lands between two attempts (see in-flight-cancel.test.ts). */
const MID_BACKOFF_MS = 15_000;

/** `activity` fails retryably from its first attempt until `minutes` after it. */
function outage(
  s: Scenario,
  activity: 'sendGenericSms' | 'sendSpruceResult' | 'pageStaff' | 'createCallTask',
  minutes: number,
): void {
  let start: number | undefined;
  s.world.faults[activity] = ({ at }) => {
    start ??= at;
    if (at < start + minutes * MINUTE) throw retryable('provider unavailable');
  };
}

/** A normal result told to the patient, then its workflow closed by the correction window. */
async function firstRunToClose(s: Scenario): Promise<{ first: LabHandle; v1: LabResult; workflowId: string }> {
  await s.advanceToNext(2, '10:00');
  const v1 = normalResult();
  const workflowId = labResultWorkflowId('195900', randomBytes(12).toString('hex'));
  const started = await s.start({ result: v1, workflowId });
  await s.signOff(started);
  await s.untilNotified(started);
  await started.result();
  await s.quiesce(150);
  // The closed run, by its run ID: the workflow ID alone will name the next run.
  const { runId } = await started.describe();
  const first = s.env.client.workflow.getHandle<typeof labResultWorkflow>(workflowId, runId);
  await s.advanceToNext(3, '10:00');
  return { first, v1, workflowId };
}

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
      // Exactly 3 in v1; the code of v2 repeats the last rung at 17:00 (escalation-repeats-until-signed).
      await s.eventually('ladder', () => s.world.pages().length >= 3);
      await s.signOff(handle, 'prov-2');
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    // v2 (patch repeatEscalation): past the last rung, the administrator again every business hour.
    name: 'escalation-repeats-until-signed',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      // Tuesday 14:00, 15:00, 16:00 (the ladder), then 17:00 and Wednesday 09:00 and 10:00 (repeats).
      await s.advance(24 * 60 * MINUTE);
      await s.eventually('ladder and three repeats', () => s.world.pages().length === 6);
      await s.signOff(handle, 'prov-2');
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    // v2 (patch repeatEscalation): an escalated critical call still open pages the administrator again.
    name: 'critical-call-escalation-repeats',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '23:40');
      const handle = await s.start({ result: criticalResult() });
      const open = await s.untilStatus(handle, 'call task', (v) => v.callTasks?.[0]?.status === 'open');
      await s.advance(31 * MINUTE);
      await s.eventually('administrator page', () => s.world.pages().length === 2);
      await s.advance(61 * MINUTE);
      await s.eventually('two repeats', () => s.world.pages().length === 4);
      await handle.signal(callCompletedSignal, {
        taskId: open.callTasks![0].taskId!,
        staffId: 'staff-1',
        outcome: 'reached',
        at: await s.nowIso(),
      });
      await s.untilStatus(handle, 'call done', (v) => v.callTasks?.[0]?.status === 'completed');
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
  {
    name: 'sms-permanent-error-fallback',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      s.world.faults.sendGenericSms = () => {
        throw permanent(ActivityErrorType.SMS_INVALID_NUMBER, '21211 invalid number');
      };
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.untilStatus(handle, 'fallback', (v) => v.state === 'fallback');
      await s.eventually('administrator page', () => s.world.pages().length === 1);
      return handle;
    },
  },
  {
    name: 'sms-opted-out-at-carrier',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      s.world.faults.sendGenericSms = () => {
        throw permanent(ActivityErrorType.SMS_OPTED_OUT, '21610 opted out');
      };
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'normal-portal-only-invitation-off',
    world: { smsConsent: false },
    async run(s) {
      await s.advanceToNext(3, '11:00');
      const handle = await s.start({ result: normalResult(), policy: testPolicy({ smsConsentInvitation: false }) });
      await s.signOff(handle);
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'consent-invitation-already-sent',
    world: { smsConsent: false },
    async run(s) {
      await s.advanceToNext(3, '11:00');
      const result = normalResult();
      s.world.invitations.set(
        `195900:${result.patient.id}:${result.patient.mobilePhone}`,
        'earlier-workflow:v1:sms-consent-invitation',
      );
      const handle = await s.start({ result });
      await s.signOff(handle);
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'abnormal-spruce-no-account-secure-text',
    world: { smsConsent: true, spruceSecure: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      s.world.faults.sendSpruceResult = () => {
        throw permanent(ActivityErrorType.SPRUCE_NO_ACCOUNT, 'no account');
      };
      const handle = await s.start({ result: abnormalResult() });
      await s.signOff(handle);
      await s.eventually('the secure-message text', () => s.world.sms().length === 1);
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'abnormal-nobody-reachable-call-task',
    world: { smsConsent: false, spruceSecure: false },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({
        result: abnormalResult({ patient: { ...normalResult().patient, portalActive: false } }),
      });
      await s.signOff(handle);
      const v = await s.untilStatus(handle, 'call task', (x) => x.callTasks?.[0]?.status === 'open');
      await handle.signal(callCompletedSignal, {
        taskId: v.callTasks![0].taskId!,
        staffId: 'staff-1',
        outcome: 'reached',
        at: await s.nowIso(),
      });
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'sms-outage-into-quiet-hours',
    world: { smsConsent: true },
    async run(s) {
      const evening = nextLocal(await s.nowMs(), 3, '20:50');
      await s.advanceTo(evening.toMillis());
      outage(s, 'sendGenericSms', 40);
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.advance(15 * MINUTE);
      await s.untilStatus(handle, 'held for the morning', (v) =>
        v.deliveries.some((d) => d.channel === 'sms' && d.status === 'held'),
      );
      await s.advanceTo(evening.plus({ days: 1 }).set({ hour: 8, minute: 1 }).toMillis());
      await s.eventually('the morning text', () => s.world.sms().length === 1);
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'sms-backlog-no-fallback',
    world: { smsConsent: true, holdSmsQueue: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.untilStatus(handle, 'queued', (v) =>
        v.deliveries.some((d) => d.channel === 'sms' && d.status === 'pending'),
      );
      await s.advance(35 * MINUTE);
      await s.releaseSmsQueue();
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'sms-undelivered-transient-fallback',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      const v = await s.untilNotified(handle);
      await handle.signal(deliveryStatusSignal, {
        channel: 'sms',
        providerMessageId: v.deliveries.find((d) => d.channel === 'sms')!.providerMessageId!,
        status: 'undelivered',
        errorCode: '30003',
        errorClass: 'transient',
        at: await s.nowIso(),
      });
      await s.untilStatus(handle, 'fallback', (x) => x.state === 'fallback');
      await s.eventually('the administrator page', () => s.world.pages().length === 1);
      return handle;
    },
  },
  {
    name: 'portal-note-not-published',
    world: { smsConsent: false },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      s.world.portalPublished = false;
      const handle = await s.start({ result: normalResult(), policy: testPolicy({ smsConsentInvitation: false }) });
      await s.signOff(handle);
      await s.untilStatus(handle, 'call task', (v) => v.callTasks?.[0]?.status === 'open');
      return handle;
    },
  },
  {
    name: 'new-run-after-close-correction',
    world: { smsConsent: true },
    async run(s) {
      const { first, v1, workflowId } = await firstRunToClose(s);
      const corrected = newVersion(v1, {
        status: 'corrected',
        observations: [{ ...v1.observations[0], value: '95.5' }],
      });
      const second = await s.start({ result: corrected, workflowId });
      await s.untilStatus(second, 'the new run holds', (v) => v.state === 'awaiting-sign-off' && v.version === 2);
      await s.signOff(second);
      await s.untilNotified(second);
      return [first, second];
    },
  },
  {
    name: 'new-run-after-close-other-patient',
    world: { smsConsent: true },
    async run(s) {
      const { first, v1, workflowId } = await firstRunToClose(s);
      const other = newVersion(v1, { patient: { ...v1.patient, id: 'MRN-909', firstName: 'Morgan' } });
      const second = await s.start({ result: other, workflowId });
      await second.result();
      return [first, second];
    },
  },
  {
    name: 'stale-source-sign-off-on-correction',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult({ source: 'athena', signedOff: { providerId: 'prov-1' } });
      const handle = await s.start({ result: v1 });
      await s.untilNotified(handle);
      await s.receive(
        handle,
        newVersion(v1, {
          status: 'corrected',
          observations: [{ ...v1.observations[0], value: '152.4' }, v1.observations[1]],
          reportedAt: await s.nowIso(),
        }),
      );
      await s.untilStatus(handle, 'held', (v) => v.version === 2 && v.slaDeadline !== undefined);
      await s.signOff(handle);
      await s.untilStatus(handle, 'told again', (v) => v.state === 'notified' && v.patientNotifiedVersion === 2);
      return handle;
    },
  },
  {
    name: 'critical-slow-prior-runs-first-sight-page',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(3, '02:00');
      s.world.faults.findPriorRuns = async ({ attempt }) => {
        if (attempt > 1) return;
        const deadline = Date.now() + 8_000;
        while (Date.now() < deadline && s.world.pages().length === 0) await delay(25);
      };
      const handle = await s.start({ result: criticalResult() });
      await s.untilStatus(handle, 'call task open', (v) => v.callTasks?.[0]?.status === 'open');
      return handle;
    },
  },
  {
    name: 'phi-rewrite-to-spruce',
    world: { smsConsent: true, spruceSecure: true },
    async run(s) {
      await s.advanceToNext(2, '12:00');
      const handle = await s.start({
        result: normalResult({
          messageId: messageId(),
          patient: { ...normalResult().patient, firstName: 'Crystal' },
          observations: [{ code: '5767-9', name: 'Crystal', value: 'None seen', flag: 'N' }],
        }),
      });
      await s.signOff(handle);
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'stop-cancels-held-text',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(5, '21:30');
      const handle = await s.start({ result: normalResult() });
      await s.signOff(handle);
      await s.untilStatus(handle, 'held', (v) => v.deliveries.some((d) => d.status === 'held'));
      await handle.signal(patientReplySignal, { channel: 'sms', kind: 'stop', at: await s.nowIso() });
      await s.advance(12 * 60 * MINUTE);
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'weekend-holiday-escalation',
    world: { smsConsent: true },
    async run(s) {
      let friday = nextLocal(await s.nowMs(), 5, '16:30');
      const closed = new Set(testPolicy().calendar.closedDates);
      while (closed.has(isoDate(friday)) || closed.has(isoDate(friday.plus({ days: 4 }))))
        friday = friday.plus({ weeks: 1 });
      await s.advanceTo(friday.toMillis());
      // Monday is a holiday: the 1-business-hour SLA runs 16:30–17:00 Friday, then 08:00–08:30 Tuesday.
      const policy = withHolidays(testPolicy(), [isoDate(friday.plus({ days: 3 }))]);
      const handle = await s.start({ result: abnormalResult(), policy, receivedAt: friday.toUTC().toISO()! });
      await s.untilStatus(handle, 'deadline', (v) => v.slaDeadline !== undefined);
      await s.advanceTo(friday.plus({ days: 4 }).set({ hour: 8, minute: 31 }).toMillis());
      await s.eventually('the reminder', () => s.world.pages().some((p) => p.input.reason === 'sign-off-reminder'));
      await s.signOff(handle, 'prov-2');
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'signed-preliminary-then-final',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(1, '09:00');
      const prelim = normalResult({ status: 'preliminary' });
      const handle = await s.start({ result: prelim });
      await s.untilStatus(handle, 'awaiting final', (v) => v.state === 'awaiting-final');
      await s.signOff(handle);
      await s.advance(2 * 60 * MINUTE);
      await s.receive(handle, newVersion(prelim, { status: 'final' }));
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'patient-mismatch',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.untilStatus(handle, 'awaiting', (v) => v.slaDeadline !== undefined);
      await s.receive(handle, newVersion(v1, { status: 'corrected', patient: { ...v1.patient, id: 'MRN-777' } }));
      await s.untilStatus(handle, 'mismatch', (v) => v.patientMismatch !== undefined);
      await s.eventually('administrator page', () => s.world.pages().length === 1);
      await s.signOff(handle);
      await s.untilNotified(handle);
      return handle;
    },
  },
  {
    name: 'cancel-during-in-flight-send',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      outage(s, 'sendGenericSms', 10);
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.eventually('retrying', () => s.world.callsOf('sendGenericSms').length >= 2);
      await s.advance(3 * MINUTE + MID_BACKOFF_MS);
      await s.receive(handle, newVersion(v1, { status: 'cancelled' }));
      await handle.result();
      return handle;
    },
  },
  {
    name: 'correction-during-in-flight-send',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '10:00');
      outage(s, 'sendGenericSms', 10);
      const v1 = normalResult();
      const handle = await s.start({ result: v1 });
      await s.signOff(handle);
      await s.eventually('retrying', () => s.world.callsOf('sendGenericSms').length >= 2);
      await s.advance(2 * MINUTE + MID_BACKOFF_MS);
      await s.receive(handle, newVersion(v1, { status: 'corrected', observations: criticalResult().observations }));
      await s.untilStatus(handle, 'critical call', (v) => v.callTasks?.[0]?.status === 'open');
      return handle;
    },
  },
  {
    name: 'critical-spruce-down-sms-page',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '03:00');
      outage(s, 'pageStaff', 10);
      const handle = await s.start({ result: criticalResult() });
      await s.untilStatus(handle, 'call task', (v) => v.callTasks?.[0]?.status === 'open');
      await s.advance(2 * MINUTE + MID_BACKOFF_MS);
      await s.eventually('the SMS page', () => s.world.staffSmsPages().length === 1);
      await s.advance(10 * MINUTE);
      await s.eventually('the Spruce page at last', () => s.world.pages().length === 1);
      return handle;
    },
  },
  {
    name: 'critical-athena-down-call-not-created',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(2, '14:00');
      outage(s, 'createCallTask', 40);
      const handle = await s.start({ result: criticalResult() });
      await s.eventually('the on-call page', () => s.world.pages().length === 1);
      await s.advance(31 * MINUTE);
      await s.eventually('the administrator page', () => s.world.pages().length === 2);
      await s.advance(15 * MINUTE);
      await s.untilStatus(handle, 'call task open', (v) => v.callTasks?.[0]?.status === 'open');
      return handle;
    },
  },
  {
    name: 'critical-on-call-rota',
    world: { smsConsent: true },
    async run(s) {
      await s.advanceToNext(6, '10:00');
      const policy = testPolicy({
        onCallSchedule: [{ weekdays: [6, 7], start: '00:00', end: '00:00', staffId: 'prov-2' }],
      });
      const handle = await s.start({ result: criticalResult(), policy });
      const v = await s.untilStatus(handle, 'call task', (x) => x.callTasks?.[0]?.status === 'open');
      await handle.signal(callCompletedSignal, {
        taskId: v.callTasks![0].taskId!,
        staffId: 'prov-2',
        outcome: 'reached',
        at: await s.nowIso(),
      });
      await s.untilStatus(handle, 'completed', (x) => x.callTasks?.[0]?.status === 'completed');
      return handle;
    },
  },
];
