import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DateTime } from 'luxon';
import { searchAttributes } from './support/assertions';
import { abnormalResult, isoDate, nextLocal, normalResult, testPolicy, withHolidays, ZONE } from './support/fixtures';
import { workflowHarnessForSuite, type Scenario } from './support/harness';

/**
 * The two-key gate's SLA: deadlines in business hours (weekends, holidays, DST) and the escalation
 * ladder, which pages people and never releases an unsigned result.
 */

/** A page's scheduling time must be at the deadline, give or take the workflow task that acts on it. */
function assertAt(actualMs: number, expected: DateTime, what: string): void {
  const late = actualMs - expected.toMillis();
  assert.ok(late >= 0 && late < 5_000, `${what}: ${new Date(actualMs).toISOString()} vs ${expected.toUTC().toISO()}`);
}

async function pagesAfter(s: Scenario, until: DateTime): Promise<void> {
  await s.advanceTo(until.toMillis());
  await s.quiesce(150);
}

/** The next Friday on or after `afterMs` whose Friday and following Monday are open in the sandbox calendar. */
function openFriday(afterMs: number, extraClosed: string[] = []): DateTime {
  const closed = new Set([...testPolicy().calendar.closedDates, ...extraClosed]);
  let friday = nextLocal(afterMs, 5, '16:30');
  while (closed.has(isoDate(friday)) || closed.has(isoDate(friday.plus({ days: 3 }))))
    friday = friday.plus({ weeks: 1 });
  return friday;
}

describe('sign-off SLA and escalation (time-skipping server)', () => {
  const h = workflowHarnessForSuite();

  it('normal, unsigned: reminder at +4 business hours, then on-call, then administrator, and never released', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      let start = nextLocal(await s.nowMs(), 2, '10:00');
      while (testPolicy().calendar.closedDates.includes(isoDate(start))) start = start.plus({ weeks: 1 });
      await s.advanceTo(start.toMillis());
      const handle = await s.start({ result: normalResult(), receivedAt: start.toUTC().toISO()! });
      const deadline = start.plus({ hours: 4 });
      await s.untilStatus(handle, 'deadline', (v) => v.slaDeadline === deadline.toUTC().toISO());

      await pagesAfter(s, deadline.minus({ seconds: 1 }));
      assert.equal(s.world.pages().length, 0, 'no page before the deadline');
      await pagesAfter(s, deadline.plus({ hours: 2, minutes: 1 }));
      const pages = s.world.pages();
      assert.deepEqual(
        pages.map((p) => [p.input.staffId, p.input.reason, p.input.step]),
        [
          ['prov-1', 'sign-off-reminder', 'escalation-1'],
          ['prov-oncall', 'sign-off-escalation', 'escalation-2'],
          ['admin-1', 'sign-off-escalation', 'escalation-3'],
        ],
      );
      assertAt(pages[0].at, deadline, 'reminder');
      assertAt(pages[1].at, deadline.plus({ hours: 1 }), 'on-call');
      assertAt(pages[2].at, deadline.plus({ hours: 2 }), 'administrator');
      const escalated = await s.status(handle);
      assert.equal(escalated.state, 'escalated');
      assert.equal(escalated.escalationLevel, 3);
      assert.deepEqual(
        s.world.auditsOf('escalation').map((a) => a.outcome),
        ['level-1', 'level-2', 'level-3'],
      );
      await s.eventually('search attribute state', async () => (await searchAttributes(handle)).state === 'escalated');
      await s.eventually('review item level', () => s.world.reviewItems.get(handle.workflowId)?.escalationLevel === 3);

      // Past the last rung the administrator is paged again every business hour (escalation-repeats.test.ts).
      await pagesAfter(s, deadline.plus({ days: 3 }));
      assert.ok(s.world.pages().length > 3, 'the ladder does not stop at the administrator while unsigned');
      assert.ok(
        s.world
          .pages()
          .slice(3)
          .every((p) => p.input.staffId === 'admin-1'),
      );
      assert.equal(
        s.world.sms().length + s.world.portal().length + s.world.spruce().length,
        0,
        'never released unsigned',
      );

      await s.signOff(handle, 'prov-oncall');
      await s.untilNotified(handle);
      assert.equal(s.world.portal().length, 1);
    });
  });

  it('abnormal, unsigned, received Friday 16:30: escalates exactly at Monday 08:30', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const friday = openFriday(await s.nowMs());
      await s.advanceTo(friday.toMillis());
      const handle = await s.start({ result: abnormalResult(), receivedAt: friday.toUTC().toISO()! });
      const monday = friday.plus({ days: 3 }).set({ hour: 8, minute: 30 });
      await s.untilStatus(handle, 'deadline', (v) => v.slaDeadline === monday.toUTC().toISO());
      await pagesAfter(s, monday.minus({ minutes: 1 }));
      assert.equal(s.world.pages().length, 0, 'nothing over the weekend');
      await pagesAfter(s, monday.plus({ minutes: 1 }));
      const [reminder] = s.world.pages();
      assert.equal(reminder?.input.reason, 'sign-off-reminder');
      assert.equal(reminder?.input.urgency, 'high');
      assertAt(reminder.at, monday, 'reminder');
      const escalation = s.world.auditsOf('escalation')[0];
      assert.equal(escalation?.details?.deadline, monday.toUTC().toISO());
    });
  });

  it('abnormal, received Friday 16:30 before a Monday holiday: escalates at Tuesday 08:30', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      const friday = openFriday(await s.nowMs());
      const holiday = isoDate(friday.plus({ days: 3 }));
      await s.advanceTo(friday.toMillis());
      const handle = await s.start({
        result: abnormalResult(),
        receivedAt: friday.toUTC().toISO()!,
        policy: withHolidays(testPolicy(), [holiday]),
      });
      const tuesday = friday.plus({ days: 4 }).set({ hour: 8, minute: 30 });
      await s.untilStatus(handle, 'deadline', (v) => v.slaDeadline === tuesday.toUTC().toISO());
      await pagesAfter(s, tuesday.minus({ minutes: 1 }));
      assert.equal(s.world.pages().length, 0, 'nothing on the holiday');
      await pagesAfter(s, tuesday.plus({ minutes: 1 }));
      assert.equal(s.world.pages().length, 1);
      assertAt(s.world.pages()[0].at, tuesday, 'reminder after the holiday');
    });
  });

  it('normal, received Friday 15:00 before the spring DST change: deadline Monday 10:00 EDT', async () => {
    await h.scenario({ smsConsent: true }, async (s) => {
      // The Friday before the second Sunday of March (the US spring-forward day) after "now".
      const now = DateTime.fromMillis(await s.nowMs(), { zone: ZONE });
      let march = DateTime.fromObject({ year: now.year, month: 3, day: 8 }, { zone: ZONE });
      if (march.toMillis() <= now.toMillis()) march = march.plus({ years: 1 });
      const dstSunday = march.plus({ days: (7 - march.weekday) % 7 });
      const friday = dstSunday.minus({ days: 2 }).set({ hour: 15, minute: 0 });
      assert.notEqual(friday.offset, friday.plus({ days: 3 }).offset, 'the weekend really changes the offset');
      await s.advanceTo(friday.toMillis());
      const handle = await s.start({ result: normalResult(), receivedAt: friday.toUTC().toISO()! });
      const monday = friday.plus({ days: 3 }).set({ hour: 10, minute: 0 });
      const v = await s.untilStatus(handle, 'deadline', (x) => x.slaDeadline !== undefined);
      assert.equal(v.slaDeadline, monday.toUTC().toISO());
      await pagesAfter(s, monday.plus({ minutes: 1 }));
      assert.equal(s.world.pages().length, 1);
      assertAt(s.world.pages()[0].at, monday, 'reminder after DST');
    });
  });
});
