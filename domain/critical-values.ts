import type { Acuity, Observation } from './lab-result';
import { intersects, parseMeasuredValue, parseReferenceRange, type Interval } from './reference-range';
import { sameUnit } from './units';

/**
 * Reading the value itself, not only the lab's flag: a potassium of 7.2 mmol/L that arrives
 * without HH is still a panic value. Two rules, each only ever raising a result's acuity:
 *
 * - a value that is (or, when censored like `>500`, could be) past a critical limit of the
 *   practice's table is critical: a false alarm costs a phone call, a miss costs a text;
 * - a value that is certainly outside its reference range is abnormal.
 *
 * Values are compared with a limit only when their units are the limit's units spelled another way
 * (domain/units.ts); a value or range that does not parse decides nothing. The rules run only when
 * the workflow's policy snapshot carries {@link ValueRules}: workflows started before it existed
 * classify by flags alone, as they did, so their histories replay unchanged.
 */

/** One critical limit (or pair of limits) for an analyte, in one unit. */
export interface CriticalLimit {
  /** LOINC codes this limit applies to: one analyte and property (e.g. serum and blood potassium). */
  loinc: string[];
  /** Short analyte name, for the table's documentation. */
  analyte: string;
  /** The unit the limits are in (UCUM spelling); values in other units are not compared. */
  units: string;
  /** Critical below this value (at or below it with `inclusive`). */
  low?: number;
  /** Critical above this value (at or above it with `inclusive`). */
  high?: number;
  /** Limits given as `≤ low` / `≥ high` (as Mayo's list does) rather than `< low` / `> high`. */
  inclusive?: boolean;
  /** The analyte is a monovalent ion, so mEq/L and mmol/L are the same unit for it. */
  monovalentIon?: boolean;
  /** Where the numbers come from (docs/critical-values.md). */
  source?: string;
}

/** What the workflow needs to read values: snapshotted into the policy when the workflow starts. */
export interface ValueRules {
  criticalLimits: CriticalLimit[];
  /** Whether an unflagged value outside its reference range is abnormal. */
  referenceRanges: boolean;
}

/** A practice's configuration of the table (lib/practices.ts). */
export interface CriticalValuesConfig {
  /** Start from {@link DEFAULT_CRITICAL_LIMITS}; false: the practice's own limits only. */
  defaults: boolean;
  /** The practice's limits: each replaces the defaults for every LOINC code it names. */
  limits: CriticalLimit[];
  /** LOINC codes whose default limits the practice withdrew (after its clinical review). */
  withdraw: string[];
  referenceRanges: boolean;
}

const KOST = 'kost-1990';
const MAYO = 'mayo-clinic-laboratories';
const ARUP = 'arup-2017';

const GLUCOSE = ['2345-7', '2339-0', '14749-6', '15074-8'];
const CALCIUM = ['17861-6', '2000-8'];

/**
 * The shipped default table (sources and review duty: docs/critical-values.md). Every practice must
 * review it with its medical director and its labs' own lists before go-live.
 */
export const DEFAULT_CRITICAL_LIMITS: readonly CriticalLimit[] = [
  {
    loinc: ['2823-3', '6298-4'],
    analyte: 'Potassium',
    units: 'mmol/L',
    low: 2.8,
    high: 6.2,
    monovalentIon: true,
    source: KOST,
  },
  {
    loinc: ['2951-2', '2947-0'],
    analyte: 'Sodium',
    units: 'mmol/L',
    low: 120,
    high: 158,
    monovalentIon: true,
    source: KOST,
  },
  { loinc: GLUCOSE, analyte: 'Glucose', units: 'mg/dL', low: 46, high: 484, source: KOST },
  { loinc: GLUCOSE, analyte: 'Glucose', units: 'mmol/L', low: 2.6, high: 26.9, source: KOST },
  { loinc: CALCIUM, analyte: 'Calcium, total', units: 'mg/dL', low: 6.6, high: 12.9, source: KOST },
  { loinc: CALCIUM, analyte: 'Calcium, total', units: 'mmol/L', low: 1.65, high: 3.22, source: KOST },
  { loinc: ['1994-3'], analyte: 'Calcium, ionized', units: 'mmol/L', low: 0.78, high: 1.58, source: ARUP },
  {
    loinc: ['2028-9', '1963-8'],
    analyte: 'Carbon dioxide / bicarbonate',
    units: 'mmol/L',
    low: 11,
    high: 40,
    monovalentIon: true,
    source: KOST,
  },
  { loinc: ['19123-9'], analyte: 'Magnesium', units: 'mg/dL', low: 1.0, high: 4.9, source: KOST },
  { loinc: ['2777-1'], analyte: 'Phosphate', units: 'mg/dL', low: 1.2, high: 8.9, source: KOST },
  { loinc: ['718-7'], analyte: 'Hemoglobin', units: 'g/dL', low: 6.0, high: 20.0, inclusive: true, source: MAYO },
  { loinc: ['718-7'], analyte: 'Hemoglobin', units: 'g/L', low: 60, high: 200, inclusive: true, source: MAYO },
  { loinc: ['4544-3'], analyte: 'Hematocrit', units: '%', low: 18, source: KOST },
  { loinc: ['777-3'], analyte: 'Platelets', units: '10*3/uL', low: 40, high: 1000, inclusive: true, source: MAYO },
  { loinc: ['6690-2'], analyte: 'Leukocytes (WBC), low', units: '10*3/uL', low: 2.0, source: KOST },
  { loinc: ['6690-2'], analyte: 'Leukocytes (WBC), high', units: '10*3/uL', high: 100, inclusive: true, source: MAYO },
  { loinc: ['751-8'], analyte: 'Neutrophils, absolute', units: '10*3/uL', low: 0.5, inclusive: true, source: MAYO },
  { loinc: ['6301-6', '34714-6'], analyte: 'INR', units: '1', high: 5.0, inclusive: true, source: MAYO },
  { loinc: ['10839-9'], analyte: 'Troponin I, cardiac', units: 'ng/mL', high: 0.3, inclusive: true, source: ARUP },
];

/** The defaults with reference-range checking: what a practice gets unless it configures otherwise. */
export const DEFAULT_VALUE_RULES: ValueRules = { criticalLimits: [...DEFAULT_CRITICAL_LIMITS], referenceRanges: true };

/**
 * The table a practice's workflows use: the defaults (unless switched off) minus the codes the
 * practice withdrew or set limits of its own for, plus the practice's limits.
 */
export function resolveValueRules(
  config: CriticalValuesConfig,
  defaults: readonly CriticalLimit[] = DEFAULT_CRITICAL_LIMITS,
): ValueRules {
  const replaced = new Set([...config.withdraw, ...config.limits.flatMap((l) => l.loinc)].map(loincKey));
  const kept = (config.defaults ? defaults : [])
    .map((limit) => ({ ...limit, loinc: limit.loinc.filter((code) => !replaced.has(loincKey(code))) }))
    .filter((limit) => limit.loinc.length > 0);
  return {
    criticalLimits: [...kept, ...config.limits.map((l) => ({ ...l, loinc: [...l.loinc] }))],
    referenceRanges: config.referenceRanges,
  };
}

function loincKey(code: string): string {
  return code.trim().toUpperCase();
}

/** The parts of an observation the value rules read. */
export type ValueFields = Partial<Pick<Observation, 'code' | 'loinc' | 'value' | 'units' | 'referenceRange'>>;

/**
 * What the value said, for the audit record: the rule only. Neither the value nor the test's code
 * or name is kept (the audit names the observation by its index).
 */
export interface ValueVerdict {
  acuity: Acuity;
  rule?: 'critical-limit' | 'reference-range';
}

const NOTHING: ValueVerdict = { acuity: 'normal' };

function criticalRegions(limit: CriticalLimit): Interval[] {
  const inclusive = limit.inclusive === true;
  const regions: Interval[] = [];
  if (limit.low !== undefined) regions.push({ high: { value: limit.low, inclusive } });
  if (limit.high !== undefined) regions.push({ low: { value: limit.high, inclusive } });
  return regions;
}

/**
 * The acuity the value alone implies under `rules` (normal when it implies nothing: no number, no
 * limit for its code in its units, no readable range). The observation's code is read as LOINC when
 * its source did not name another one (`loinc`): many labs send LOINC in OBX-3.1 without a coding
 * system, and a local code that happened to equal a LOINC code could only raise the acuity.
 */
export function judgeValue(observation: ValueFields, rules: ValueRules): ValueVerdict {
  const measured = parseMeasuredValue(observation.value ?? '');
  if (measured === undefined) return NOTHING;
  const code = loincKey(observation.loinc ?? observation.code ?? '');
  if (code !== '') {
    for (const limit of rules.criticalLimits) {
      if (!limit.loinc.some((c) => loincKey(c) === code)) continue;
      if (!sameUnit(observation.units, limit.units, limit.monovalentIon === true)) continue;
      if (criticalRegions(limit).some((region) => intersects(measured, region))) {
        return { acuity: 'critical', rule: 'critical-limit' };
      }
    }
  }
  if (rules.referenceRanges && observation.referenceRange !== undefined) {
    const range = parseReferenceRange(observation.referenceRange);
    // Range units, when written, must be the value's; unwritten they are the value's (HL7 OBX-7).
    const comparable =
      range !== undefined &&
      (range.units === undefined || (observation.units !== undefined && sameUnit(observation.units, range.units)));
    if (comparable && !intersects(measured, range)) return { acuity: 'abnormal', rule: 'reference-range' };
  }
  return NOTHING;
}
