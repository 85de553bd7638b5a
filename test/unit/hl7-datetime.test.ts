import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatHl7DateTime, parseHl7Date, parseHl7DateTime } from '../../api/hl7/datetime';

void describe('parseHl7DateTime', () => {
  const cases: [string, string | undefined][] = [
    ['2024', '2024'],
    ['202403', '2024-03'],
    ['20240305', '2024-03-05'],
    ['2024030514', '2024-03-05T14:00:00'],
    ['202403051430', '2024-03-05T14:30:00'],
    ['20240305143015', '2024-03-05T14:30:15'],
    ['20240305143015.1', '2024-03-05T14:30:15.100'],
    ['20240305143015.1234', '2024-03-05T14:30:15.123'],
    ['20240305143000-0500', '2024-03-05T14:30:00-05:00'],
    ['20240305143000+0530', '2024-03-05T14:30:00+05:30'],
    ['20240305143000+0000', '2024-03-05T14:30:00+00:00'],
    ['20240305-0500', '2024-03-05'],
    ['20240229', '2024-02-29'],
    ['20230229', undefined],
    ['20241301', undefined],
    ['20240132', undefined],
    ['20240305250000', undefined],
    ['20240305146000', undefined],
    ['20240305143000+2500', undefined],
    ['2024-03-05', undefined],
    ['', undefined],
    ['abc', undefined],
  ];
  for (const [input, expected] of cases) {
    void it(`${JSON.stringify(input)} -> ${String(expected)}`, () => assert.equal(parseHl7DateTime(input), expected));
  }

  void it('gives ISO text that Date understands whenever it answers with a time and an offset', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1900-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }), (d) => {
        const hl7 = formatHl7DateTime(d);
        const iso = parseHl7DateTime(hl7);
        assert.ok(iso !== undefined);
        assert.equal(new Date(iso).getTime(), Math.floor(d.getTime() / 1000) * 1000);
      }),
    );
  });
});

void describe('parseHl7Date', () => {
  void it('keeps the date part and refuses partial dates', () => {
    assert.equal(parseHl7Date('19840312'), '1984-03-12');
    assert.equal(parseHl7Date('198403121200'), '1984-03-12');
    assert.equal(parseHl7Date('198403'), undefined);
  });
});
