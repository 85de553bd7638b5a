import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { classifyAcuity, describeAcuityReason, flagAcuity, maxAcuity } from '../../domain/classification';
import {
  DEFAULT_CRITICAL_LIMITS,
  judgeValue,
  resolveValueRules,
  type CriticalValuesConfig,
  type ValueFields,
  type ValueRules,
} from '../../domain/critical-values';
import type { Acuity, Observation } from '../../domain/lab-result';
import { canonicalUnit, sameUnit } from '../../domain/units';
import { parsePracticeRegistry } from '../../lib/practices';
import { sandboxPolicy } from '../fixtures/results';

/** The critical-value table, unit matching, and how value rules combine with flags. */

const DEFAULTS: CriticalValuesConfig = { defaults: true, limits: [], withdraw: [], referenceRanges: true };
const RULES: ValueRules = resolveValueRules(DEFAULTS);
const RANK: Record<Acuity, number> = { normal: 0, abnormal: 1, critical: 2 };

/** LOINC's mod-10 check digit (LOINC Users' Guide, appendix "Calculating Mod 10 check digits"). */
function loincCheckDigitOk(code: string): boolean {
  const match = /^(\d+)-(\d)$/.exec(code);
  if (match === null) return false;
  const digits = [...match[1]].reverse();
  const odd = digits.filter((_, i) => i % 2 === 0).join('');
  const even = digits.filter((_, i) => i % 2 === 1).join('');
  const sum = [...`${even}${String(Number(odd) * 2)}`].reduce((s, d) => s + Number(d), 0);
  return (10 - (sum % 10)) % 10 === Number(match[2]);
}

const potassium = (value: string, extra: Partial<Observation> = {}): ValueFields & { flag?: string } => ({
  code: '2823-3',
  value,
  units: 'mmol/L',
  ...extra,
});

void describe('the default critical-value table', () => {
  void it('every entry names valid LOINC codes, a known unit, a source, and limits in order', () => {
    assert.ok(loincCheckDigitOk('2823-3') && loincCheckDigitOk('718-7') && !loincCheckDigitOk('2823-4'));
    for (const limit of DEFAULT_CRITICAL_LIMITS) {
      for (const code of limit.loinc) assert.ok(loincCheckDigitOk(code), `${limit.analyte}: ${code}`);
      assert.equal(canonicalUnit(limit.units), limit.units, `${limit.analyte}: ${limit.units} is a canonical unit`);
      assert.ok(limit.low !== undefined || limit.high !== undefined, limit.analyte);
      if (limit.low !== undefined && limit.high !== undefined) assert.ok(limit.low < limit.high, limit.analyte);
      assert.ok(['kost-1990', 'mayo-clinic-laboratories', 'arup-2017'].includes(limit.source ?? ''), limit.analyte);
    }
  });

  void it('covers the analytes almost every laboratory lists', () => {
    const covered = new Set(DEFAULT_CRITICAL_LIMITS.flatMap((l) => l.loinc));
    for (const code of ['2823-3', '2951-2', '2345-7', '17861-6', '718-7', '777-3', '6690-2', '6301-6', '10839-9']) {
      assert.ok(covered.has(code), code);
    }
  });

  void it('an unflagged potassium of 7.2 mmol/L is critical; 2.5 too; 4.0 is normal', () => {
    assert.equal(classifyAcuity([potassium('7.2')], {}, 'hl7', RULES), 'critical');
    assert.equal(classifyAcuity([potassium('2.5')], {}, 'hl7', RULES), 'critical');
    assert.equal(classifyAcuity([potassium('4.0')], {}, 'hl7', RULES), 'normal');
    assert.deepEqual(describeAcuityReason([{ flag: 'N' }, potassium('7.2')], {}, 'hl7', RULES).drivers, [
      { index: 1, acuity: 'critical', rule: 'critical-limit' },
    ]);
  });

  void it('limits are strict (Kost) or inclusive (Mayo) as their source gives them', () => {
    assert.equal(classifyAcuity([potassium('6.2')], {}, 'hl7', RULES), 'normal', 'K > 6.2, not ≥');
    assert.equal(classifyAcuity([potassium('6.21')], {}, 'hl7', RULES), 'critical');
    const hgb = (value: string) => ({ code: '718-7', value, units: 'g/dL' });
    assert.equal(classifyAcuity([hgb('6.0')], {}, 'hl7', RULES), 'critical', 'Hgb ≤ 6.0');
    assert.equal(classifyAcuity([hgb('6.1')], {}, 'hl7', RULES), 'normal');
    assert.equal(classifyAcuity([{ code: '6301-6', value: '5.0' }], {}, 'hl7', RULES), 'critical', 'INR ≥ 5, no units');
  });

  void it('the LOINC code named by the source wins over a local OBX-3.1 code', () => {
    assert.equal(
      classifyAcuity([potassium('7.2', { code: 'K-LOCAL', loinc: '2823-3' })], {}, 'hl7', RULES),
      'critical',
    );
    assert.equal(classifyAcuity([potassium('7.2', { code: 'K-LOCAL' })], {}, 'hl7', RULES), 'normal');
  });

  void it('censored values: past the limit or possibly past it is critical; wholly inside it is not', () => {
    const glucose = (value: string) => ({ code: '2345-7', value, units: 'mg/dL' });
    assert.equal(classifyAcuity([glucose('>500')], {}, 'hl7', RULES), 'critical');
    assert.equal(classifyAcuity([glucose('>400')], {}, 'hl7', RULES), 'critical', 'could be above 484');
    assert.equal(classifyAcuity([glucose('<20')], {}, 'hl7', RULES), 'critical');
    assert.equal(classifyAcuity([{ code: '10839-9', value: '<0.01', units: 'ng/mL' }], {}, 'hl7', RULES), 'normal');
  });
});

void describe('units are never compared blindly', () => {
  void it('spellings of one unit match; mEq/L is mmol/L only for monovalent ions', () => {
    assert.ok(sameUnit('mmol/l', 'mmol/L') && sameUnit('MMOL/L', 'mmol/L') && sameUnit(' mmol/L ', 'mmol/L'));
    assert.ok(sameUnit('K/uL', '10*3/uL') && sameUnit('x10E9/L', '10*3/uL') && sameUnit('µg/L', 'ng/mL'));
    assert.ok(!sameUnit('mEq/L', 'mmol/L') && sameUnit('mEq/L', 'mmol/L', true));
    assert.ok(!sameUnit('mg/dL', 'mmol/L') && !sameUnit('g/L', 'g/dL') && !sameUnit('10*3/mL', '10*3/uL'));
    assert.ok(!sameUnit(undefined, 'mmol/L') && sameUnit(undefined, '1') && !sameUnit('s', '1'));
  });

  void it('a potassium in mEq/L is compared; a calcium in mEq/L (divalent) or a glucose in unknown units is not', () => {
    assert.equal(classifyAcuity([potassium('7.2', { units: 'mEq/L' })], {}, 'hl7', RULES), 'critical');
    assert.equal(classifyAcuity([{ code: '17861-6', value: '14', units: 'mEq/L' }], {}, 'hl7', RULES), 'normal');
    assert.equal(classifyAcuity([{ code: '17861-6', value: '14', units: 'mg/dL' }], {}, 'hl7', RULES), 'critical');
    assert.equal(classifyAcuity([{ code: '2345-7', value: '30', units: 'mg%' }], {}, 'hl7', RULES), 'normal');
    assert.equal(classifyAcuity([potassium('7.2', { units: undefined })], {}, 'hl7', RULES), 'normal');
  });

  void it('a reference range with units of its own is compared only when they are the value’s', () => {
    assert.equal(judgeValue(potassium('5.5', { referenceRange: '3.5-5.1' }), RULES).acuity, 'abnormal');
    assert.equal(judgeValue(potassium('5.5', { referenceRange: '3.5-5.1 mmol/l' }), RULES).acuity, 'abnormal');
    assert.equal(judgeValue(potassium('5.5', { referenceRange: '3.5-5.1 mg/dL' }), RULES).acuity, 'normal');
    assert.equal(judgeValue({ code: 'X', value: '5.5', referenceRange: '3.5-5.1 mmol/L' }, RULES).acuity, 'normal');
  });
});

void describe('reference ranges', () => {
  const obs = (value: string, referenceRange: string) => ({ code: 'LOCAL-1', value, units: 'mg/dL', referenceRange });

  void it('an unflagged value outside its range is abnormal, inside it normal, in every form', () => {
    const cases: [string, string, Acuity][] = [
      ['187', '<200', 'normal'],
      ['200', '<200', 'abnormal'],
      ['200', '<=200', 'normal'],
      ['39', '>40', 'abnormal'],
      ['40', '>=40', 'normal'],
      ['110', '70_105', 'abnormal'],
      ['70', '70-105', 'normal'],
      ['69.9', '70 - 105', 'abnormal'],
      ['<5', '<=10 mg/dL', 'normal'],
      ['>500', '70-105', 'abnormal'],
      ['<5', '3-10', 'normal'],
    ];
    for (const [value, range, expected] of cases) {
      assert.equal(classifyAcuity([obs(value, range)], {}, 'hl7', RULES), expected, `${value} vs ${range}`);
    }
  });

  void it('a practice may switch range checking off; flags still decide', () => {
    const off = resolveValueRules({ ...DEFAULTS, referenceRanges: false });
    assert.equal(classifyAcuity([obs('250', '<200')], {}, 'hl7', off), 'normal');
    assert.equal(classifyAcuity([{ ...obs('250', '<200'), flag: 'H' }], {}, 'hl7', off), 'abnormal');
  });
});

void describe('resolving a practice table', () => {
  void it('a practice limit replaces the defaults for the codes it names; withdrawn codes are gone', () => {
    const rules = resolveValueRules({
      ...DEFAULTS,
      limits: [{ loinc: ['2823-3'], analyte: 'Potassium', units: 'mmol/L', low: 3.0, high: 6.0, monovalentIon: true }],
      withdraw: ['10839-9'],
    });
    assert.equal(classifyAcuity([potassium('6.1')], {}, 'hl7', rules), 'critical', 'the practice says > 6.0');
    assert.equal(
      classifyAcuity([potassium('6.1', { code: '6298-4' })], {}, 'hl7', rules),
      'normal',
      'blood K keeps 6.2',
    );
    assert.equal(classifyAcuity([{ code: '10839-9', value: '2', units: 'ng/mL' }], {}, 'hl7', rules), 'normal');
    assert.equal(DEFAULT_CRITICAL_LIMITS.find((l) => l.analyte === 'Potassium')?.loinc.length, 2, 'defaults untouched');
  });

  void it('defaults off: only the practice limits', () => {
    const rules = resolveValueRules({ ...DEFAULTS, defaults: false });
    assert.deepEqual(rules.criticalLimits, []);
  });

  void it('the registry resolves valueRules at load; the sandbox practice gets the defaults', () => {
    const policy = sandboxPolicy();
    assert.deepEqual(policy.valueRules, RULES);
    assert.equal('criticalValues' in policy, false, 'the configuration is resolved, not snapshotted as is');
  });

  void it('the registry refuses limits it cannot use, naming the field', () => {
    const base = JSON.parse(JSON.stringify({ practices: [{ policy: { ...sandboxPolicy() }, routing: {} }] })) as {
      practices: [{ policy: Record<string, unknown> }];
    };
    delete base.practices[0].policy.valueRules;
    const withLimits = (limits: unknown[], withdraw: string[] = []) => {
      base.practices[0].policy.criticalValues = { limits, withdraw };
      return () => parsePracticeRegistry(base);
    };
    assert.throws(
      withLimits([{ loinc: ['2823-3'], analyte: 'K', units: 'mmol/L', low: 7, high: 3 }]),
      /low must be below high/,
    );
    assert.throws(
      withLimits([{ loinc: ['K'], analyte: 'K', units: 'mmol/L', high: 6 }]),
      /criticalValues\.limits\.0\.loinc\.0/,
    );
    assert.throws(withLimits([{ loinc: ['2823-3'], analyte: 'K', units: 'mmol/L' }]), /needs low, high or both/);
    assert.throws(withLimits([], ['potassium']), /criticalValues\.withdraw\.0/);
    const ok = withLimits([{ loinc: ['2823-3'], analyte: 'K', units: 'mmol/L', high: 6 }])();
    assert.equal(ok.policy('195900')?.valueRules?.criticalLimits.at(-1)?.high, 6);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties: more severe wins, unparsable never lowers, no rules means flags alone.

const flagArb = fc.constantFrom(undefined, '', 'N', 'H', 'L', 'HH', 'LL', 'A', 'AA', 'NEG', 'POS', 'CRITICAL', 'XYZ');
const valueArb = fc.oneof(
  fc.double({ min: -10, max: 2000, noNaN: true }).map((n) => String(Math.round(n * 100) / 100)),
  fc.constantFrom('<', '>', '<=', '>=').chain((op) => fc.integer({ min: 0, max: 600 }).map((n) => `${op}${n}`)),
  fc.string({ maxLength: 10 }),
  fc.constantFrom('hemolyzed', 'TNP', 'see note', '1,200', '6.9, 7.1', ''),
);
const codeArb = fc.constantFrom(...new Set(DEFAULT_CRITICAL_LIMITS.flatMap((l) => l.loinc)), 'LOCAL-9', '1234-5');
const unitsArb = fc.constantFrom(
  undefined,
  'mmol/L',
  'mEq/L',
  'mg/dL',
  'g/dL',
  '10*3/uL',
  'K/uL',
  '%',
  'ng/mL',
  'sec',
  '',
);
const rangeArb = fc.constantFrom(undefined, '3.5-5.1', '<200', '>40', '70_105', '12-16 g/dL', 'Negative', '');
const observationArb = fc.record(
  { flag: flagArb, value: valueArb, code: codeArb, units: unitsArb, referenceRange: rangeArb },
  { requiredKeys: ['value', 'code'] },
);

void describe('value rules and flags (property)', () => {
  void it('the more severe of flag and value wins, observation by observation', () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const expected = maxAcuity(flagAcuity(o.flag), judgeValue(o, RULES).acuity);
        assert.equal(classifyAcuity([o], {}, 'hl7', RULES), expected);
      }),
    );
  });

  void it('value rules never lower a result: with them it is at least as severe as by flags alone', () => {
    fc.assert(
      fc.property(fc.array(observationArb, { maxLength: 6 }), (observations) => {
        const byFlags = classifyAcuity(observations, {}, 'hl7');
        const withValues = classifyAcuity(observations, {}, 'hl7', RULES);
        assert.ok(RANK[withValues] >= RANK[byFlags], `${withValues} < ${byFlags}`);
      }),
    );
  });

  void it('a value that does not parse leaves the flag’s verdict exactly as it is', () => {
    const unparsable = fc.constantFrom('hemolyzed', 'TNP', 'see note', '1,200', '6.9, 7.1', '', 'QNS', '7.2 H');
    fc.assert(
      fc.property(observationArb, unparsable, (o, value) => {
        const observation = { ...o, value };
        assert.equal(classifyAcuity([observation], {}, 'hl7', RULES), flagAcuity(o.flag));
      }),
    );
  });

  void it('without value rules (histories from before them) flags alone decide, whatever the values', () => {
    fc.assert(
      fc.property(fc.array(observationArb, { maxLength: 6 }), (observations) => {
        const flagsOnly = observations.map((o) => (o.flag === undefined ? {} : { flag: o.flag }));
        assert.equal(classifyAcuity(observations, {}, 'hl7', undefined), classifyAcuity(flagsOnly, {}, 'hl7'));
      }),
    );
  });

  void it('a potassium past its limit is critical whatever its flag; inside the limits the flag (or range) decides', () => {
    fc.assert(
      fc.property(flagArb, fc.double({ min: 0, max: 12, noNaN: true }), (flag, x) => {
        const value = x.toFixed(2);
        const acuity = classifyAcuity([{ ...potassium(value), flag }], {}, 'hl7', RULES);
        const n = Number(value);
        if (n < 2.8 || n > 6.2) assert.equal(acuity, 'critical', value);
        else assert.equal(acuity, flagAcuity(flag), value);
      }),
    );
  });
});
