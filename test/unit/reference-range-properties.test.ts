import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  includes,
  intersects,
  parseMeasuredValue,
  parseReferenceRange,
  type Interval,
} from '../../domain/reference-range';

/** Properties of the reference-range and value parsers (domain/reference-range.ts). */

/** A number as labs write it: up to 3 decimals, as text and as the value it means. */
const numberArb = fc
  .tuple(fc.integer({ min: -2000, max: 200_000 }), fc.integer({ min: 0, max: 3 }))
  .map(([n, decimals]) => {
    const value = n / 10 ** decimals;
    return { value, text: value.toFixed(decimals) };
  });
const nonNegativeArb = numberArb.filter((n) => n.value >= 0);

const spaceArb = fc.constantFrom('', ' ', '  ');
const unitsArb = fc.constantFrom(undefined, 'mmol/L', 'mg/dL', '10*3/uL', '%', 'g/dL', 'ng/mL');
const bracketsArb = fc.constantFrom(['', ''], ['(', ')'], ['[', ']']);

void describe('parseReferenceRange (property)', () => {
  void it('reads low-high with every separator, spacing, bracket and unit labs use', () => {
    fc.assert(
      fc.property(
        numberArb,
        numberArb,
        fc.constantFrom('-', '–', '—', '_', ' to ', ' TO ', '..'),
        spaceArb,
        spaceArb,
        unitsArb,
        bracketsArb,
        (a, b, separator, s1, s2, units, [open, close]) => {
          const [low, high] = a.value <= b.value ? [a, b] : [b, a];
          const text = `${open}${s1}${low.text}${s2}${separator}${s2}${high.text}${units === undefined ? '' : ` ${units}`}${close}`;
          const parsed = parseReferenceRange(text);
          assert.deepEqual(
            parsed,
            {
              low: { value: low.value, inclusive: true },
              high: { value: high.value, inclusive: true },
              ...(units === undefined ? {} : { units }),
            },
            text,
          );
        },
      ),
    );
  });

  void it('reads one-sided ranges: <x, <=x, ≤x, >x, >=x, ≥x (with or without units)', () => {
    const sides = [
      ['<', 'high', false],
      ['<=', 'high', true],
      ['≤', 'high', true],
      ['=<', 'high', true],
      ['>', 'low', false],
      ['>=', 'low', true],
      ['≥', 'low', true],
      ['=>', 'low', true],
    ] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...sides),
        nonNegativeArb,
        spaceArb,
        unitsArb,
        ([op, side, inclusive], n, s, units) => {
          const text = `${op}${s}${n.text}${units === undefined ? '' : ` ${units}`}`;
          const expected: Record<string, unknown> = { [side]: { value: n.value, inclusive } };
          if (units !== undefined) expected.units = units;
          assert.deepEqual(parseReferenceRange(text), expected, text);
        },
      ),
    );
  });

  void it('is total, and whatever it reads is a non-empty interval', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.stringMatching(/^[<>=≤≥ 0-9.\-_a-z/%]{0,14}$/)), (text) => {
        const parsed = parseReferenceRange(text);
        if (parsed?.low !== undefined && parsed.high !== undefined) {
          assert.ok(parsed.low.value <= parsed.high.value, text);
        }
      }),
    );
  });

  void it('refuses what it cannot read: text, inverted ranges, a bare number, lists', () => {
    for (const text of [
      'Negative',
      'NEG',
      '',
      'see note',
      '5.1-3.5',
      '4.2',
      '3.5-5.1, 2-3',
      '<>4',
      'a-b',
      '1,000-2,000',
    ]) {
      assert.equal(parseReferenceRange(text), undefined, text);
    }
  });
});

void describe('parseMeasuredValue (property)', () => {
  void it('a plain number is exactly that number', () => {
    fc.assert(
      fc.property(numberArb, spaceArb, (n, s) => {
        const interval = parseMeasuredValue(`${s}${n.text}${s}`);
        assert.ok(interval !== undefined);
        assert.ok(includes(interval, n.value));
        assert.ok(!includes(interval, n.value + 0.0005) && !includes(interval, n.value - 0.0005));
      }),
    );
  });

  void it('a censored value allows exactly the numbers on its side', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('<', '<=', '>', '>='),
        nonNegativeArb,
        fc.double({ min: -1000, max: 300_000, noNaN: true }),
        (op, n, x) => {
          const interval = parseMeasuredValue(`${op}${n.text}`);
          assert.ok(interval !== undefined);
          const expected =
            op === '<' ? x < n.value : op === '<=' ? x <= n.value : op === '>' ? x > n.value : x >= n.value;
          assert.equal(includes(interval, x), expected);
        },
      ),
    );
  });

  void it('is total; text, lists, ratios and thousands separators are not numbers', () => {
    fc.assert(fc.property(fc.string({ maxLength: 16 }), (text) => void parseMeasuredValue(text)));
    for (const text of ['hemolyzed', '1:128', '2+', '1,200', '10-20', '6.9, 7.1', 'TNP', '']) {
      assert.equal(parseMeasuredValue(text), undefined, text);
    }
  });
});

void describe('intersects (property)', () => {
  const boundArb = fc.option(
    fc.record({ value: fc.integer({ min: -20, max: 20 }).map((n) => n / 2), inclusive: fc.boolean() }),
    { nil: undefined },
  );
  const intervalArb: fc.Arbitrary<Interval> = fc
    .record({ low: boundArb, high: boundArb })
    .filter(({ low, high }) => low === undefined || high === undefined || low.value <= high.value)
    .map(({ low, high }) => ({ ...(low !== undefined ? { low } : {}), ...(high !== undefined ? { high } : {}) }));
  // Intervals above have ends on a grid of halves: a grid of quarters samples inside every one.
  const samples = Array.from({ length: 201 }, (_, i) => -25 + i / 4);

  void it('is symmetric and agrees with the numbers both intervals include', () => {
    fc.assert(
      fc.property(intervalArb, intervalArb, (a, b) => {
        assert.equal(intersects(a, b), intersects(b, a));
        const shared = samples.some((x) => includes(a, x) && includes(b, x));
        // Degenerate open intervals (e.g. (1, 1]) include nothing; skip those.
        const aEmpty = !samples.some((x) => includes(a, x));
        const bEmpty = !samples.some((x) => includes(b, x));
        if (!aEmpty && !bEmpty) assert.equal(intersects(a, b), shared, JSON.stringify([a, b]));
      }),
    );
  });
});
