/**
 * Numbers in lab results, read as intervals: a reported value (`7.2`, `<0.01`, `>500`) is the set
 * of true values it allows, and a reference range (`3.5-5.1`, `<200`, `>=40`, `70_105`) is the set
 * of values its lab calls normal. Anything that is not plainly one of these forms is not a number
 * here (`undefined`): callers then decide nothing from it, so an unreadable value can never make
 * a result look better than its flags say.
 */

/** One end of an interval; absent means unbounded. */
export interface Bound {
  value: number;
  inclusive: boolean;
}

/** A set of real numbers `lo … hi`; either end may be open-ended. */
export interface Interval {
  low?: Bound;
  high?: Bound;
}

/** A reference range as parsed: the normal interval, and the units written in the range text, if any. */
export interface ReferenceRange extends Interval {
  units?: string;
}

const NUMBER = String.raw`[+-]?(?:\d+(?:\.\d*)?|\.\d+)`;
/** `<`, `<=`, `≤`, `=<`, `>`, `>=`, `≥`, `=>`, `=`; HL7 SN comparators are among them. */
const COMPARATOR = String.raw`<=|=<|≤|>=|=>|≥|<>|<|>|=`;
const VALUE = new RegExp(String.raw`^(${COMPARATOR})?\s*(${NUMBER})$`);
/** `a-b`, `a - b`, `a–b`, `a—b`, `a_b`, `a to b`, then optional units. */
/** Units after the numbers: after a space (`10*3/uL`), or attached when they start like a unit (`mg/dL`, `%`). */
const UNITS = String.raw`(?:\s+(\S.*)|([A-Za-zµμ%{].*))?`;
const BETWEEN = new RegExp(String.raw`^(${NUMBER})\s*(?:-|–|—|_|\.\.|to)\s*(${NUMBER})${UNITS}$`, 'i');
const ONE_SIDED = new RegExp(String.raw`^(${COMPARATOR})\s*(${NUMBER})${UNITS}$`);

function toNumber(text: string): number | undefined {
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

type Comparator = '<' | '<=' | '>' | '>=' | '=';

function comparatorOf(text: string | undefined): Comparator | undefined {
  switch (text) {
    case undefined:
    case '=':
      return '=';
    case '<':
      return '<';
    case '<=':
    case '=<':
    case '≤':
      return '<=';
    case '>':
      return '>';
    case '>=':
    case '=>':
    case '≥':
      return '>=';
    default:
      return undefined; // `<>` and anything else: not a bound we can read
  }
}

function intervalFrom(comparator: Comparator, value: number): Interval {
  switch (comparator) {
    case '=':
      return { low: { value, inclusive: true }, high: { value, inclusive: true } };
    case '<':
      return { high: { value, inclusive: false } };
    case '<=':
      return { high: { value, inclusive: true } };
    case '>':
      return { low: { value, inclusive: false } };
    case '>=':
      return { low: { value, inclusive: true } };
  }
}

/**
 * A reported value as the interval of true values it allows: `7.2` is exactly 7.2, `<0.01` is
 * below 0.01, `>=500` is 500 or more. Text, lists, ratios (`1:128`), ranges and numbers with
 * thousands separators are not read (`undefined`).
 */
export function parseMeasuredValue(text: string): Interval | undefined {
  const match = VALUE.exec(text.trim());
  if (match === null) return undefined;
  const comparator = comparatorOf(match[1]);
  const value = toNumber(match[2] ?? '');
  if (comparator === undefined || value === undefined) return undefined;
  return intervalFrom(comparator, value);
}

/**
 * A reference range (HL7 OBX-7, FHIR referenceRange text or low/high, athena `referencerange`):
 * `low-high` (limits included, as HL7 defines OBX-7), `<high`, `<=high`, `>low`, `>=low`, with
 * the separators labs use (`-`, en dash, `_`, `to`, `..`), optional brackets, and optional units
 * after the numbers. Text ranges (`Negative`), ranges whose low end exceeds the high end and
 * everything else are not read (`undefined`).
 */
export function parseReferenceRange(text: string): ReferenceRange | undefined {
  const inner = text
    .trim()
    .replace(/^[[(]\s*(.*?)\s*[\])]$/, '$1')
    .trim();
  const between = BETWEEN.exec(inner);
  if (between !== null) {
    const low = toNumber(between[1] ?? '');
    const high = toNumber(between[2] ?? '');
    if (low === undefined || high === undefined || low > high) return undefined;
    return withUnits(
      { low: { value: low, inclusive: true }, high: { value: high, inclusive: true } },
      between[3] ?? between[4],
    );
  }
  const oneSided = ONE_SIDED.exec(inner);
  if (oneSided !== null) {
    const comparator = comparatorOf(oneSided[1]);
    const value = toNumber(oneSided[2] ?? '');
    if (comparator === undefined || comparator === '=' || value === undefined) return undefined;
    return withUnits(intervalFrom(comparator, value), oneSided[3] ?? oneSided[4]);
  }
  return undefined;
}

function withUnits(interval: Interval, units: string | undefined): ReferenceRange {
  const trimmed = units?.trim();
  return trimmed === undefined || trimmed === '' ? interval : { ...interval, units: trimmed };
}

function belowLow(x: number, inclusiveX: boolean, low: Bound): boolean {
  // Is the point/edge x strictly outside `low` on the low side?
  return x < low.value || (x === low.value && !(inclusiveX && low.inclusive));
}

/** Whether two intervals share at least one number. */
export function intersects(a: Interval, b: Interval): boolean {
  // a lies wholly below b, or wholly above it.
  if (a.high !== undefined && b.low !== undefined && belowLow(a.high.value, a.high.inclusive, b.low)) return false;
  if (b.high !== undefined && a.low !== undefined && belowLow(b.high.value, b.high.inclusive, a.low)) return false;
  return true;
}

/** Whether a number is in an interval (for tests and callers with exact values). */
export function includes(interval: Interval, x: number): boolean {
  const { low, high } = interval;
  if (low !== undefined && (x < low.value || (x === low.value && !low.inclusive))) return false;
  if (high !== undefined && (x > high.value || (x === high.value && !high.inclusive))) return false;
  return true;
}
