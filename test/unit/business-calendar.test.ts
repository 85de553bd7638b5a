import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DateTime } from 'luxon';
import {
  addBusinessMinutes,
  businessMinutesBetween,
  CalendarSearchLimitError,
  InvalidCalendarError,
  InvalidTimeInputError,
  isOpen,
  nextOpening,
  validateBusinessCalendar,
} from '../../domain/business-calendar';
import type { BusinessCalendar, OpeningHours } from '../../domain/practice';

const NY = 'America/New_York';

/** A local wall-clock time (unambiguous) as the UTC instant the module takes. */
function at(local: string, zone = NY): string {
  const dt = DateTime.fromISO(local, { zone });
  assert.ok(dt.isValid, `bad fixture time ${local}`);
  return dt.toUTC().toISO() ?? '';
}

/** An instant as the practice's wall clock shows it, with the offset in force. */
function wall(iso: string, zone = NY): string {
  return DateTime.fromISO(iso, { zone }).toFormat("yyyy-MM-dd'T'HH:mmZZ");
}

function days(weekdays: number[], open: string, close: string): OpeningHours[] {
  return weekdays.map((weekday) => ({ weekday, open, close }));
}

const MON_FRI = [1, 2, 3, 4, 5];
const EVERY_DAY = [1, 2, 3, 4, 5, 6, 7];

function calendar(hours: OpeningHours[], closedDates: string[] = [], timeZone = NY): BusinessCalendar {
  return { timeZone, hours, closedDates };
}

const officeHours = calendar(days(MON_FRI, '08:00', '17:00'));

void describe('addBusinessMinutes: the SLA examples', () => {
  void it('abnormal (60 min) received Friday 16:30, Monday a holiday → Tuesday 08:30', () => {
    const cal = calendar(days(MON_FRI, '08:00', '17:00'), ['2026-09-07']); // Labor Day
    const deadline = addBusinessMinutes(at('2026-09-04T16:30'), 60, cal);
    assert.equal(wall(deadline), '2026-09-08T08:30-04:00');
  });

  void it('normal (240 min) received Wednesday 15:00 → Thursday 10:00', () => {
    assert.equal(wall(addBusinessMinutes(at('2026-09-09T15:00'), 240, officeHours)), '2026-09-10T10:00-04:00');
  });

  void it('received Saturday 10:00 (60 min) → Monday 09:00', () => {
    assert.equal(wall(addBusinessMinutes(at('2026-09-12T10:00'), 60, officeHours)), '2026-09-14T09:00-04:00');
  });

  void it('received before opening counts from the opening', () => {
    assert.equal(wall(addBusinessMinutes(at('2026-09-08T06:45'), 30, officeHours)), '2026-09-08T08:30-04:00');
  });

  void it('returns normalised UTC ISO with milliseconds', () => {
    assert.equal(addBusinessMinutes('2026-09-09T15:00:00-04:00', 240, officeHours), '2026-09-10T14:00:00.000Z');
  });
});

void describe('the closing-time convention', () => {
  void it('a deadline landing exactly at closing time stays at closing time', () => {
    assert.equal(wall(addBusinessMinutes(at('2026-09-10T16:00'), 60, officeHours)), '2026-09-10T17:00-04:00');
    assert.equal(wall(addBusinessMinutes(at('2026-09-11T16:59'), 1, officeHours)), '2026-09-11T17:00-04:00');
  });

  void it('one minute more moves to the next opening plus one minute', () => {
    assert.equal(wall(addBusinessMinutes(at('2026-09-11T16:00'), 61, officeHours)), '2026-09-14T08:01-04:00');
  });

  void it('zero minutes is the next opening (a start at closing time counts from the next morning)', () => {
    assert.equal(wall(addBusinessMinutes(at('2026-09-10T17:00'), 0, officeHours)), '2026-09-11T08:00-04:00');
    assert.equal(wall(addBusinessMinutes(at('2026-09-10T09:15'), 0, officeHours)), '2026-09-10T09:15-04:00');
  });

  void it('opening instants are open and closing instants are closed', () => {
    assert.equal(isOpen(at('2026-09-10T08:00'), officeHours), true);
    assert.equal(isOpen(at('2026-09-10T16:59:59.999'), officeHours), true);
    assert.equal(isOpen(at('2026-09-10T17:00'), officeHours), false);
    assert.equal(isOpen(at('2026-09-10T07:59:59.999'), officeHours), false);
  });
});

void describe('weekly hours', () => {
  void it('a lunch closure is two entries for one weekday', () => {
    const cal = calendar([...days(MON_FRI, '08:00', '12:00'), ...days(MON_FRI, '13:00', '17:00')]);
    assert.equal(wall(addBusinessMinutes(at('2026-09-14T11:30'), 60, cal)), '2026-09-14T13:30-04:00');
    assert.equal(isOpen(at('2026-09-14T12:30'), cal), false);
    assert.equal(wall(nextOpening(at('2026-09-14T12:30'), cal)), '2026-09-14T13:00-04:00');
    assert.equal(businessMinutesBetween(at('2026-09-14T00:00'), at('2026-09-15T00:00'), cal), 480);
  });

  void it('overlapping and touching entries merge (12:00 is not a closing time)', () => {
    const cal = calendar([
      { weekday: 1, open: '08:00', close: '12:00' },
      { weekday: 1, open: '12:00', close: '17:00' },
      { weekday: 1, open: '09:00', close: '10:00' },
    ]);
    assert.equal(businessMinutesBetween(at('2026-09-14T00:00'), at('2026-09-15T00:00'), cal), 540);
    assert.equal(isOpen(at('2026-09-14T12:00'), cal), true);
    assert.equal(wall(addBusinessMinutes(at('2026-09-14T08:00'), 240, cal)), '2026-09-14T12:00-04:00');
  });

  void it('weekend-only and single-day calendars work', () => {
    const saturdays = calendar([{ weekday: 6, open: '09:00', close: '12:00' }]);
    assert.equal(wall(addBusinessMinutes(at('2026-09-14T10:00'), 200, saturdays)), '2026-09-26T09:20-04:00');
  });
});

void describe('closed dates, runs of them and year ends', () => {
  const winterBreak = calendar(days(MON_FRI, '08:00', '17:00'), [
    '2026-12-24',
    '2026-12-25',
    '2026-12-28',
    '2026-12-29',
    '2026-12-30',
    '2026-12-31',
    '2027-01-01',
  ]);

  void it('skips a run of holidays across the year end', () => {
    assert.equal(wall(addBusinessMinutes(at('2026-12-23T16:30'), 60, winterBreak)), '2027-01-04T08:30-05:00');
    assert.equal(wall(nextOpening(at('2026-12-24T09:00'), winterBreak)), '2027-01-04T08:00-05:00');
  });

  void it('a closed date is closed all day, and the hours of the day after are intact', () => {
    assert.equal(isOpen(at('2026-12-31T12:00'), winterBreak), false);
    assert.equal(businessMinutesBetween(at('2026-12-23T00:00'), at('2027-01-05T00:00'), winterBreak), 2 * 540);
  });

  void it('closed dates are local: 2027-01-01 is closed in New York while it is already 2 January in UTC', () => {
    const cal = calendar(days(EVERY_DAY, '00:00', '00:00'), ['2027-01-01']);
    assert.equal(isOpen('2027-01-02T03:00:00Z', cal), false); // 22:00 on 1 January in New York
    assert.equal(isOpen('2027-01-02T05:00:00Z', cal), true); // 00:00 on 2 January
  });

  void it('a year of closures is a clear CalendarSearchLimitError, not an endless loop', () => {
    const mondays: string[] = [];
    for (let d = DateTime.fromISO('2026-09-14', { zone: 'utc' }); d.year < 2028; d = d.plus({ days: 7 })) {
      mondays.push(d.toISODate() ?? '');
    }
    const cal = calendar([{ weekday: 1, open: '08:00', close: '17:00' }], mondays);
    assert.throws(() => nextOpening(at('2026-09-10T09:00'), cal), CalendarSearchLimitError);
    assert.throws(() => addBusinessMinutes(at('2026-09-10T09:00'), 10, cal), /no opening hours in 400 days/);
  });

  void it('an absurd SLA hits the span limit', () => {
    assert.throws(() => addBusinessMinutes(at('2026-09-10T09:00'), 10_000_000, officeHours), CalendarSearchLimitError);
  });
});

void describe('US daylight-saving changes (America/New_York 2026-03-08 and 2026-11-01)', () => {
  const allDay = calendar(days(EVERY_DAY, '00:00', '00:00'));
  const daily = calendar(days(EVERY_DAY, '08:00', '17:00'));

  void it('a 24-hour practice has 1,380 business minutes on the spring-forward day and 1,500 on the fall-back day', () => {
    assert.equal(businessMinutesBetween(at('2026-03-08T00:00'), at('2026-03-09T00:00'), allDay), 1380);
    assert.equal(businessMinutesBetween(at('2026-11-01T00:00'), at('2026-11-02T00:00'), allDay), 1500);
    assert.equal(businessMinutesBetween(at('2026-03-09T00:00'), at('2026-03-10T00:00'), allDay), 1440);
  });

  void it('spring forward: 23:00 EST + 180 minutes is 03:00 EDT (02:00–03:00 does not exist)', () => {
    assert.equal(wall(addBusinessMinutes(at('2026-03-07T23:00'), 180, allDay)), '2026-03-08T03:00-04:00');
  });

  void it('fall back: 23:00 EDT + 180 minutes is the second 01:00 (EST)', () => {
    const deadline = addBusinessMinutes(at('2026-10-31T23:00'), 180, allDay);
    assert.equal(deadline, '2026-11-01T06:00:00.000Z');
    assert.equal(wall(deadline), '2026-11-01T01:00-05:00');
  });

  void it('day-time hours keep their wall-clock times across both changes', () => {
    assert.equal(wall(addBusinessMinutes(at('2026-03-07T16:00'), 120, daily)), '2026-03-08T09:00-04:00');
    assert.equal(wall(addBusinessMinutes(at('2026-10-31T16:00'), 120, daily)), '2026-11-01T09:00-05:00');
    assert.equal(businessMinutesBetween(at('2026-03-07T00:00'), at('2026-03-10T00:00'), daily), 3 * 540);
    assert.equal(businessMinutesBetween(at('2026-10-31T00:00'), at('2026-11-03T00:00'), daily), 3 * 540);
  });

  void it('hours straddling 02:00: 01:00–04:00 is 120 minutes on the spring day and 240 on the fall day', () => {
    const night = calendar([{ weekday: 7, open: '01:00', close: '04:00' }]);
    assert.equal(businessMinutesBetween('2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z', night), 120);
    assert.equal(businessMinutesBetween('2026-10-31T00:00:00Z', '2026-11-03T00:00:00Z', night), 240);
    assert.equal(businessMinutesBetween('2026-03-14T00:00:00Z', '2026-03-17T00:00:00Z', night), 180);
  });

  void it('an opening time that does not exist (02:30 on the spring day) opens when clocks jump to 03:00', () => {
    const cal = calendar([{ weekday: 7, open: '02:30', close: '04:00' }]);
    assert.equal(wall(nextOpening('2026-03-07T12:00:00Z', cal)), '2026-03-08T03:00-04:00');
    assert.equal(businessMinutesBetween('2026-03-07T00:00:00Z', '2026-03-09T00:00:00Z', cal), 60);
    // Hours wholly inside the gap hold no business time that day.
    const inGap = calendar([{ weekday: 7, open: '02:00', close: '02:45' }]);
    assert.equal(businessMinutesBetween('2026-03-07T00:00:00Z', '2026-03-09T00:00:00Z', inGap), 0);
    assert.equal(wall(nextOpening('2026-03-07T12:00:00Z', inGap)), '2026-03-15T02:00-04:00');
  });

  void it('an opening or closing time that happens twice (01:30 on the fall day) means its first occurrence', () => {
    const late = calendar([{ weekday: 7, open: '01:30', close: '03:00' }]);
    assert.equal(nextOpening('2026-11-01T00:00:00Z', late), '2026-11-01T05:30:00.000Z'); // 01:30 EDT
    assert.equal(isOpen('2026-11-01T06:15:00Z', late), true); // 01:15 EST, after opening at 01:30 EDT
    assert.equal(businessMinutesBetween('2026-10-31T00:00:00Z', '2026-11-02T00:00:00Z', late), 150);
    const early = calendar([{ weekday: 7, open: '00:00', close: '01:30' }]);
    assert.equal(isOpen('2026-11-01T05:15:00Z', early), true); // 01:15 EDT
    assert.equal(isOpen('2026-11-01T06:15:00Z', early), false); // 01:15 EST, after closing at 01:30 EDT
    assert.equal(businessMinutesBetween('2026-10-31T00:00:00Z', '2026-11-02T00:00:00Z', early), 90);
  });

  void it('splitting one interval at a missing or repeated time changes nothing', () => {
    const whole = calendar([{ weekday: 7, open: '00:00', close: '05:00' }]);
    for (const split of ['01:30', '02:00', '02:30', '03:00']) {
      const halves = calendar([
        { weekday: 7, open: '00:00', close: split },
        { weekday: 7, open: split, close: '05:00' },
      ]);
      for (const [from, to] of [
        ['2026-03-07T00:00:00Z', '2026-03-09T00:00:00Z'],
        ['2026-10-31T00:00:00Z', '2026-11-02T00:00:00Z'],
      ] as const) {
        assert.equal(businessMinutesBetween(from, to, halves), businessMinutesBetween(from, to, whole), split);
        assert.equal(addBusinessMinutes(from, 200, halves), addBusinessMinutes(from, 200, whole), split);
      }
    }
  });

  void it('zones without DST are unaffected (Phoenix, Honolulu)', () => {
    for (const zone of ['America/Phoenix', 'Pacific/Honolulu']) {
      const cal = calendar(days(EVERY_DAY, '00:00', '00:00'), [], zone);
      assert.equal(businessMinutesBetween(at('2026-03-08T00:00', zone), at('2026-03-09T00:00', zone), cal), 1440);
      assert.equal(businessMinutesBetween(at('2026-11-01T00:00', zone), at('2026-11-02T00:00', zone), cal), 1440);
    }
  });
});

void describe('midnight', () => {
  void it("close '00:00' and '24:00' both mean the end of the day", () => {
    const a = calendar(days([5], '18:00', '00:00'));
    const b = calendar(days([5], '18:00', '24:00'));
    const from = at('2026-09-11T17:00');
    const to = at('2026-09-13T00:00');
    assert.equal(businessMinutesBetween(from, to, a), 360);
    assert.equal(businessMinutesBetween(from, to, b), 360);
    // Landing exactly at midnight stays at midnight (the convention), even though Saturday is closed.
    assert.equal(wall(addBusinessMinutes(at('2026-09-11T23:00'), 60, a)), '2026-09-12T00:00-04:00');
  });

  void it("'23:59' means 23:59: a 24/7 calendar written that way loses a minute a day", () => {
    const cal = calendar(days(EVERY_DAY, '00:00', '23:59'));
    assert.equal(isOpen(at('2026-09-11T23:59:30'), cal), false);
    assert.equal(businessMinutesBetween(at('2026-09-11T00:00'), at('2026-09-12T00:00'), cal), 1439);
  });

  void it('hours running into the next day chain without a gap', () => {
    const cal = calendar([
      { weekday: 5, open: '22:00', close: '00:00' },
      { weekday: 6, open: '00:00', close: '06:00' },
    ]);
    assert.equal(isOpen(at('2026-09-12T00:00'), cal), true);
    assert.equal(wall(addBusinessMinutes(at('2026-09-11T23:30'), 60, cal)), '2026-09-12T00:30-04:00');
  });
});

void describe('nextOpening, isOpen and businessMinutesBetween', () => {
  void it('nextOpening of an open instant is the instant itself, normalised', () => {
    assert.equal(nextOpening('2026-09-10T10:15:30.5-04:00', officeHours), '2026-09-10T14:15:30.500Z');
  });

  void it('businessMinutesBetween is negative when b is before a, zero on closed spans, fractional off the minute', () => {
    const a = at('2026-09-10T09:00');
    const b = at('2026-09-10T10:30');
    assert.equal(businessMinutesBetween(a, b, officeHours), 90);
    assert.equal(businessMinutesBetween(b, a, officeHours), -90);
    assert.equal(businessMinutesBetween(at('2026-09-12T09:00'), at('2026-09-13T18:00'), officeHours), 0);
    assert.ok(
      Object.is(businessMinutesBetween(at('2026-09-13T18:00'), at('2026-09-12T09:00'), officeHours), 0),
      'not -0',
    );
    assert.equal(businessMinutesBetween(a, at('2026-09-10T09:00:30'), officeHours), 0.5);
  });
});

void describe('bad input is a clear error', () => {
  const cases: [string, unknown, RegExp][] = [
    ['no opening hours', { timeZone: NY, hours: [], closedDates: [] }, /no opening hours/],
    ['unknown zone', { timeZone: 'Mars/Olympus', hours: days([1], '08:00', '17:00'), closedDates: [] }, /IANA/],
    ['bad weekday', { timeZone: NY, hours: days([0], '08:00', '17:00'), closedDates: [] }, /hours\[0\]\.weekday/],
    ['weekday 8', { timeZone: NY, hours: days([8], '08:00', '17:00'), closedDates: [] }, /weekday must be 1/],
    [
      'bad open',
      { timeZone: NY, hours: days([1], '8:00', '17:00'), closedDates: [] },
      /hours\[0\]\.open must be HH:mm/,
    ],
    ['24:00 open', { timeZone: NY, hours: days([1], '24:00', '17:00'), closedDates: [] }, /open must be HH:mm/],
    ['bad close', { timeZone: NY, hours: days([1], '08:00', '25:00'), closedDates: [] }, /close must be HH:mm/],
    ['overnight', { timeZone: NY, hours: days([1], '22:00', '06:00'), closedDates: [] }, /not after open.*overnight/],
    ['empty interval', { timeZone: NY, hours: days([1], '08:00', '08:00'), closedDates: [] }, /not after open/],
    ['bad date', { timeZone: NY, hours: days([1], '08:00', '17:00'), closedDates: ['2026-02-30'] }, /closedDates\[0\]/],
    ['date format', { timeZone: NY, hours: days([1], '08:00', '17:00'), closedDates: ['9/7/2026'] }, /YYYY-MM-DD/],
  ];
  for (const [label, cal, message] of cases) {
    void it(`rejects a calendar with ${label}`, () => {
      assert.throws(() => validateBusinessCalendar(cal as BusinessCalendar), InvalidCalendarError);
      assert.throws(() => addBusinessMinutes('2026-09-10T12:00:00Z', 10, cal as BusinessCalendar), message);
    });
  }

  void it('rejects an instant without a zone designator, or not a date at all, without echoing it', () => {
    for (const bad of ['2026-09-10T12:00:00', '2026-09-10', 'yesterday', '2026-13-40T00:00:00Z', '']) {
      assert.throws(
        () => nextOpening(bad, officeHours),
        (err: unknown) =>
          err instanceof InvalidTimeInputError && /atIso/.test(err.message) && !err.message.includes(bad || '\0'),
      );
    }
    assert.throws(() => businessMinutesBetween('2026-09-10T12:00:00Z', 'soon', officeHours), /bIso/);
  });

  void it('rejects negative, fractional and non-finite minutes', () => {
    for (const minutes of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => addBusinessMinutes('2026-09-10T12:00:00Z', minutes, officeHours), InvalidTimeInputError);
    }
  });

  void it('errors carry a stable name for mapping to a non-retryable failure type', () => {
    assert.throws(
      () => validateBusinessCalendar(calendar([])),
      (err: unknown) => err instanceof Error && err.name === 'InvalidCalendarError',
    );
  });
});
