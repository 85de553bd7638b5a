import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeOptionalSinglePayload } from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/data-converter-helpers';
import type { temporal } from '@temporalio/proto';
import { DEFAULT_CRITICAL_CALL_REPEAT_MINUTES } from '../../domain/escalation';
import { callCompletedSignal } from '../../workflows/definitions';
import { testDataConverter } from '../support/temporal';
import { criticalResult, isoDate, nextLocal, normalResult, testPolicy } from './support/fixtures';
import { workflowHarnessForSuite, type LabHandle, type Scenario } from './support/harness';

/**
 * Issue 13 §4, escalation that never stops while unsigned: past the ladder's last rung the
 * administrator is paged again every business hour (DEFAULT_ESCALATION_REPEAT_MINUTES) and the
 * result stays overdue against the deadline it missed; an escalated critical call still open pages
 * the administrator again every DEFAULT_CRITICAL_CALL_REPEAT_MINUTES. Also what an on-call engineer
 * sees of a waiting run: the timer's summary, the current details and the status view's waitingOn.
 */

const MINUTE = 60_000;

/** The summaries of the run's timers, decoded (user metadata goes through the payload codec). */
async function timerSummaries(handle: LabHandle): Promise<string[]> {
  const converter = loadDataConverter(testDataConverter());
  const history = await handle.fetchHistory();
  const summaries: string[] = [];
  for (const event of history.events ?? []) {
    if (event.timerStartedEventAttributes == null) continue;
    const summary = await decodeOptionalSinglePayload<string>(converter, event.userMetadata?.summary);
    summaries.push(summary ?? '(none)');
  }
  return summaries;
}

/** The workflow's current details, as the Temporal UI reads them (the SDK's built-in metadata query). */
async function currentDetails(handle: LabHandle): Promise<string> {
  const metadata = await handle.query<temporal.api.sdk.v1.IWorkflowMetadata>('__temporal_workflow_metadata');
  return metadata.currentDetails ?? '';
}

async function settleAt(s: Scenario, instantMs: number): Promise<void> {
  await s.advanceTo(instantMs);
  await s.quiesce(150);
}

describe('escalation that never stops while unsigned (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('pages the administrator every business hour past the last rung, overdue in the queue, until a provider signs', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      let start = nextLocal(await s.nowMs(), 2, '10:00');
      const closed = testPolicy().calendar.closedDates;
      while (closed.includes(isoDate(start)) || closed.includes(isoDate(start.plus({ days: 1 }))))
        start = start.plus({ weeks: 1 });
      await s.advanceTo(start.toMillis());
      const handle = await s.start({ result: normalResult(), receivedAt: start.toUTC().toISO()! });
      const deadline = start.plus({ hours: 4 }).toUTC().toISO()!;
      const waiting = await s.untilStatus(handle, 'deadline', (v) => v.slaDeadline === deadline);

      // What the run waits for, as data, as the timer's summary and as its current details.
      assert.deepEqual(waiting.waitingOn[0], { kind: 'sign-off-escalation', until: deadline, ref: 'prov-1' });
      assert.ok(waiting.waitingOn.some((w) => w.kind === 'sign-off' && w.ref === 'gate-1'));
      await s.eventually('timer summary', async () =>
        (await timerSummaries(handle)).includes(`sign-off-escalation prov-1 at ${deadline}`),
      );
      const details = await currentDetails(handle);
      assert.match(details, new RegExp(`- sign-off-escalation prov-1 at ${deadline.replace(/\./g, '\\.')}`));
      assert.match(details, /- sign-off gate-1/);

      // The ladder (14:00, 15:00, 16:00), then the administrator again at 17:00 and, an hour of
      // opening time later each (the clinic opens at 08:00), the next day at 09:00 and 10:00.
      await settleAt(s, start.plus({ hours: 6, minutes: 1 }).toMillis());
      assert.equal(s.world.pages().length, 3);
      const overdue = await s.status(handle);
      const firstRepeat = start.set({ hour: 17, minute: 0 }).toUTC().toISO()!;
      assert.deepEqual(overdue.waitingOn[0], { kind: 'overdue-repeat', until: firstRepeat, ref: 'admin-1' });
      assert.equal(overdue.slaDeadline, deadline, 'overdue against the deadline it missed, not the next repeat');
      await s.eventually('timer summary of the repeat', async () =>
        (await timerSummaries(handle)).includes(`overdue-repeat admin-1 at ${firstRepeat}`),
      );
      await s.eventually(
        'review item overdue',
        () => s.world.reviewItems.get(handle.workflowId)?.slaDeadline === deadline,
      );

      await settleAt(s, start.plus({ days: 1, minutes: 1 }).toMillis());
      const pages = s.world.pages();
      assert.deepEqual(
        pages.map((p) => [p.input.step, p.input.staffId]),
        [
          ['escalation-1', 'prov-1'],
          ['escalation-2', 'prov-oncall'],
          ['escalation-3', 'admin-1'],
          ['escalation-4', 'admin-1'],
          ['escalation-5', 'admin-1'],
          ['escalation-6', 'admin-1'],
        ],
      );
      const at = (hour: number, days = 0) => start.plus({ days }).set({ hour, minute: 0 }).toMillis();
      for (const [page, due] of [
        [pages[3], at(17)],
        [pages[4], at(9, 1)],
        [pages[5], at(10, 1)],
      ] as const) {
        assert.ok(
          page.at - due >= 0 && page.at - due < 5_000,
          `${page.input.step} at ${new Date(page.at).toISOString()}`,
        );
      }
      assert.deepEqual(
        s.world.auditsOf('escalation').map((a) => a.outcome),
        ['level-1', 'level-2', 'level-3', 'overdue-repeat', 'overdue-repeat', 'overdue-repeat'],
      );
      assert.equal(s.world.sms().length + s.world.portal().length, 0, 'never released unsigned');

      await s.signOff(handle, 'prov-oncall');
      const notified = await s.untilNotified(handle);
      assert.ok(!notified.waitingOn.some((w) => w.kind === 'overdue-repeat' || w.kind === 'sign-off'));
      assert.equal(notified.waitingOn[0]?.kind, 'correction-window');
      await settleAt(s, start.plus({ days: 2 }).toMillis());
      assert.equal(s.world.pages().length, 6, 'signed: the repeats stop');
    });
  });

  it('pages the administrator again every 30 minutes while an escalated critical call stays open', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '23:40');
      const startedAt = await s.nowMs();
      const handle = await s.start({ result: criticalResult() });
      const open = await s.untilStatus(handle, 'call task open', (v) => v.callTasks?.[0]?.status === 'open');
      const taskId = open.callTasks![0].taskId!;
      assert.equal(open.waitingOn[0]?.kind, 'critical-call-escalation');
      assert.equal(open.waitingOn[0]?.ref, taskId);
      assert.ok(open.waitingOn.some((w) => w.kind === 'call-completion' && w.ref === taskId));

      await settleAt(s, startedAt + 31 * MINUTE);
      const describe = () =>
        s.world
          .pages()
          .map((p) => `${p.input.step}:${p.input.reason}`)
          .join(', ');
      assert.equal(s.world.pages().length, 2, describe());
      const escalated = await s.status(handle);
      const repeatAt = escalated.waitingOn.find((w) => w.kind === 'critical-call-repeat');
      assert.equal(repeatAt?.ref, taskId, JSON.stringify(escalated.waitingOn));
      const escalationPage = s.world.pages()[1];
      const gap = Date.parse(repeatAt.until!) - escalationPage.at;
      const interval = DEFAULT_CRITICAL_CALL_REPEAT_MINUTES * MINUTE;
      assert.ok(gap >= interval - 5_000 && gap < interval + 5_000, `repeats ${gap} ms after the escalation page`);

      await settleAt(s, startedAt + 91 * MINUTE);
      assert.deepEqual(
        s.world.pages().map((p) => [p.input.staffId, p.input.reason]),
        [
          ['prov-oncall', 'critical-result'],
          ['admin-1', 'call-overdue'],
          ['admin-1', 'call-overdue'],
          ['admin-1', 'call-overdue'],
        ],
        describe(),
      );
      assert.deepEqual(
        s.world
          .auditsOf('escalation')
          .map((a) => a.outcome)
          .filter((o) => o.startsWith('call-')),
        ['call-not-completed-in-time', 'call-still-open-repeat', 'call-still-open-repeat'],
      );

      await handle.signal(callCompletedSignal, {
        taskId,
        staffId: 'staff-1',
        outcome: 'reached',
        at: await s.nowIso(),
      });
      await s.untilStatus(handle, 'call done', (v) => v.callTasks?.[0]?.status === 'completed');
      await settleAt(s, startedAt + 4 * 60 * MINUTE);
      assert.equal(s.world.pages().length, 4, 'the call was completed: the repeats stop');
    });
  });
});
