import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { onCallStaffAt, type OnCallShift } from '../../domain/on-call';

const ZONE = 'America/New_York';
const ROTA: OnCallShift[] = [
  { weekdays: [1, 2, 3, 4, 5], start: '08:00', end: '17:00', staffId: 'day' },
  { weekdays: [1, 2, 3, 4], start: '17:00', end: '08:00', staffId: 'night' },
  // Friday 17:00 to Monday 08:00 is the weekend provider (three overnight shifts).
  { weekdays: [5, 6, 7], start: '17:00', end: '08:00', staffId: 'weekend' },
  { weekdays: [6, 7], start: '08:00', end: '17:00', staffId: 'weekend' },
];

const at = (local: string) => {
  // Local New York wall time → ISO instant (offsets written out so the test is its own oracle).
  return new Date(local).toISOString();
};

describe('on-call rota', () => {
  const cases: [string, string][] = [
    ['2026-11-24T09:00:00-05:00', 'day'], // Tuesday morning
    ['2026-11-24T16:59:00-05:00', 'day'],
    ['2026-11-24T17:00:00-05:00', 'night'], // Tuesday evening, shift boundary
    ['2026-11-25T03:00:00-05:00', 'night'], // Wednesday early morning: Tuesday's night shift
    ['2026-11-25T07:59:00-05:00', 'night'],
    ['2026-11-25T08:00:00-05:00', 'day'],
    ['2026-11-27T18:00:00-05:00', 'weekend'], // Friday evening
    ['2026-11-28T12:00:00-05:00', 'weekend'], // Saturday noon
    ['2026-11-30T07:30:00-05:00', 'weekend'], // Monday before 08:00: Sunday's overnight shift
    ['2026-11-30T08:00:00-05:00', 'day'],
    ['2026-11-27T03:00:00-05:00', 'night'], // Friday early: Thursday's night shift
  ];
  for (const [instant, expected] of cases) {
    it(`${instant} → ${expected}`, () => {
      assert.equal(onCallStaffAt(at(instant), ZONE, ROTA, 'default').staffId, expected);
    });
  }

  it('uses the default when the rota leaves a gap, and the first matching shift wins', () => {
    const partial: OnCallShift[] = [{ weekdays: [1], start: '09:00', end: '10:00', staffId: 'a' }];
    assert.equal(onCallStaffAt(at('2026-11-24T09:30:00-05:00'), ZONE, partial, 'default').staffId, 'default');
    const overlapping: OnCallShift[] = [
      { weekdays: [2], start: '09:00', end: '10:00', staffId: 'exception' },
      { weekdays: [2], start: '00:00', end: '00:00', staffId: 'general' },
    ];
    assert.equal(onCallStaffAt(at('2026-11-24T09:30:00-05:00'), ZONE, overlapping, 'default').staffId, 'exception');
    assert.equal(onCallStaffAt(at('2026-11-24T11:30:00-05:00'), ZONE, overlapping, 'default').staffId, 'general');
  });

  it('reads wall-clock time in the practice zone across DST changes', () => {
    // 2026-11-01 is the fall-back Sunday in New York; 07:30 EST is 12:30 UTC.
    assert.equal(onCallStaffAt('2026-11-01T12:30:00Z', ZONE, ROTA, 'default').staffId, 'weekend');
    // 2026-03-09 (Monday after spring-forward) 08:30 EDT is 12:30 UTC.
    assert.equal(onCallStaffAt('2026-03-09T12:30:00Z', ZONE, ROTA, 'default').staffId, 'day');
  });

  it('a complete weekly rota always names someone from it (property)', () => {
    const everyone = new Set(ROTA.map((s) => s.staffId));
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2028-12-31T00:00:00Z'), noInvalidDate: true }),
        (d) => {
          const { staffId } = onCallStaffAt(d.toISOString(), ZONE, ROTA, 'default');
          assert.ok(everyone.has(staffId), `${d.toISOString()} → ${staffId}`);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
