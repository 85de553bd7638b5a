import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { isInsidePatientWindow, nextPatientSendTime, type PatientWindow } from '../../domain/patient-window';
import { US_TIME_ZONES } from '../support/time-zones';

/**
 * Properties of the patient send time over random instants (around DST changes and year ends),
 * random sets of US candidate zones and random windows. The oracle reads each zone's wall clock with
 * luxon; windows start at 06:00 or later, so no window edge falls in a DST change hour.
 */

const MINUTE_MS = 60_000;

const ANCHORS = [
  '2025-11-02T06:00:00Z',
  '2025-12-31T23:00:00Z',
  '2026-03-08T07:00:00Z',
  '2026-11-01T06:00:00Z',
  '2026-12-31T23:00:00Z',
  '2027-03-14T07:00:00Z',
].map((iso) => Date.parse(iso));

const instantArb = fc
  .record({
    anchor: fc.constantFrom(...ANCHORS),
    minutes: fc.integer({ min: -3 * 24 * 60, max: 3 * 24 * 60 }),
    ms: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: MINUTE_MS - 1 })),
  })
  .map(({ anchor, minutes, ms }) => anchor + minutes * MINUTE_MS + ms);

const zonesArb = fc.uniqueArray(fc.constantFrom(...US_TIME_ZONES), { minLength: 1, maxLength: 3 });

const hhmm = (minutes: number): string =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/** 06:00–10:00 to 17:00–22:00: long enough that any US zones (at most 6 hours apart) meet. */
const windowArb: fc.Arbitrary<PatientWindow> = fc.oneof(
  fc.constant({ start: '08:00', end: '21:00' }),
  fc
    .tuple(fc.integer({ min: 6 * 4, max: 10 * 4 }), fc.integer({ min: 17 * 4, max: 22 * 4 }))
    .map(([s, e]) => ({ start: hhmm(s * 15), end: hhmm(e * 15) })),
);

function minutesOf(text: string): number {
  const [h, m] = text.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

function oracleInside(at: number, zones: string[], window: PatientWindow): boolean {
  return zones.every((zone) => {
    const local = DateTime.fromMillis(at, { zone });
    const minute = local.hour * 60 + local.minute + local.second / 60 + local.millisecond / MINUTE_MS;
    return minutesOf(window.start) <= minute && minute < minutesOf(window.end);
  });
}

const iso = (ms: number): string => new Date(ms).toISOString();

void describe('patient window properties', () => {
  void it('the send time is ≥ at, inside every zone, minimal and idempotent', () => {
    fc.assert(
      fc.property(instantArb, zonesArb, windowArb, (at, zones, window) => {
        const next = nextPatientSendTime(iso(at), zones, window);
        const nextMs = Date.parse(next);
        assert.ok(nextMs >= at);
        assert.equal(oracleInside(nextMs, zones, window), true);
        assert.equal(isInsidePatientWindow(next, zones, window), true);
        // Minimal: stepping back a minute (or a millisecond) without passing `at` leaves the window.
        if (nextMs - MINUTE_MS >= at) assert.equal(oracleInside(nextMs - MINUTE_MS, zones, window), false);
        if (nextMs - 1 >= at) assert.equal(oracleInside(nextMs - 1, zones, window), false);
        assert.equal(nextPatientSendTime(next, zones, window), next);
      }),
      { numRuns: 300 },
    );
  });

  void it('isInsidePatientWindow agrees with the oracle, and inside means "send now"', () => {
    fc.assert(
      fc.property(instantArb, zonesArb, windowArb, (at, zones, window) => {
        const inside = isInsidePatientWindow(iso(at), zones, window);
        assert.equal(inside, oracleInside(at, zones, window));
        assert.equal(nextPatientSendTime(iso(at), zones, window) === iso(at), inside);
      }),
      { numRuns: 300 },
    );
  });

  void it('more candidate zones never allow an earlier send', () => {
    fc.assert(
      fc.property(instantArb, zonesArb, fc.constantFrom(...US_TIME_ZONES), windowArb, (at, zones, extra, window) => {
        const fewer = Date.parse(nextPatientSendTime(iso(at), zones, window));
        const more = Date.parse(nextPatientSendTime(iso(at), [...zones, extra], window));
        assert.ok(more >= fewer);
      }),
      { numRuns: 200 },
    );
  });
});
