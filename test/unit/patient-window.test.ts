import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DateTime } from 'luxon';
import {
  DEFAULT_PATIENT_WINDOW,
  InvalidPatientWindowError,
  isInsidePatientWindow,
  nextPatientSendTime,
  NoCommonSendWindowError,
} from '../../domain/patient-window';
import { InvalidTimeInputError } from '../../domain/business-calendar';

const TCPA = DEFAULT_PATIENT_WINDOW;

function at(local: string, zone: string): string {
  const dt = DateTime.fromISO(local, { zone });
  assert.ok(dt.isValid, `bad fixture time ${local}`);
  return dt.toUTC().toISO() ?? '';
}

function wall(iso: string, zone: string): string {
  return DateTime.fromISO(iso, { zone }).toFormat("yyyy-MM-dd'T'HH:mmZZ");
}

void describe('nextPatientSendTime in one zone', () => {
  const CHI = 'America/Chicago';

  void it('signed at 22:10 America/Chicago → 08:00 the next morning', () => {
    assert.equal(wall(nextPatientSendTime(at('2026-05-12T22:10', CHI), [CHI], TCPA), CHI), '2026-05-13T08:00-05:00');
  });

  void it('before 08:00 → 08:00 the same day', () => {
    assert.equal(wall(nextPatientSendTime(at('2026-05-12T06:59', CHI), [CHI], TCPA), CHI), '2026-05-12T08:00-05:00');
  });

  void it('inside the window → the instant itself, normalised to UTC', () => {
    assert.equal(nextPatientSendTime('2026-05-12T14:30:00-05:00', [CHI], TCPA), '2026-05-12T19:30:00.000Z');
  });

  void it('the window is [start, end): 08:00 is inside, 21:00 is not', () => {
    assert.equal(isInsidePatientWindow(at('2026-05-12T08:00', CHI), [CHI], TCPA), true);
    assert.equal(isInsidePatientWindow(at('2026-05-12T20:59:59.999', CHI), [CHI], TCPA), true);
    assert.equal(isInsidePatientWindow(at('2026-05-12T21:00', CHI), [CHI], TCPA), false);
    assert.equal(wall(nextPatientSendTime(at('2026-05-12T21:00', CHI), [CHI], TCPA), CHI), '2026-05-13T08:00-05:00');
  });

  void it('weekends and holidays do not matter to the patient window', () => {
    assert.equal(wall(nextPatientSendTime(at('2026-12-24T23:00', CHI), [CHI], TCPA), CHI), '2026-12-25T08:00-06:00');
  });

  void it('keeps 08:00 local across DST changes', () => {
    const NY = 'America/New_York';
    assert.equal(wall(nextPatientSendTime(at('2026-03-07T22:00', NY), [NY], TCPA), NY), '2026-03-08T08:00-04:00');
    assert.equal(wall(nextPatientSendTime(at('2026-10-31T22:00', NY), [NY], TCPA), NY), '2026-11-01T08:00-05:00');
  });

  void it('honours a narrower practice window', () => {
    const ny = 'America/New_York';
    const window = { start: '09:00', end: '18:30' };
    assert.equal(wall(nextPatientSendTime(at('2026-05-12T18:30', ny), [ny], window), ny), '2026-05-13T09:00-04:00');
  });
});

void describe('nextPatientSendTime across candidate zones (the intersection)', () => {
  void it('New York and Los Angeles: 10:00 ET waits for 08:00 PT (11:00 ET)', () => {
    const zones = ['America/New_York', 'America/Los_Angeles'];
    const next = nextPatientSendTime(at('2026-05-12T10:00', 'America/New_York'), zones, TCPA);
    assert.equal(wall(next, 'America/New_York'), '2026-05-12T11:00-04:00');
    assert.equal(wall(next, 'America/Los_Angeles'), '2026-05-12T08:00-07:00');
  });

  void it('New York and Los Angeles: 18:30 PT (21:30 ET) waits for 11:00 ET the next day', () => {
    const zones = ['America/Los_Angeles', 'America/New_York'];
    const next = nextPatientSendTime(at('2026-05-12T18:30', 'America/Los_Angeles'), zones, TCPA);
    assert.equal(wall(next, 'America/New_York'), '2026-05-13T11:00-04:00');
  });

  void it('Honolulu and New York meet only 14:00–21:00 ET in summer (13:00–21:00 in winter)', () => {
    const zones = ['Pacific/Honolulu', 'America/New_York'];
    assert.equal(
      wall(nextPatientSendTime(at('2026-07-01T09:00', 'America/New_York'), zones, TCPA), 'America/New_York'),
      '2026-07-01T14:00-04:00',
    );
    assert.equal(
      wall(nextPatientSendTime(at('2026-12-01T09:00', 'America/New_York'), zones, TCPA), 'America/New_York'),
      '2026-12-01T13:00-05:00',
    );
  });

  void it('windows that meet only in one season are found months ahead (Phoenix and Denver, 08:00–09:00)', () => {
    const zones = ['America/Phoenix', 'America/Denver'];
    const next = nextPatientSendTime('2026-07-01T12:00:00Z', zones, { start: '08:00', end: '09:00' });
    assert.equal(next, '2026-11-01T15:00:00.000Z'); // Denver back on MST, the same clock as Phoenix
  });

  void it('duplicate zones change nothing', () => {
    const t = at('2026-05-12T22:10', 'America/Chicago');
    assert.equal(
      nextPatientSendTime(t, ['America/Chicago', 'America/Chicago'], TCPA),
      nextPatientSendTime(t, ['America/Chicago'], TCPA),
    );
  });

  void it('zones 12 hours apart with a short window have no common time: a named error', () => {
    assert.throws(
      () =>
        nextPatientSendTime('2026-05-12T12:00:00Z', ['Pacific/Honolulu', 'Europe/Athens'], {
          start: '08:00',
          end: '12:00',
        }),
      (err: unknown) => err instanceof NoCommonSendWindowError && err.name === 'NoCommonSendWindowError',
    );
  });

  void it('isInsidePatientWindow needs every zone', () => {
    const zones = ['America/New_York', 'America/Los_Angeles'];
    assert.equal(isInsidePatientWindow(at('2026-05-12T10:00', 'America/New_York'), zones, TCPA), false);
    assert.equal(isInsidePatientWindow(at('2026-05-12T11:00', 'America/New_York'), zones, TCPA), true);
    assert.equal(isInsidePatientWindow(at('2026-05-12T20:59', 'America/New_York'), zones, TCPA), true);
    assert.equal(isInsidePatientWindow(at('2026-05-12T21:00', 'America/New_York'), zones, TCPA), false);
  });
});

void describe('bad input is a clear error', () => {
  const t = '2026-05-12T12:00:00Z';
  const cases: [string, () => unknown, RegExp][] = [
    ['no zones', () => nextPatientSendTime(t, [], TCPA), /at least one/],
    ['unknown zone', () => nextPatientSendTime(t, ['America/Chicago', 'Nowhere/Land'], TCPA), /zones\[1\]/],
    ['bad start', () => nextPatientSendTime(t, ['America/Chicago'], { start: '8am', end: '21:00' }), /window\.start/],
    ['bad end', () => isInsidePatientWindow(t, ['America/Chicago'], { start: '08:00', end: '25:00' }), /window\.end/],
    [
      'overnight window',
      () => nextPatientSendTime(t, ['America/Chicago'], { start: '21:00', end: '08:00' }),
      /after window\.start/,
    ],
    ['empty window', () => nextPatientSendTime(t, ['America/Chicago'], { start: '08:00', end: '08:00' }), /after/],
  ];
  for (const [label, call, message] of cases) {
    void it(`rejects ${label}`, () => {
      assert.throws(call, (err: unknown) => err instanceof InvalidPatientWindowError && message.test(err.message));
    });
  }

  void it('rejects an instant without a zone designator', () => {
    assert.throws(() => nextPatientSendTime('2026-05-12T12:00', ['America/Chicago'], TCPA), InvalidTimeInputError);
  });

  void it("an end of '00:00' means midnight", () => {
    const zone = 'America/Chicago';
    assert.equal(isInsidePatientWindow(at('2026-05-12T23:59', zone), [zone], { start: '08:00', end: '00:00' }), true);
  });
});
