import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { callCompletedSignal } from '../../workflows/definitions';
import { assertNoPhiAnywhere } from './support/assertions';
import { criticalResult } from './support/fixtures';
import { workflowHarnessForSuite } from './support/harness';

/**
 * Routing table, critical row: page the on-call provider and create a call task at first sight,
 * before any sign-off; log the page time; page the administrator if the call is not done in 30
 * minutes; never an automated patient message, signed or not.
 */
describe('critical results (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('pages and creates a call task before sign-off; escalates to the administrator at +30 minutes; never texts', async () => {
    await h.scenario({ smsConsent: true, spruceSecure: true }, async (s) => {
      await s.advanceToNext(2, '23:40');
      const result = criticalResult();
      const startedAt = await s.nowMs();
      const handle = await s.start({ result });
      const calling = await s.untilStatus(
        handle,
        'call task open',
        (v) => v.state === 'critical-call' && v.callTasks?.[0]?.status === 'open',
      );
      const [pageCall] = s.world.pages();
      assert.deepEqual(
        [pageCall?.input.staffId, pageCall?.input.reason, pageCall?.input.urgency],
        ['prov-oncall', 'critical-result', 'high'],
      );
      assert.ok(pageCall.at - startedAt < 5_000, 'paged at once, in the middle of the night');
      const [task] = s.world.callTasks();
      assert.deepEqual(
        [task?.input.reason, task?.input.priority, task?.input.assignToStaffId],
        ['critical-result', 'urgent', 'prov-oncall'],
      );
      assert.equal(calling.criticalPagedAt, new Date(pageCall.at).toISOString(), 'the page time is logged');
      await s.eventually(
        'review item with the page time',
        () => s.world.reviewItems.get(handle.workflowId)?.criticalPagedAt === calling.criticalPagedAt,
      );
      await s.quiesce(150);
      assert.ok(
        s.world.auditsOf('page').some((a) => a.outcome === 'paged' && a.details?.pagedAt === calling.criticalPagedAt),
      );

      // The 30 minutes count from the result's arrival (the critical gate), not from the task's creation.
      const escalatesAt = Date.parse(calling.criticalCallEscalatesAt!);
      assert.ok(
        escalatesAt - startedAt >= 30 * 60_000 && escalatesAt - startedAt < 30 * 60_000 + 5_000,
        `escalates ${(escalatesAt - startedAt) / 60_000} minutes after arrival`,
      );
      assert.equal(calling.callTasks?.[0]?.escalatesAt, calling.criticalCallEscalatesAt);
      assert.equal(calling.callTasks?.[0]?.escalated, false);
      await s.advanceTo(startedAt + 29 * 60_000);
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 1, 'no escalation before 30 minutes');
      await s.advanceTo(startedAt + 31 * 60_000);
      await s.eventually('administrator page', () => s.world.pages().length === 2);
      const overdue = s.world.pages()[1];
      assert.deepEqual([overdue.input.staffId, overdue.input.reason], ['admin-1', 'call-overdue']);
      const late = overdue.at - escalatesAt;
      assert.ok(late >= 0 && late < 5_000, `escalated ${late} ms after the 30 minutes`);
      const escalated = await s.status(handle);
      assert.equal(escalated.criticalCallEscalatesAt, undefined, 'nothing left to escalate');
      assert.equal(escalated.callTasks?.[0]?.escalated, true);

      await s.signOff(handle, 'prov-oncall');
      await s.advance(24 * 60 * 60_000);
      await s.quiesce(150);
      assert.equal(
        s.world.sms().length + s.world.spruce().length + s.world.portal().length,
        0,
        'no automated patient message, ever',
      );
      assert.ok(s.world.auditsOf('routing-decision').some((a) => a.outcome === 'critical-staff-call-only'));

      const taskId = (await s.status(handle)).callTasks![0].taskId!;
      await handle.signal(callCompletedSignal, {
        taskId,
        staffId: 'staff-1',
        outcome: 'reached',
        at: await s.nowIso(),
      });
      const done = await s.untilNotified(handle);
      assert.equal(done.patientNotifiedVersion, 1, 'told by a person');
      assert.equal(s.world.sms().length, 0);
      await assertNoPhiAnywhere(s.world, handle, result);
    });
  });

  it('a call completed in time is not escalated; a preliminary critical pages too', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const handle = await s.start({ result: criticalResult({ status: 'preliminary' }) });
      const open = await s.untilStatus(handle, 'call task open', (v) => v.callTasks?.[0]?.status === 'open');
      assert.equal(s.world.pages()[0]?.input.reason, 'critical-result');
      await s.advance(10 * 60_000);
      await handle.signal(callCompletedSignal, {
        taskId: open.callTasks![0].taskId!,
        staffId: 'prov-oncall',
        outcome: 'reached',
        at: await s.nowIso(),
      });
      await s.untilStatus(handle, 'call completed', (v) => v.callTasks?.[0]?.status === 'completed');
      await s.advance(60 * 60_000);
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 1, 'no escalation');
      assert.equal((await s.status(handle)).state, 'awaiting-final');
    });
  });

  it('a critical call that did not reach the patient pages the administrator at once', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const handle = await s.start({ result: criticalResult() });
      const open = await s.untilStatus(handle, 'call task open', (v) => v.callTasks?.[0]?.status === 'open');
      await handle.signal(callCompletedSignal, {
        taskId: open.callTasks![0].taskId!,
        staffId: 'staff-1',
        outcome: 'no-answer',
        at: await s.nowIso(),
      });
      await s.eventually('administrator page', () => s.world.pages().length === 2);
      assert.deepEqual(
        [s.world.pages()[1].input.staffId, s.world.pages()[1].input.reason],
        ['admin-1', 'call-overdue'],
      );
      await s.advance(60 * 60_000);
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 2, 'escalated once');
    });
  });
  it('pages at first sight while earlier runs are still being looked up, and counts the call from the arrival', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(3, '02:00');
      // labloop accepted the message ten minutes before the workflow got to it (a backlog).
      const receivedMs = (await s.nowMs()) - 10 * 60_000;
      // The database is slow: findPriorRuns answers only once the page went (or after 8 s, too late).
      let pagedDuringLookup: boolean | undefined;
      s.world.faults.findPriorRuns = async ({ attempt }) => {
        if (attempt > 1) return;
        const deadline = Date.now() + 8_000;
        while (Date.now() < deadline && s.world.pages().length === 0) await delay(25);
        pagedDuringLookup = s.world.pages().length > 0;
      };
      const handle = await s.start({ result: criticalResult(), receivedAt: new Date(receivedMs).toISOString() });
      const calling = await s.untilStatus(handle, 'call task open', (v) => v.callTasks?.[0]?.status === 'open');
      assert.equal(pagedDuringLookup, true, 'the on-call page did not wait for the earlier-run lookup');
      const [firstPage] = s.world.pages();
      assert.deepEqual([firstPage.input.staffId, firstPage.input.reason], ['prov-oncall', 'critical-result']);
      const lookedUp = s.world.callsOf('findPriorRuns')[0];
      assert.ok(lookedUp !== undefined && firstPage.at >= lookedUp.at, 'paged while the lookup was running');
      assert.equal(s.world.callTasks()[0]?.input.assignToStaffId, 'prov-oncall', 'the call goes to the paged person');
      assert.equal(calling.callTasks?.[0]?.step, 'v1:call-critical', 'the call task waits for the numbering');
      // The escalation counts from the version's receipt, not from when the run took it in.
      const escalatesAt = Date.parse(calling.criticalCallEscalatesAt!);
      assert.ok(
        escalatesAt - receivedMs >= 30 * 60_000 && escalatesAt - receivedMs < 30 * 60_000 + 1_000,
        `escalates ${(escalatesAt - receivedMs) / 60_000} minutes after receipt`,
      );
      await s.advanceTo(receivedMs + 31 * 60_000);
      await s.eventually('the administrator page', () => s.world.pages().length === 2);
      assert.deepEqual(
        [s.world.pages()[1].input.staffId, s.world.pages()[1].input.reason],
        ['admin-1', 'call-overdue'],
      );
      await s.quiesce(150);
      assert.equal(
        s.world.pages().filter((p) => p.input.reason === 'critical-result').length,
        1,
        'the on-call provider is paged once, not again when the run is ready',
      );
      assert.ok(s.world.auditsOf('routing-decision').some((a) => a.outcome === 'critical-page-at-first-sight'));
      assert.equal(s.world.sms().length + s.world.portal().length + s.world.spruce().length, 0);
    });
  });
});
