import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Observation } from '../../domain/lab-result';
import { findPhi, guardSmsBody, INTERPRETATION_WORDS } from '../../domain/phi-guard';
import { genericSms, renderSms, SMS_TEMPLATE_IDS } from '../../domain/sms-templates';

/**
 * The guard against bodies salted with the result's own content: whatever test name, code, value,
 * unit or interpretation word is slipped into a rendered template, anywhere, it is found, and the
 * body that would be sent no longer carries it.
 */

const TEST_NAMES = [
  'Glucose',
  'Hemoglobin A1c',
  'Potassium',
  'Thyroid stimulating hormone',
  'LDL cholesterol',
  'Ferritin',
  'Prostate specific antigen',
  'Chlamydia trachomatis RNA',
  'Vitamin D 25-hydroxy',
  'Creatinine',
  'Hepatitis C antibody',
  'Urine albumin',
];
const UNITS = ['mg/dL', 'mmol/L', 'ng/mL', 'mIU/L', 'g/dL', 'pg/mL', 'U/L', '%', 'mEq/L', 'x10^3/uL'];
const FLAGS = ['H', 'L', 'HH', 'LL', 'A', 'N', 'POS', 'NEG', undefined];
const FIRST_NAMES = ['Dana', 'Sam', 'Maria', 'Jean-Luc', "D'Angelo", 'Renée', 'Mary Jo', 'Ahmed', 'Priya', 'Chen'];

const loincArb = fc
  .tuple(fc.integer({ min: 1000, max: 99999 }), fc.integer({ min: 0, max: 9 }))
  .map(([a, b]) => `${a}-${b}`);
const valueArb = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 1, max: 99 })).map(([a, b]) => `${a}.${b}`),
  fc.constantFrom('Positive', 'Negative', 'Detected', 'Not detected', 'Reactive', 'Nonreactive', '<0.5', '>1000'),
);
const observationArb: fc.Arbitrary<Observation> = fc
  .record({
    code: loincArb,
    name: fc.constantFrom(...TEST_NAMES),
    value: valueArb,
    units: fc.constantFrom(...UNITS),
    flag: fc.constantFrom(...FLAGS),
  })
  .map((o) => {
    const { flag, ...rest } = o;
    return flag === undefined ? rest : { ...rest, flag };
  });
const resultArb = fc.record({
  panelName: fc.constantFrom(...TEST_NAMES),
  panelCode: loincArb,
  observations: fc.array(observationArb, { minLength: 1, maxLength: 4 }),
});

/** A piece of the result (or an interpretation word) as it might be written into a text. */
type GeneratedResult = typeof resultArb extends fc.Arbitrary<infer T> ? T : never;

function saltsOf(r: GeneratedResult): string[] {
  return [
    r.panelName,
    r.panelCode,
    ...r.observations.flatMap((o) => [
      o.name,
      o.code,
      o.value,
      `${o.value} ${o.units ?? ''}`.trim(),
      ...(o.flag !== undefined && o.flag.length > 1 ? [o.flag] : []),
    ]),
    ...INTERPRETATION_WORDS,
  ];
}

function insertAt(body: string, position: number, salt: string): string {
  const words = body.split(' ');
  const at = position % (words.length + 1);
  return [...words.slice(0, at), salt, ...words.slice(at)].join(' ');
}

describe('PHI guard properties (fast-check)', () => {
  it('finds any piece of the result slipped into any template, and the body sent no longer has it', () => {
    fc.assert(
      fc.property(
        resultArb,
        fc.constantFrom(...SMS_TEMPLATE_IDS),
        fc.constantFrom(...FIRST_NAMES),
        fc.nat(),
        fc.nat(),
        fc.constantFrom('lower', 'upper', 'as-is'),
        (result, template, firstName, pick, position, casing) => {
          const salts = saltsOf(result);
          let salt = salts[pick % salts.length];
          if (casing === 'lower') salt = salt.toLowerCase();
          if (casing === 'upper') salt = salt.toUpperCase();
          const body = insertAt(
            renderSms(template, { firstName, practiceName: 'Riverside Family Medicine' }).body,
            position,
            salt,
          );
          assert.ok(findPhi(body, result).length > 0, `missed ${JSON.stringify(salt)} in ${JSON.stringify(body)}`);
          const verdict = guardSmsBody(body, result, genericSms(template).body);
          assert.notEqual(verdict.outcome, 'clean');
          if (verdict.outcome === 'rewritten') {
            assert.equal(verdict.body, genericSms(template).body);
            assert.deepEqual(findPhi(verdict.body, result), []);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('passes every rendered template for ordinary names (no false alarms on the real copy)', () => {
    fc.assert(
      fc.property(
        resultArb,
        fc.constantFrom(...SMS_TEMPLATE_IDS),
        fc.constantFrom(...FIRST_NAMES),
        (result, template, firstName) => {
          const body = renderSms(template, { firstName, practiceName: 'Riverside Family Medicine' }).body;
          assert.deepEqual(guardSmsBody(body, result, genericSms(template).body), {
            outcome: 'clean',
            body,
            findings: [],
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});
