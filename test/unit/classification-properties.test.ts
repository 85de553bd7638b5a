import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  classifyAcuity,
  DEFAULT_TEXT_FLAGS,
  FLAG_CODES,
  flagAcuity,
  loweredCriticalFlags,
  normaliseResultStatus,
  RESULT_STATUS_CODES,
} from '../../domain/classification';
import { ACUITIES, RESULT_SOURCES, RESULT_STATUSES, type Acuity } from '../../domain/lab-result';

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

  void it('a configured mapping wins over every default but a critical one, whatever the spelling of key and flag', () => {
    fc.assert(
      fc.property(termArb, fc.constantFrom(...ACUITIES), fc.boolean(), (flag, acuity, lowerKey) => {
        fc.pre(normalise(flag) !== '');
        const key = lowerKey ? ` ${flag.toLowerCase()} ` : flag.toUpperCase();
        const expected = flagAcuity(flag) === 'critical' ? 'critical' : acuity;
        assert.equal(flagAcuity(flag, { [key]: acuity }), expected);
        assert.equal(classifyAcuity([{ flag: 'N' }, { flag }], { [key]: acuity }), expected);
      }),
    );
  });

  void it('no mapping lowers a critical flag, and the registry check names every mapping that tries', () => {
    const criticalTerm = fc.oneof(
      fc.constantFrom(...Object.keys(FLAG_CODES).filter((k) => FLAG_CODES[k].acuity === 'critical')),
      fc.constantFrom(...Object.keys(DEFAULT_TEXT_FLAGS).filter((k) => DEFAULT_TEXT_FLAGS[k] === 'critical')),
      fc.constantFrom('CRITICAL - CALLED', 'panic value', 'Critically low'),
    );
    // Critical flags in every shape: plain, respelled, coded (HL7 CWE), repeated with another term.
    const criticalFlag = fc.oneof(
      criticalTerm.chain(caseAndSpace),
      fc.tuple(criticalTerm, termArb).map(([c, t]) => `${c}^${t.replace(/\^/g, '')}^HL70078`),
      fc.tuple(termArb, criticalTerm).map(([t, c]) => `${t}^${c}^L`),
      fc.tuple(termArb, criticalTerm).map(([t, c]) => `${t}~${c}`),
    );
    // Mappings aimed at those flags: their terms, whole coded values, source-qualified keys.
    const hostileMapping = fc.tuple(criticalFlag, mappingArb).chain(([flag, extra]) =>
      fc
        .array(
          fc.tuple(
            fc.oneof(
              fc.constant(flag),
              criticalTerm,
              fc.tuple(fc.constantFrom('HL7', 'fhir', 'Athena'), criticalTerm).map(([src, t]) => `${src}:${t}`),
            ),
            fc.constantFrom<Acuity>('normal', 'abnormal'),
          ),
          { minLength: 1, maxLength: 4 },
        )
        .map((entries) => [flag, { ...extra, ...Object.fromEntries(entries) }] as const),
    );
    fc.assert(
      fc.property(hostileMapping, fc.constantFrom(undefined, ...RESULT_SOURCES), ([flag, mapping], source) => {
        assert.equal(flagAcuity(flag, {}, source), 'critical', `${JSON.stringify(flag)} is critical by default`);
        assert.equal(
          flagAcuity(flag, mapping, source),
          'critical',
          `${JSON.stringify(flag)} under ${JSON.stringify(mapping)}`,
        );
        assert.equal(classifyAcuity([{ flag: 'N' }, { flag }], mapping, source), 'critical');
        // Every entry that maps a critical term below critical is named by the registry check.
        const named = new Set(loweredCriticalFlags(mapping).map((x) => x.key));
        for (const [key, acuity] of Object.entries(mapping)) {
          const bare = key.replace(/^(?:hl7|fhir|athena):/i, '');
          if (acuity !== 'critical' && flagAcuity(bare) === 'critical') assert.ok(named.has(key), `${key} is refused`);
          if (named.has(key)) assert.notEqual(acuity, 'critical');
        }
      }),
      { numRuns: 500 },
    );
  });

  void it('a mapping may still lower what is not critical, and raise anything', () => {
    fc.assert(
      fc.property(termArb, fc.constantFrom(...ACUITIES), (flag, acuity) => {
        fc.pre(normalise(flag) !== '' && flagAcuity(flag) !== 'critical');
        assert.equal(flagAcuity(flag, { [flag]: acuity }), acuity);
        assert.deepEqual(loweredCriticalFlags({ [flag]: acuity }), []);
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
