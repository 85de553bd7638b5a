import type { Acuity, Observation, ResultStatus } from './lab-result';

/**
 * Acuity and status rules. Pure and total: every input maps to exactly one answer, and an
 * unknown flag never downgrades a result (it is treated as abnormal, the cautious choice).
 */

/** HL7 table 0078 panic codes (LL, HH, AA) and FHIR v3 ObservationInterpretation critical codes. */
export const CRITICAL_FLAGS: ReadonlySet<string> = new Set(['LL', 'HH', 'AA']);

/**
 * Table 0078 codes that mean "outside normal" without being panic values. `<` and `>` are
 * off-scale instrument limits in HL7 (not panic), so they are abnormal here; a source that uses
 * them as panic (drchrono does) maps them in its configuration instead.
 */
export const ABNORMAL_FLAGS: ReadonlySet<string> = new Set([
  'L',
  'H',
  'A',
  '<',
  '>',
  'U',
  'D',
  'B',
  'W',
  'R',
  'I',
  'MS',
  'VS',
  'S',
  'POS',
  'DET',
  'RR',
  'AC',
  'TOX',
  'IND',
  'HU',
  'LU',
  'IE',
  'NCL',
  'NS',
  'SDD',
  'SYN-R',
  'SYN-S',
  'EX',
]);

/** Flags that affirmatively mean "normal". Anything else that is non-empty is at least abnormal. */
export const NORMAL_FLAGS: ReadonlySet<string> = new Set(['', 'N', 'NEG', 'ND', 'NR', 'NORMAL', 'QCF']);

/** Text flags (athenahealth's `abnormalflag`, free-text lab systems) with a built-in meaning. */
export const DEFAULT_TEXT_FLAGS: Readonly<Record<string, Acuity>> = {
  NORMAL: 'normal',
  ABNORMAL: 'abnormal',
  HIGH: 'abnormal',
  LOW: 'abnormal',
  'ABOVE HIGH NORMAL': 'abnormal',
  'BELOW LOW NORMAL': 'abnormal',
  'VERY ABNORMAL': 'critical',
  CRITICAL: 'critical',
  'CRITICAL HIGH': 'critical',
  'CRITICAL LOW': 'critical',
  PANIC: 'critical',
  'PANIC HIGH': 'critical',
  'PANIC LOW': 'critical',
  'ALERT HIGH': 'critical',
  'ALERT LOW': 'critical',
};

/** Per-source additions to the flag vocabulary, from configuration (upper-case keys). */
export type FlagMapping = Readonly<Record<string, Acuity>>;

const ACUITY_RANK: Record<Acuity, number> = { normal: 0, abnormal: 1, critical: 2 };

export function maxAcuity(a: Acuity, b: Acuity): Acuity {
  return ACUITY_RANK[a] >= ACUITY_RANK[b] ? a : b;
}

function normaliseFlagText(flag: string): string {
  return flag.trim().replace(/\s+/g, ' ').toUpperCase();
}

/** Acuity of a single flag value. A repeating flag field (`H~HH`) takes its worst repetition. */
export function flagAcuity(flag: string | undefined, mapping: FlagMapping = {}): Acuity {
  if (flag === undefined) return 'normal';
  const parts = flag.split('~');
  if (parts.length > 1) {
    return parts.map((p) => flagAcuity(p, mapping)).reduce(maxAcuity, 'normal');
  }
  const text = normaliseFlagText(flag);
  const configured = mapping[text];
  if (configured !== undefined) return configured;
  if (CRITICAL_FLAGS.has(text)) return 'critical';
  const builtinText = DEFAULT_TEXT_FLAGS[text];
  if (builtinText !== undefined) return builtinText;
  if (NORMAL_FLAGS.has(text)) return 'normal';
  if (ABNORMAL_FLAGS.has(text)) return 'abnormal';
  // An unrecognised, non-empty flag says "look at me": never let it pass as normal.
  return 'abnormal';
}

/** The result's acuity is its worst observation's. */
export function classifyAcuity(observations: readonly Pick<Observation, 'flag'>[], mapping: FlagMapping = {}): Acuity {
  return observations.map((o) => flagAcuity(o.flag, mapping)).reduce(maxAcuity, 'normal');
}

/**
 * Result status from HL7 table 0123 (OBR-25), table 0085 (OBX-11), FHIR DiagnosticReport.status
 * or athenahealth's free-text `resultstatus`. Unknown values are preliminary: never announced.
 */
export function normaliseResultStatus(raw: string | undefined): ResultStatus {
  const text = (raw ?? '').trim().toUpperCase();
  switch (text) {
    case 'F':
    case 'FINAL':
    case 'COMPLETE':
    case 'COMPLETED':
    case 'SIGNED':
    case 'SIGNEDOFF':
    case 'U':
      return 'final';
    case 'C':
    case 'CORRECTED':
    case 'AMENDED':
    case 'APPENDED':
    case 'M':
      return 'corrected';
    case 'X':
    case 'CANCELLED':
    case 'CANCELED':
    case 'ENTERED-IN-ERROR':
    case 'W':
    case 'D':
    case 'DELETED':
      return 'cancelled';
    default:
      return 'preliminary';
  }
}
