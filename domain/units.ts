/**
 * Units of measure, compared only where the comparison is known to be sound. A value and a limit
 * are compared when their units are the same unit spelled differently (`mmol/L`, `mmol/l`,
 * `MMOL/L`; `10*3/uL`, `K/uL`, `x10E9/L`) and otherwise not at all: there is no conversion factor
 * anywhere here, so `mg/dL` is never read as `mmol/L`, and a unit we do not know is compared only
 * with the identical spelling.
 *
 * Case is ignored only for the spellings listed below, which is what UCUM's case-insensitive form
 * does for them (`MMOL/L` is the case-insensitive spelling of mmol/L; mega would be `MA`).
 */

/** Canonical (UCUM) unit → the spellings labs send for exactly that unit. */
const SPELLINGS: Readonly<Record<string, readonly string[]>> = {
  'mmol/L': ['mmol/L', 'mmol/l', 'mM', 'mmol per L', 'millimol/L'],
  'mEq/L': ['mEq/L', 'meq/L', 'mEq/l', 'meq/l', 'meq per L'],
  'umol/L': ['umol/L', 'umol/l', 'µmol/L', 'μmol/L', 'mcmol/L'],
  'mg/dL': ['mg/dL', 'mg/dl', 'mg per dL', 'mg/100mL', 'mg/100 mL'],
  'g/dL': ['g/dL', 'g/dl', 'gm/dL', 'gm/dl', 'g per dL'],
  'g/L': ['g/L', 'g/l'],
  // 10^3 per microlitre is 10^9 per litre exactly: one unit, many spellings.
  '10*3/uL': [
    '10*3/uL',
    '10^3/uL',
    '10E3/uL',
    'x10E3/uL',
    'x10^3/uL',
    'x10*3/uL',
    'x10(3)/uL',
    '10(3)/uL',
    'K/uL',
    'K/µL',
    'K/μL',
    'K/mcL',
    'thou/uL',
    '10*3/µL',
    '10^3/µL',
    '10*3/mm3',
    '10^3/mm3',
    '10*9/L',
    '10^9/L',
    '10E9/L',
    'x10E9/L',
    'x10^9/L',
    'x10*9/L',
    'x10(9)/L',
    '10(9)/L',
  ],
  '%': ['%', 'percent', 'pct'],
  // 1 ng/mL = 1 µg/L exactly.
  'ng/mL': ['ng/mL', 'ng/ml', 'ug/L', 'µg/L', 'μg/L', 'mcg/L'],
  'ng/L': ['ng/L', 'ng/l', 'pg/mL', 'pg/ml'],
  // Dimensionless (INR): no units, or a spelling of "ratio".
  '1': ['', '1', '{INR}', 'INR', '{ratio}', 'ratio', '{RATIO}'],
};

/** The monovalent-ion identity: 1 mEq = 1 mmol when the ion carries one charge (Na⁺, K⁺, Cl⁻, HCO₃⁻). */
const MONOVALENT_EQUIVALENTS: ReadonlySet<string> = new Set(['mmol/L', 'mEq/L']);

const BY_SPELLING: ReadonlyMap<string, string> = spellingIndex();

/** Spelling (case ignored) → canonical unit. Two units that share a case-folded spelling are a bug here. */
function spellingIndex(): Map<string, string> {
  const index = new Map<string, string>();
  for (const [canonical, spellings] of Object.entries(SPELLINGS)) {
    for (const spelling of spellings) {
      const key = spellingKey(spelling);
      const taken = index.get(key);
      if (taken !== undefined && taken !== canonical) {
        throw new Error(`unit spelling ${JSON.stringify(spelling)} would mean both ${taken} and ${canonical}`);
      }
      index.set(key, canonical);
    }
  }
  return index;
}

function spellingKey(units: string): string {
  return units.replace(/\s+/g, ' ').trim().toLowerCase();
}

/** The canonical spelling of `units`, or the units as sent (trimmed) when we do not know them. */
export function canonicalUnit(units: string | undefined): string {
  const trimmed = (units ?? '').replace(/\s+/g, ' ').trim();
  return BY_SPELLING.get(spellingKey(trimmed)) ?? trimmed;
}

/**
 * Whether a value in `observed` units may be compared with a limit in `expected` units. With
 * `monovalentIon`, mEq/L and mmol/L are one unit (the limit's analyte is a monovalent ion).
 */
export function sameUnit(observed: string | undefined, expected: string, monovalentIon = false): boolean {
  const a = canonicalUnit(observed);
  const b = canonicalUnit(expected);
  if (a === b) return true;
  return monovalentIon && MONOVALENT_EQUIVALENTS.has(a) && MONOVALENT_EQUIVALENTS.has(b);
}
