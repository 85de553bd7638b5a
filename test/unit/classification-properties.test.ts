import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  classifyAcuity,
  DEFAULT_TEXT_FLAGS,
  FLAG_CODES,
  flagAcuity,
  normaliseResultStatus,
  RESULT_STATUS_CODES,
} from '../../domain/classification';
import { ACUITIES, RESULT_STATUSES, type Acuity } from '../../domain/lab-result';

/** Properties of acuity over random observation lists and of status over random text. */

const RANK: Record<Acuity, number> = { normal: 0, abnormal: 1, critical: 2 };

/** Everything that may legitimately read as normal, in normalised form. */
const NORMAL_SPELLINGS = new Set([
  'N',
  'NEG',
  'ND',
  'NR',
  'EXP',
  'NORMAL',
  'NEGATIVE',
  'NOT DETECTED',
  'NON-REACTIVE',
  'NONREACTIVE',
  'NON REACTIVE',
  'WITHIN NORMAL LIMITS',
  'EXPECTED',
]);

const caseAndSpace = (text: string): fc.Arbitrary<string> =>
  fc
    .tuple(fc.boolean(), fc.constantFrom('', ' ', '  ', '\t'), fc.constantFrom('', ' ', '\t '))
    .map(([lower, before, after]) => `${before}${lower ? text.toLowerCase() : text}${after}`);

/** A single flag value: a known code or text (in any case/spacing), or arbitrary text. */
const termArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...Object.keys(FLAG_CODES)).chain(caseAndSpace),
  fc.constantFrom(...Object.keys(DEFAULT_TEXT_FLAGS)).chain(caseAndSpace),
  fc.string({ maxLength: 12 }).filter((s) => !s.includes('~') && !s.includes('^')),
);

const flagArb: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  termArb,
  fc.array(termArb, { minLength: 2, maxLength: 3 }).map((parts) => parts.join('~')),
);

const observationsArb = fc.array(
  flagArb.map((flag) => (flag === undefined ? {} : { flag })),
  { maxLength: 8 },
);

const mappingArb: fc.Arbitrary<Record<string, Acuity>> = fc.dictionary(
  fc.oneof(fc.constantFrom('<', '>', 'H', 'HH', 'N', 'ABNORMAL', 'XYZ'), fc.string({ minLength: 1, maxLength: 6 })),
  fc.constantFrom(...ACUITIES),
  { maxKeys: 4 },
);

const normalise = (text: string): string => text.trim().replace(/\s+/g, ' ').toUpperCase();

void describe('acuity properties', () => {
  void it('the result acuity is the maximum over its observations', () => {
    fc.assert(
      fc.property(observationsArb, mappingArb, (observations, mapping) => {
        const expected = observations
          .map((o) => flagAcuity(o.flag, mapping))
          .reduce<Acuity>((a, b) => (RANK[b] > RANK[a] ? b : a), 'normal');
        assert.equal(classifyAcuity(observations, mapping), expected);
      }),
    );
  });

  void it('adding an observation never lowers the acuity', () => {
    fc.assert(
      fc.property(observationsArb, flagArb, mappingArb, (observations, flag, mapping) => {
        const before = classifyAcuity(observations, mapping);
        const after = classifyAcuity([...observations, flag === undefined ? {} : { flag }], mapping);
        assert.ok(RANK[after] >= RANK[before], `${before} -> ${after}`);
      }),
    );
  });

  void it('the order of observations does not matter', () => {
    const withPermutation = observationsArb.chain((observations) =>
      fc
        .shuffledSubarray(observations, { minLength: observations.length, maxLength: observations.length })
        .map((shuffled) => [observations, shuffled] as const),
    );
    fc.assert(
      fc.property(withPermutation, mappingArb, ([observations, shuffled], mapping) => {
        assert.equal(classifyAcuity(shuffled, mapping), classifyAcuity(observations, mapping));
      }),
    );
  });

  void it('a repeating flag is the maximum of its repetitions', () => {
    fc.assert(
      fc.property(termArb, termArb, (a, b) => {
        const expected = RANK[flagAcuity(a)] >= RANK[flagAcuity(b)] ? flagAcuity(a) : flagAcuity(b);
        assert.equal(flagAcuity(`${a}~${b}`), expected);
      }),
    );
  });

  void it('a configured mapping wins over every default, whatever the spelling of key and flag', () => {
    fc.assert(
      fc.property(termArb, fc.constantFrom(...ACUITIES), fc.boolean(), (flag, acuity, lowerKey) => {
        fc.pre(normalise(flag) !== '');
        const key = lowerKey ? ` ${flag.toLowerCase()} ` : flag.toUpperCase();
        assert.equal(flagAcuity(flag, { [key]: acuity }), acuity);
        assert.equal(
          classifyAcuity([{ flag: 'N' }, { flag }], { [key]: acuity }),
          acuity === 'normal' ? 'normal' : acuity,
        );
      }),
    );
  });

  void it('an unrecognised flag is never normal', () => {
    fc.assert(
      fc.property(termArb, (flag) => {
        const key = normalise(flag);
        if (key === '' || NORMAL_SPELLINGS.has(key)) return;
        assert.notEqual(flagAcuity(flag), 'normal', JSON.stringify(flag));
      }),
      { numRuns: 500 },
    );
  });
});

void describe('status properties', () => {
  void it('every input maps to exactly one status, and unknown text is preliminary', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), (raw) => {
        const status = normaliseResultStatus(raw);
        assert.ok((RESULT_STATUSES as readonly string[]).includes(status));
        const key = (raw ?? '').toUpperCase().replace(/[^A-Z0-9]/g, '');
        if (RESULT_STATUS_CODES[key] === undefined) assert.equal(status, 'preliminary');
      }),
      { numRuns: 500 },
    );
  });

  void it('case, spacing and hyphens do not change a known status', () => {
    const spelled = fc
      .tuple(fc.constantFrom(...Object.keys(RESULT_STATUS_CODES)), fc.boolean(), fc.constantFrom('', ' ', '\t'))
      .map(([code, lower, pad]) => [code, `${pad}${lower ? code.toLowerCase() : code}${pad}`] as const);
    fc.assert(
      fc.property(spelled, ([code, variant]) => {
        assert.equal(normaliseResultStatus(variant), RESULT_STATUS_CODES[code]?.status);
      }),
    );
  });
});
