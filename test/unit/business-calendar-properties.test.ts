import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DateTime, IANAZone } from 'luxon';
import { addBusinessMinutes, businessMinutesBetween, isOpen, nextOpening } from '../../domain/business-calendar';
import type { BusinessCalendar, OpeningHours } from '../../domain/practice';
import { US_TIME_ZONES } from '../support/time-zones';

/**
 * Property tests over random calendars (weekly hours, holiday runs, US zones with and without DST)
 * and random instants clustered around DST changes and year ends. The oracle below judges "open"
 * from the wall clock with luxon, independently of the module's interval arithmetic.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** DST changes (US 2025–2027) and year ends: where calendar arithmetic goes wrong. */
const ANCHORS = [
  '2025-11-02T06:00:00Z',
  '2025-12-31T18:00:00Z',
  '2026-03-08T07:00:00Z',
  '2026-11-01T06:00:00Z',
  '2026-12-31T18:00:00Z',
  '2027-03-14T07:00:00Z',
].map((iso) => Date.parse(iso));

function hhmm(minutes: number): string {
  if (minutes === 24 * 60) return '00:00';
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

const openingHoursArb: fc.Arbitrary<OpeningHours> = fc
  .record({
    weekday: fc.integer({ min: 1, max: 7 }),
    // Quarter hours, biased towards the night so that 01:00–03:00 (the US change hours) comes up.
    open: fc.oneof(fc.integer({ min: 0, max: 95 }), fc.integer({ min: 0, max: 16 })),
    length: fc.integer({ min: 1, max: 96 }),
  })
  .map(({ weekday, open, length }) => {
    const openMin = open * 15;
    const closeMin = Math.min(24 * 60, openMin + length * 15);
    return { weekday, open: hhmm(openMin), close: hhmm(closeMin) };
  });

const holidayRunsArb = fc.array(
  fc.record({ start: fc.integer({ min: 0, max: 560 }), length: fc.integer({ min: 1, max: 21 }) }),
  { maxLength: 4 },
);

const calendarArb: fc.Arbitrary<BusinessCalendar> = fc
  .record({
    timeZone: fc.constantFrom(...US_TIME_ZONES),
    hours: fc.array(openingHoursArb, { minLength: 1, maxLength: 10 }),
    runs: holidayRunsArb,
  })
  .map(({ timeZone, hours, runs }) => {
    const first = DateTime.fromISO('2025-10-01', { zone: 'utc' });
    const closedDates = runs.flatMap(({ start, length }) =>
      Array.from({ length }, (_, i) => first.plus({ days: start + i }).toISODate() ?? ''),
    );
    return { timeZone, hours, closedDates };
  });

/** Offsets of up to six days either side, mostly whole minutes, sometimes with seconds and milliseconds. */
const offsetArb: fc.Arbitrary<number> = fc
  .record({
    minutes: fc.integer({ min: -6 * 24 * 60, max: 6 * 24 * 60 }),
    ms: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: MINUTE_MS - 1 })),
  })
  .map(({ minutes, ms }) => minutes * MINUTE_MS + ms);

/** Instants around the anchors. */
const instantArb: fc.Arbitrary<number> = fc
  .tuple(fc.constantFrom(...ANCHORS), offsetArb)
  .map(([anchor, offset]) => anchor + offset);

const minutesArb = fc.oneof(
  fc.integer({ min: 0, max: 120 }),
  fc.integer({ min: 0, max: 3_000 }),
  fc.constantFrom(0, 1, 60, 240, 480, 1_440),
);

const iso = (ms: number): string => new Date(ms).toISOString();
const ms = (isoText: string): number => Date.parse(isoText);

function parseMinutes(text: string, isClose: boolean): number {
  const [h, m] = text.split(':').map(Number) as [number, number];
  const minutes = h * 60 + m;
  return isClose && minutes === 0 ? 24 * 60 : minutes;
}

/**
 * Open by the wall clock: the local date is not closed and the local time is in one of the weekday's
 * `[open, close)` ranges. Undefined during the repeated hour after a fall-back change, where the
 * wall clock alone cannot say whether an opening (defined as the first occurrence) has passed.
 */
function oracleOpen(at: number, cal: BusinessCalendar): boolean | undefined {
  const zone = IANAZone.create(cal.timeZone);
  if (zone.offset(at - HOUR_MS) > zone.offset(at)) return undefined;
  const local = DateTime.fromMillis(at, { zone: cal.timeZone });
  if (cal.closedDates.includes(local.toISODate() ?? '')) return false;
  const minuteOfDay = local.hour * 60 + local.minute + local.second / 60 + local.millisecond / MINUTE_MS;
  return cal.hours.some(
    (h) =>
      h.weekday === local.weekday &&
      parseMinutes(h.open, false) <= minuteOfDay &&
      minuteOfDay < parseMinutes(h.close, true),
  );
}

void describe('business calendar properties', () => {
  void it('isOpen agrees with the wall-clock oracle', () => {
    fc.assert(
      fc.property(calendarArb, instantArb, (cal, at) => {
        const expected = oracleOpen(at, cal);
        fc.pre(expected !== undefined);
        assert.equal(isOpen(iso(at), cal), expected);
      }),
      { numRuns: 400 },
    );
  });

  void it('nextOpening is open, ≥ the instant, minimal, and the instant itself exactly when open', () => {
    fc.assert(
      fc.property(calendarArb, instantArb, (cal, at) => {
        const next = nextOpening(iso(at), cal);
        assert.ok(ms(next) >= at);
        assert.equal(isOpen(next, cal), true);
        assert.notEqual(oracleOpen(ms(next), cal), false);
        assert.equal(next === iso(at), isOpen(iso(at), cal));
        assert.equal(businessMinutesBetween(iso(at), next, cal), 0);
        const minuteBefore = ms(next) - MINUTE_MS;
        if (minuteBefore >= at) assert.notEqual(oracleOpen(minuteBefore, cal), true);
        if (ms(next) - 1 >= at) assert.equal(isOpen(iso(ms(next) - 1), cal), false);
      }),
      { numRuns: 300 },
    );
  });

  void it('a deadline is ≥ the start, and the instant before it is business time on an open date', () => {
    fc.assert(
      fc.property(calendarArb, instantArb, minutesArb, (cal, start, minutes) => {
        const deadline = ms(addBusinessMinutes(iso(start), minutes, cal));
        assert.ok(deadline >= start);
        if (minutes === 0) {
          assert.equal(iso(deadline), nextOpening(iso(start), cal));
          assert.equal(isOpen(iso(deadline), cal), true);
          return;
        }
        // Open, or exactly a closing instant: either way the millisecond before is open.
        assert.equal(isOpen(iso(deadline - 1), cal), true);
        assert.notEqual(oracleOpen(deadline - 1, cal), false);
        const localDate = DateTime.fromMillis(deadline - 1, { zone: cal.timeZone }).toISODate() ?? '';
        assert.equal(cal.closedDates.includes(localDate), false);
      }),
      { numRuns: 300 },
    );
  });

  void it('businessMinutesBetween(start, addBusinessMinutes(start, m)) === m', () => {
    fc.assert(
      fc.property(calendarArb, instantArb, minutesArb, (cal, start, minutes) => {
        const deadline = addBusinessMinutes(iso(start), minutes, cal);
        assert.equal(businessMinutesBetween(iso(start), deadline, cal), minutes);
      }),
      { numRuns: 300 },
    );
  });

  void it('deadlines are monotone in minutes', () => {
    fc.assert(
      fc.property(calendarArb, instantArb, minutesArb, minutesArb, (cal, start, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        assert.ok(ms(addBusinessMinutes(iso(start), lo, cal)) <= ms(addBusinessMinutes(iso(start), hi, cal)));
      }),
      { numRuns: 200 },
    );
  });

  void it('deadlines are additive: add(add(s, a), b) === add(s, a + b) for a, b > 0', () => {
    const positive = fc.integer({ min: 1, max: 1_500 });
    fc.assert(
      fc.property(calendarArb, instantArb, positive, positive, (cal, start, a, b) => {
        const stepwise = addBusinessMinutes(addBusinessMinutes(iso(start), a, cal), b, cal);
        assert.equal(stepwise, addBusinessMinutes(iso(start), a + b, cal));
      }),
      { numRuns: 200 },
    );
  });

  void it('businessMinutesBetween is additive over adjacent spans and antisymmetric', () => {
    fc.assert(
      fc.property(
        calendarArb,
        fc.constantFrom(...ANCHORS),
        fc.array(offsetArb, { minLength: 3, maxLength: 3 }),
        (cal, anchor, offsets) => {
          const [a, b, c] = offsets.map((o) => anchor + o).sort((p, q) => p - q) as [number, number, number];
          const ab = businessMinutesBetween(iso(a), iso(b), cal);
          const bc = businessMinutesBetween(iso(b), iso(c), cal);
          const ac = businessMinutesBetween(iso(a), iso(c), cal);
          assert.ok(Math.abs(ab + bc - ac) < 1e-9, `${ab} + ${bc} !== ${ac}`);
          assert.equal(businessMinutesBetween(iso(c), iso(a), cal), 0 - ac);
          assert.ok(ab >= 0);
        },
      ),
      { numRuns: 200 },
    );
  });

  void it('businessMinutesBetween equals a minute-by-minute count with the oracle', () => {
    const wholeMinute = instantArb.map((at) => at - (at % MINUTE_MS));
    fc.assert(
      fc.property(calendarArb, wholeMinute, fc.integer({ min: 0, max: 2 * 24 * 60 }), (cal, start, span) => {
        let counted = 0;
        for (let i = 0; i < span; i += 1) {
          const open = oracleOpen(start + i * MINUTE_MS, cal);
          // Skip spans through a repeated fall-back hour: the oracle cannot judge it (table tests do).
          if (open === undefined) return;
          if (open) counted += 1;
        }
        assert.equal(businessMinutesBetween(iso(start), iso(start + span * MINUTE_MS), cal), counted);
      }),
      { numRuns: 60 },
    );
  });

  void it('a 24-hour calendar counts elapsed time exactly, across every DST change', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...US_TIME_ZONES),
        instantArb,
        fc.integer({ min: 0, max: 20 * 24 * 60 }),
        (zone, s, m) => {
          const cal = {
            timeZone: zone,
            hours: [1, 2, 3, 4, 5, 6, 7].map((weekday) => ({ weekday, open: '00:00', close: '00:00' })),
            closedDates: [],
          };
          assert.equal(ms(addBusinessMinutes(iso(s), m, cal)), s + m * MINUTE_MS);
          assert.equal(businessMinutesBetween(iso(s), iso(s + 3 * DAY_MS), cal), 3 * 24 * 60);
        },
      ),
      { numRuns: 100 },
    );
  });
});
