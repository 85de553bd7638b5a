import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActivityErrorType } from '../../domain/activity-error-types';
import { permanent, retryable } from './support/fake-world';
import { criticalResult, testPolicy } from './support/fixtures';
import { workflowHarnessForSuite } from './support/harness';

const MINUTE = 60_000;

/** The on-call page of a critical first message: sent before the run is ready, its step names the run. */
const FIRST_SIGHT_STEP = (suffix = ''): RegExp => new RegExp(`^page-critical-oncall-[0-9a-f-]{36}${suffix}$`);

/**
 * Critical results when the channels staff depend on fail: athena down (the call task cannot be
 * created), Spruce down (the page cannot be delivered). The escalation clock and the page's second
 * path must not depend on either. And the call task goes to whoever the rota says is on call.
 */
describe('critical results through outages (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('athena down: the call escalates 30 minutes after arrival as not created, while creation keeps retrying', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '14:00');
      const arrived = await s.nowMs();
      s.world.faults.createCallTask = ({ at }) => {
        if (at < arrived + 45 * MINUTE) throw retryable('athena unavailable');
      };
      const handle = await s.start({ result: criticalResult() });
      await s.eventually('the on-call page', () => s.world.pages().length === 1);
      const creating = await s.untilStatus(
        handle,
        'task being created',
        (v) => v.callTasks?.[0]?.status === 'creating',
      );
      assert.equal(creating.state, 'critical-call');
      const escalatesAt = Date.parse(creating.criticalCallEscalatesAt!);
      assert.ok(escalatesAt - arrived >= 30 * MINUTE && escalatesAt - arrived < 30 * MINUTE + 5_000);

      await s.advanceTo(arrived + 29 * MINUTE);
      await s.quiesce(150);
      assert.equal(s.world.pages().length, 1, 'not before the 30 minutes');
      await s.advanceTo(arrived + 31 * MINUTE);
      await s.eventually('the administrator page', () => s.world.pages().length === 2);
      const escalation = s.world.pages()[1];
      assert.deepEqual(
        [escalation.input.staffId, escalation.input.reason, escalation.input.urgency],
        ['admin-1', 'call-task-not-created', 'high'],
      );
      assert.ok(escalation.at - escalatesAt >= 0 && escalation.at - escalatesAt < 5_000, 'on time');
      await s.quiesce(150);
      assert.ok(s.world.auditsOf('escalation').some((a) => a.outcome === 'call-task-not-created'));
      assert.equal(s.world.callTasks().length, 0, 'athena is still down');

      // Creation never gave up: once athena is back the task exists, and nobody is paged twice.
      await s.advanceTo(arrived + 52 * MINUTE);
      const open = await s.untilStatus(handle, 'task created', (v) => v.callTasks?.[0]?.status === 'open');
      assert.ok(
        s.world.callsOf('createCallTask').some((c) => c.at > arrived + 31 * MINUTE),
        'creation was still retried after the escalation',
      );
      assert.equal(open.callTasks?.[0]?.escalated, true);
      assert.equal(open.criticalCallEscalatesAt, undefined);
      await s.advance(60 * MINUTE);
      await s.quiesce(150);
      // Escalated once; the open call then pages the administrator again every 30 minutes (issue 13 §4).
      const callPages = s.world.pages().filter((p) => p.input.staffId === 'admin-1');
      assert.deepEqual(
        callPages.map((p) => p.input.step),
        ['call-overdue-call-critical', 'call-overdue-call-critical-repeat-1', 'call-overdue-call-critical-repeat-2'],
        'the sign-off reminder is another matter',
      );
    });
  });

  it('Spruce down: the page keeps retrying, and after two minutes the on-call provider gets a generic SMS page', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '03:00');
      const arrived = await s.nowMs();
      s.world.faults.pageStaff = ({ at }) => {
        if (at < arrived + 40 * MINUTE) throw retryable('spruce unavailable');
      };
      const handle = await s.start({ result: criticalResult() });
      await s.untilStatus(handle, 'call task open', (v) => v.callTasks?.[0]?.status === 'open');
      await s.advanceTo(arrived + MINUTE + 30_000);
      await s.quiesce(150);
      assert.equal(s.world.staffSmsPages().length, 0, 'not before the failure window');
      await s.advanceTo(arrived + 2 * MINUTE + 30_000);
      const [smsPage] = await s.eventually('the SMS page', () =>
        s.world.staffSmsPages().length === 1 ? s.world.staffSmsPages() : undefined,
      );
      assert.deepEqual([smsPage.input.staffId, smsPage.input.reason], ['prov-oncall', 'critical-result']);
      // The page went at first sight, before earlier runs were known: its step is named for the run.
      assert.match(smsPage.input.step, FIRST_SIGHT_STEP('-sms'));
      const late = smsPage.at - (arrived + 2 * MINUTE);
      assert.ok(late >= 0 && late < 5_000, `SMS page ${late} ms after the two minutes`);
      const v = await s.untilStatus(handle, 'page time logged', (x) => x.criticalPagedAt !== undefined);
      assert.equal(v.criticalPagedAt, new Date(smsPage.at).toISOString(), 'the SMS page is the logged page time');
      await s.quiesce(150);
      const pageAudits = s.world.auditsOf('page').map((a) => a.outcome);
      assert.ok(pageAudits.includes('sms-fallback-requested') && pageAudits.includes('sms-paged'), pageAudits.join());

      // The Spruce page is still being retried well past the old 35-second budget.
      await s.advanceTo(arrived + 15 * MINUTE);
      await s.quiesce(150);
      const attempts = s.world
        .callsOf('pageStaff')
        .filter((c) => FIRST_SIGHT_STEP().test((c.input as { step: string }).step));
      assert.ok(
        attempts.some((c) => c.at > arrived + 10 * MINUTE),
        `${attempts.length} attempts, still retrying`,
      );
      assert.equal(s.world.pages().length, 0);

      // At 30 minutes the call is overdue: the administrator's page needs the SMS path too.
      await s.advanceTo(arrived + 34 * MINUTE);
      await s.eventually('the administrator SMS page', () =>
        s.world.staffSmsPages().some((p) => p.input.staffId === 'admin-1' && p.input.reason === 'call-overdue'),
      );
      assert.equal(s.world.sms().length, 0, 'no patient text, ever');
    });
  });

  it('Spruce down and the SMS page refused (no pagerPhone): the administrator is paged at once, by both paths', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(2, '03:00');
      const arrived = await s.nowMs();
      s.world.faults.pageStaff = () => {
        throw retryable('spruce unavailable');
      };
      s.world.faults.sendStaffSmsPage = ({ input }) => {
        if ((input as { staffId: string }).staffId !== 'admin-1')
          throw permanent(ActivityErrorType.CONFIGURATION, 'no pagerPhone');
      };
      await s.start({ result: criticalResult() });
      await s.advanceTo(arrived + 2 * MINUTE + 30_000);
      await s.eventually('the administrator page request', () =>
        s.world
          .callsOf('pageStaff')
          .some((c) => FIRST_SIGHT_STEP('-to-admin').test((c.input as { step: string }).step)),
      );
      const adminPage = s.world
        .callsOf('pageStaff')
        .find((c) => FIRST_SIGHT_STEP('-to-admin').test((c.input as { step: string }).step))!;
      assert.ok(adminPage.at - arrived < 2 * MINUTE + 5_000, 'right after the SMS path failed, not 30 minutes later');
      await s.advanceTo(arrived + 5 * MINUTE);
      await s.eventually('the administrator SMS page', () =>
        s.world.staffSmsPages().some((p) => p.input.staffId === 'admin-1' && p.input.reason === 'critical-result'),
      );
      await s.quiesce(150);
      assert.ok(s.world.auditsOf('page').some((a) => a.outcome === 'sms-page-failed'));
    });
  });

  it('the call task goes to the provider the on-call rota names, like the page', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      await s.advanceToNext(6, '10:00');
      const policy = testPolicy({
        onCallSchedule: [{ weekdays: [6, 7], start: '00:00', end: '00:00', staffId: 'prov-2' }],
      });
      const handle = await s.start({ result: criticalResult(), policy });
      await s.untilStatus(handle, 'call task open', (v) => v.callTasks?.[0]?.status === 'open');
      assert.deepEqual(
        s.world.pages().map((p) => [p.input.staffId, p.input.reason]),
        [['prov-2', 'critical-result']],
      );
      assert.equal(s.world.callTasks()[0].input.assignToStaffId, 'prov-2');
      await s.quiesce(150);
      const rota = s.world.auditsOf('routing-decision').find((a) => a.outcome === 'on-call-rota');
      assert.deepEqual(rota?.details && [rota.details.requested, rota.details.paged, rota.details.shift], [
        'prov-oncall',
        'prov-2',
        0,
      ]);
    });
  });
});
