import { judgeValue, type ValueFields, type ValueRules } from './critical-values';
import {
  ACUITIES,
  RESULT_SOURCES,
  type Acuity,
  type Observation,
  type ResultSource,
  type ResultStatus,
} from './lab-result';

/**
 * Acuity and status rules. Pure and total: every input maps to exactly one answer, and nothing
 * unknown is ever let through as "normal" (an unrecognised flag is abnormal) or as announceable
 * (an unrecognised status is preliminary). Each code below carries the reason for its verdict.
 *
 * Flag evaluation order for one flag value, first match wins:
 * 1. the practice's configured mapping (`SOURCE:FLAG` before `FLAG`), which may raise or lower a default,
 *    except that nothing is ever lowered below critical: a flag that rules 2–4 call critical (LL, HH,
 *    AA, "CRITICAL HIGH", any text with a critical word) stays critical whatever the mapping says;
 * 2. {@link FLAG_CODES} (HL7 table 0078 through v2.9 and FHIR v3 ObservationInterpretation);
 * 3. {@link DEFAULT_TEXT_FLAGS} (athenahealth `abnormalflag` text and FHIR display strings);
 * 4. any text containing the word CRITICAL, CRITICALLY or PANIC is critical ("CRITICAL - CALLED");
 * 5. anything else non-empty is abnormal.
 * Matching ignores case and runs of whitespace. A repeating field (`H~HH`) takes its worst
 * repetition; a coded value (`HH^Critical high^HL70078`) takes the worst of its recognised code and
 * text components (components 1, 2, 4, 5), or abnormal when neither is recognised.
 *
 * With {@link ValueRules} (the practice's critical-value table and reference ranges, carried in the
 * workflow's policy snapshot), the value is read too (domain/critical-values.ts) and the more severe
 * of flag and value wins: an unflagged value past a critical limit is critical, an unflagged value
 * outside its range abnormal, and a value that does not parse leaves the flag's verdict as it is.
 */

interface FlagCode {
  acuity: Acuity;
  meaning: string;
}

const critical = (meaning: string): FlagCode => ({ acuity: 'critical', meaning });
const abnormal = (meaning: string): FlagCode => ({ acuity: 'abnormal', meaning });
const normal = (meaning: string): FlagCode => ({ acuity: 'normal', meaning });

/**
 * Every coded interpretation we know: HL7 v2 table 0078 (v2.5.1 and later additions) and FHIR v3
 * ObservationInterpretation, which share their codes. Only the panic codes (LL, HH, AA; the FHIR
 * "critically abnormal" value set) are critical. Flags that cannot be called normal (change,
 * susceptibility, quality and detection flags) are abnormal so a provider looks.
 */
export const FLAG_CODES: Readonly<Record<string, FlagCode>> = {
  // Table 0078, v2.5.1
  L: abnormal('Below low normal'),
  H: abnormal('Above high normal'),
  LL: critical('Below lower panic limits'),
  HH: critical('Above upper panic limits'),
  '<': abnormal(
    'Below absolute low-off instrument scale: off-scale, not panic (map it per source when a vendor means panic)',
  ),
  '>': abnormal(
    'Above absolute high-off instrument scale: off-scale, not panic (map it per source when a vendor means panic)',
  ),
  N: normal('Normal'),
  A: abnormal('Abnormal'),
  AA: critical('Very abnormal: the non-numeric analogue of a panic limit'),
  U: abnormal('Significant change up'),
  D: abnormal('Significant change down'),
  B: abnormal('Better: a significant change still wants a look'),
  W: abnormal('Worse'),
  S: abnormal('Susceptible: an organism was isolated'),
  R: abnormal('Resistant'),
  I: abnormal('Intermediate'),
  MS: abnormal('Moderately susceptible'),
  VS: abnormal('Very susceptible'),
  // Later table 0078 versions and FHIR v3 ObservationInterpretation
  POS: abnormal('Positive'),
  NEG: normal('Negative'),
  DET: abnormal('Detected'),
  ND: normal('Not detected'),
  IND: abnormal('Indeterminate: cannot be called normal'),
  E: abnormal('Equivocal: cannot be called normal'),
  RR: abnormal('Reactive'),
  WR: abnormal('Weakly reactive'),
  NR: normal('Non-reactive'),
  AC: abnormal('Anti-complementary substances present: the test could not be read'),
  TOX: abnormal('Cytotoxic substance present: the test could not be read'),
  QCF: abnormal('Quality control failure: the value cannot be relied on'),
  IE: abnormal('Insufficient evidence'),
  HU: abnormal('Significantly high: beyond the reference range but not a panic value (map it per source to escalate)'),
  LU: abnormal('Significantly low: beyond the reference range but not a panic value (map it per source to escalate)'),
  'H>': abnormal('Significantly high (deprecated form of HU)'),
  'L<': abnormal('Significantly low (deprecated form of LU)'),
  HX: abnormal('Above high threshold'),
  LX: abnormal('Below low threshold'),
  EX: abnormal('Outside threshold'),
  NS: abnormal('Non-susceptible'),
  SDD: abnormal('Susceptible-dose dependent'),
  NCL: abnormal('No CLSI-defined breakpoint'),
  'SYN-R': abnormal('Synergy - resistant'),
  'SYN-S': abnormal('Synergy - susceptible'),
  CAR: abnormal('Carrier: a genetic finding to discuss'),
  CARRIER: abnormal('Carrier: a genetic finding to discuss'),
  EXP: normal('Expected'),
  UNE: abnormal('Unexpected'),
  OBX: abnormal('Interpretation qualifiers are in separate OBX segments: look there'),
};

/** Coded flags that are panic values. */
export const CRITICAL_FLAGS: ReadonlySet<string> = codesWith('critical');
/** Coded flags that are outside normal without being panic values. */
export const ABNORMAL_FLAGS: ReadonlySet<string> = codesWith('abnormal');
/** Coded flags that affirmatively mean normal. An empty or absent flag is normal too. */
export const NORMAL_FLAGS: ReadonlySet<string> = codesWith('normal');

function codesWith(acuity: Acuity): ReadonlySet<string> {
  return new Set(
    Object.entries(FLAG_CODES)
      .filter(([, rule]) => rule.acuity === acuity)
      .map(([code]) => code),
  );
}

/**
 * Text flags with a built-in meaning: athenahealth's `abnormalflag` vocabulary and the FHIR display
 * strings. Listing abnormal texts is not needed for safety (unknown text is abnormal anyway) but
 * makes the audit record say "recognised" rather than "unrecognised".
 */
export const DEFAULT_TEXT_FLAGS: Readonly<Record<string, Acuity>> = {
  NORMAL: 'normal',
  NEGATIVE: 'normal',
  'NOT DETECTED': 'normal',
  'NON-REACTIVE': 'normal',
  NONREACTIVE: 'normal',
  'NON REACTIVE': 'normal',
  'WITHIN NORMAL LIMITS': 'normal',
  EXPECTED: 'normal',
  ABNORMAL: 'abnormal',
  HIGH: 'abnormal',
  LOW: 'abnormal',
  'ABOVE HIGH NORMAL': 'abnormal',
  'BELOW LOW NORMAL': 'abnormal',
  'SIGNIFICANTLY HIGH': 'abnormal',
  'SIGNIFICANTLY LOW': 'abnormal',
  'OFF SCALE HIGH': 'abnormal',
  'OFF SCALE LOW': 'abnormal',
  POSITIVE: 'abnormal',
  DETECTED: 'abnormal',
  REACTIVE: 'abnormal',
  'WEAKLY REACTIVE': 'abnormal',
  INDETERMINATE: 'abnormal',
  EQUIVOCAL: 'abnormal',
  UNEXPECTED: 'abnormal',
  RESISTANT: 'abnormal',
  SUSCEPTIBLE: 'abnormal',
  INTERMEDIATE: 'abnormal',
  'VERY ABNORMAL': 'critical',
  'CRITICAL ABNORMAL': 'critical',
  'CRITICALLY ABNORMAL': 'critical',
  CRITICAL: 'critical',
  'CRITICAL HIGH': 'critical',
  'CRITICAL LOW': 'critical',
  PANIC: 'critical',
  'PANIC HIGH': 'critical',
  'PANIC LOW': 'critical',
  'ALERT HIGH': 'critical',
  'ALERT LOW': 'critical',
  'ABOVE UPPER PANIC LIMITS': 'critical',
  'BELOW LOWER PANIC LIMITS': 'critical',
};

/** A critical word anywhere in free text wins: a false alarm means a phone call, a miss means a text. */
const CRITICAL_WORDS = /\b(?:CRITICAL|CRITICALLY|PANIC)\b/;

/**
 * Per-practice flag vocabulary from configuration: `FLAG` or `SOURCE:FLAG` (source `HL7`, `FHIR`
 * or `ATHENA`) to an acuity. Keys match like flags (case and whitespace ignored). It overrides the
 * defaults upwards (a practice whose lab sends `<` as "panic low" maps `'<': 'critical'`) and may
 * lower an abnormal default, but never a critical one: a panic value that is "mapped" to abnormal
 * would be texted to the patient. The registry refuses such mappings at load
 * ({@link loweredCriticalFlags}), and classification ignores them if one gets through anyway.
 */
export type FlagMapping = Readonly<Record<string, Acuity>>;

/** A configured mapping value that is not an acuity. */
export class InvalidFlagMappingError extends Error {
  override readonly name = 'InvalidFlagMappingError';
}

/** How a flag got its acuity. */
export type FlagRule =
  | 'none'
  | 'mapping'
  | 'code'
  | 'text'
  | 'keyword'
  | 'unrecognised'
  // From the value, not the flag (ValueRules): a critical limit or the reference range.
  | 'critical-limit'
  | 'reference-range';

/** The verdict on one flag value. */
export interface FlagVerdict {
  acuity: Acuity;
  rule: FlagRule;
  /**
   * The vocabulary entry that matched: a table 0078 / FHIR code, a known text or a mapping key.
   * Absent for keyword and unrecognised matches, whose free text is never echoed (it may hold a value).
   */
  matched?: string;
}

const ACUITY_RANK: Record<Acuity, number> = { normal: 0, abnormal: 1, critical: 2 };
const NO_FLAG: FlagVerdict = { acuity: 'normal', rule: 'none' };

/** The more severe of two acuities. */
export function maxAcuity(a: Acuity, b: Acuity): Acuity {
  return ACUITY_RANK[a] >= ACUITY_RANK[b] ? a : b;
}

function worse(a: FlagVerdict, b: FlagVerdict): FlagVerdict {
  return ACUITY_RANK[b.acuity] > ACUITY_RANK[a.acuity] ? b : a;
}

function normaliseFlagText(flag: string): string {
  return flag.trim().replace(/\s+/g, ' ').toUpperCase();
}

function normaliseMapping(mapping: FlagMapping): ReadonlyMap<string, Acuity> {
  const normalised = new Map<string, Acuity>();
  for (const [key, acuity] of Object.entries(mapping)) {
    if (!(ACUITIES as readonly string[]).includes(acuity)) {
      throw new InvalidFlagMappingError(
        `flag mapping ${JSON.stringify(key)} must be one of ${ACUITIES.join(', ')}, got ${JSON.stringify(acuity)}`,
      );
    }
    normalised.set(normaliseFlagText(key), acuity);
  }
  return normalised;
}

/** One repetition, one component: the vocabulary lookup. */
function judgeTerm(text: string, mapping: ReadonlyMap<string, Acuity>, source?: ResultSource): FlagVerdict {
  if (text === '') return NO_FLAG;
  if (source !== undefined) {
    const qualified = `${source.toUpperCase()}:${text}`;
    const configured = mapping.get(qualified);
    if (configured !== undefined) return { acuity: configured, rule: 'mapping', matched: qualified };
  }
  const configured = mapping.get(text);
  if (configured !== undefined) return { acuity: configured, rule: 'mapping', matched: text };
  const code = FLAG_CODES[text];
  if (code !== undefined) return { acuity: code.acuity, rule: 'code', matched: text };
  const known = DEFAULT_TEXT_FLAGS[text];
  if (known !== undefined) return { acuity: known, rule: 'text', matched: text };
  if (CRITICAL_WORDS.test(text)) return { acuity: 'critical', rule: 'keyword' };
  return { acuity: 'abnormal', rule: 'unrecognised' };
}

/** Components 1, 2, 4, 5 of a coded (CWE/CE) flag: identifier, text, alternate identifier, alternate text. */
const CODED_COMPONENTS = [0, 1, 3, 4];

const NO_MAPPING: ReadonlyMap<string, Acuity> = new Map();

/**
 * One repetition. A mapping never lowers a repetition that the built-in vocabulary calls critical
 * (the practice registry refuses such mappings; this is the defence if an old policy snapshot or a
 * hand-built one carries one): the critical verdict of the defaults stands.
 */
function judgeRepetition(raw: string, mapping: ReadonlyMap<string, Acuity>, source?: ResultSource): FlagVerdict {
  const verdict = judgeMappedRepetition(raw, mapping, source);
  if (mapping.size === 0 || verdict.acuity === 'critical') return verdict;
  const unmapped = judgeMappedRepetition(raw, NO_MAPPING, source);
  return unmapped.acuity === 'critical' ? unmapped : verdict;
}

function judgeMappedRepetition(raw: string, mapping: ReadonlyMap<string, Acuity>, source?: ResultSource): FlagVerdict {
  const whole = normaliseFlagText(raw);
  if (!whole.includes('^')) return judgeTerm(whole, mapping, source);
  const configured = judgeTerm(whole, mapping, source);
  if (configured.rule === 'mapping') return configured;
  const parts = whole.split('^');
  const verdicts = CODED_COMPONENTS.map((i) => judgeTerm((parts[i] ?? '').trim(), mapping, source)).filter(
    (v) => v.rule !== 'none',
  );
  const recognised = verdicts.filter((v) => v.rule !== 'unrecognised');
  if (recognised.length > 0) return recognised.reduce(worse);
  return verdicts.length > 0 ? { acuity: 'abnormal', rule: 'unrecognised' } : NO_FLAG;
}

function judgeFlag(flag: string | undefined, mapping: ReadonlyMap<string, Acuity>, source?: ResultSource): FlagVerdict {
  if (flag === undefined) return NO_FLAG;
  return flag
    .split('~')
    .map((repetition) => judgeRepetition(repetition, mapping, source))
    .reduce(worse);
}

/** A configured mapping entry that would lower a critical flag (refused at registry load). */
export interface LoweredCriticalFlag {
  /** The mapping key as configured. */
  key: string;
  /** What the mapping says. */
  mappedTo: Acuity;
}

const SOURCE_PREFIX = new RegExp(`^(?:${RESULT_SOURCES.join('|')}):`, 'i');

/**
 * Mapping entries that would map a flag the built-in vocabulary calls critical (LL, HH, AA, a
 * critical text such as "CRITICAL HIGH", any text with a critical word) to less than critical. A
 * `SOURCE:FLAG` key is judged by its flag. Values that are not acuities are left to the schema.
 */
export function loweredCriticalFlags(mapping: Readonly<Record<string, string>>): LoweredCriticalFlag[] {
  const lowered: LoweredCriticalFlag[] = [];
  for (const [key, value] of Object.entries(mapping)) {
    if (value === 'critical' || !(ACUITIES as readonly string[]).includes(value)) continue;
    const flag = key.trim().replace(SOURCE_PREFIX, '');
    if (judgeFlag(flag, NO_MAPPING).acuity === 'critical') lowered.push({ key, mappedTo: value as Acuity });
  }
  return lowered;
}

/** The full verdict on one flag value (see the module comment for the rules and their order). */
export function interpretFlag(flag: string | undefined, mapping: FlagMapping = {}, source?: ResultSource): FlagVerdict {
  return judgeFlag(flag, normaliseMapping(mapping), source);
}

/** Acuity of a single flag value. A repeating flag field (`H~HH`) takes its worst repetition. */
export function flagAcuity(flag: string | undefined, mapping: FlagMapping = {}, source?: ResultSource): Acuity {
  return interpretFlag(flag, mapping, source).acuity;
}

/** An observation as classification reads it: its flag, and for {@link ValueRules} its value. */
export type ClassifiedObservation = Pick<Observation, 'flag'> & ValueFields;

/** The verdict on one observation: its flag's, raised by its value's under `rules`. */
function judgeObservation(
  observation: ClassifiedObservation,
  mapping: ReadonlyMap<string, Acuity>,
  source: ResultSource | undefined,
  rules: ValueRules | undefined,
): FlagVerdict {
  const byFlag = judgeFlag(observation.flag, mapping, source);
  if (rules === undefined || byFlag.acuity === 'critical') return byFlag;
  const byValue = judgeValue(observation, rules);
  if (ACUITY_RANK[byValue.acuity] <= ACUITY_RANK[byFlag.acuity] || byValue.rule === undefined) return byFlag;
  return { acuity: byValue.acuity, rule: byValue.rule };
}

/**
 * The result's acuity is its worst observation's; no observations (or no flags, and nothing in the
 * values under `rules`) is normal. Without `rules`, flags alone decide.
 */
export function classifyAcuity(
  observations: readonly ClassifiedObservation[],
  mapping: FlagMapping = {},
  source?: ResultSource,
  rules?: ValueRules,
): Acuity {
  const normalised = normaliseMapping(mapping);
  return observations.map((o) => judgeObservation(o, normalised, source, rules).acuity).reduce(maxAcuity, 'normal');
}

/** One observation that drove a result's acuity. */
export interface AcuityDriver extends FlagVerdict {
  /** Position in `LabResult.observations`. */
  index: number;
}

/** Why a result has its acuity, for audit records: indexes, codes and rules, never values or names. */
export interface AcuityReason {
  acuity: Acuity;
  /** The observations whose flag (or value) reached `acuity` (empty when the result is normal). */
  drivers: AcuityDriver[];
  /** Observations with a flag we do not recognise (treated as abnormal), to extend the vocabulary. */
  unrecognised: number[];
}

/** {@link classifyAcuity} with its reasons: which observations and which rules drove the answer. */
export function describeAcuityReason(
  observations: readonly ClassifiedObservation[],
  mapping: FlagMapping = {},
  source?: ResultSource,
  rules?: ValueRules,
): AcuityReason {
  const normalised = normaliseMapping(mapping);
  const verdicts = observations.map((o) => judgeObservation(o, normalised, source, rules));
  const acuity = verdicts.map((v) => v.acuity).reduce(maxAcuity, 'normal');
  const drivers =
    acuity === 'normal'
      ? []
      : verdicts.flatMap((v, index) => (v.acuity === acuity ? [{ index, ...v } satisfies AcuityDriver] : []));
  const unrecognised = observations.flatMap((o, index) =>
    (o.flag ?? '')
      .split('~')
      .some((repetition) => judgeRepetition(repetition, normalised, source).rule === 'unrecognised')
      ? [index]
      : [],
  );
  return { acuity, drivers, unrecognised };
}

// ---------------------------------------------------------------------------------------------
// Result status

interface StatusCode {
  status: ResultStatus;
  meaning: string;
}

const is = (status: ResultStatus, meaning: string): StatusCode => ({ status, meaning });

/**
 * Every result status we know, keyed by its letters and digits in upper case (so `Signed Off`,
 * `signed-off` and `SIGNEDOFF` are one key). HL7 table 0123 (OBR-25) and table 0085 (OBX-11) share
 * their letters without conflict. Only `final` and `corrected` are ever announced; `cancelled` is a
 * retraction; everything that is not yet verified, complete and final is `preliminary`.
 */
export const RESULT_STATUS_CODES: Readonly<Record<string, StatusCode>> = {
  // HL7 table 0123 (OBR-25) and table 0085 (OBX-11)
  O: is('preliminary', '0123: order received, specimen not yet received; 0085: order detail only, no result'),
  I: is('preliminary', 'Specimen received / in lab, results pending'),
  S: is('preliminary', '0123: procedure scheduled, not done; 0085: partial results'),
  A: is('preliminary', 'Some, but not all, results available: wait for the whole report'),
  P: is('preliminary', 'Preliminary'),
  R: is('preliminary', 'Results stored / entered, not yet verified: not final'),
  N: is('preliminary', '0123: procedure completed, results pending; 0085: not asked'),
  F: is('final', 'Final'),
  U: is('final', 'Status changed to final without retransmitting the preliminary results'),
  C: is('corrected', 'Correction to (replaces) a final result'),
  M: is('preliminary', 'Corrected, not final: announce when the final correction (C/F) arrives'),
  X: is('cancelled', '0123: order cancelled; 0085: results cannot be obtained'),
  D: is('cancelled', 'Delete the earlier record'),
  W: is('cancelled', 'Posted as wrong (e.g. wrong patient): a retraction'),
  Y: is('preliminary', 'No order on record (query answers only): nothing to announce'),
  Z: is('preliminary', 'No record of this patient (query answers only): nothing to announce'),
  // FHIR DiagnosticReport.status and Observation.status
  REGISTERED: is('preliminary', 'Registered, nothing available yet'),
  PARTIAL: is('preliminary', 'Partial'),
  PRELIMINARY: is('preliminary', 'Preliminary'),
  FINAL: is('final', 'Final'),
  AMENDED: is('corrected', 'Amended after final'),
  CORRECTED: is('corrected', 'Corrected after final'),
  APPENDED: is('corrected', 'Content added after final: re-classify'),
  CANCELLED: is('cancelled', 'Cancelled'),
  ENTEREDINERROR: is('cancelled', 'Entered in error: a retraction'),
  UNKNOWN: is('preliminary', 'Status unknown to the sender: not announceable'),
  // athenahealth free-text resultstatus (the vocabulary is not exhaustive)
  ABNORMAL: is('final', 'athena: resulted and flagged abnormal; the provider must see it'),
  COMPLETE: is('final', 'athena: complete'),
  COMPLETED: is('final', 'Completed'),
  DUPLICATE: is('preliminary', 'athena: a copy of another document, not a new result (see isDuplicateResultStatus)'),
  INCOMPLETE: is('preliminary', 'athena: incomplete'),
  INTERMEDIATE: is('preliminary', 'athena: intermediate, not final'),
  PENDING: is('preliminary', 'athena: pending'),
  SIGNED: is('final', 'athena: signed'),
  SIGNEDOFF: is('final', 'athena: signed off'),
  CANCELED: is('cancelled', 'Cancelled (US spelling)'),
  DELETED: is('cancelled', 'Deleted'),
};

function statusKey(raw: string | undefined): string {
  return (raw ?? '').toUpperCase().replace(/[^A-Z0-9]/g, '');
}

/**
 * Result status from HL7 table 0123 (OBR-25), table 0085 (OBX-11), FHIR DiagnosticReport /
 * Observation status or athenahealth's free-text `resultstatus` (any case, spacing or hyphens).
 * Unknown or absent values are preliminary: never announced, never a retraction. Callers should
 * report them ({@link isKnownResultStatus}) so a result cannot stall unseen.
 */
export function normaliseResultStatus(raw: string | undefined): ResultStatus {
  return RESULT_STATUS_CODES[statusKey(raw)]?.status ?? 'preliminary';
}

/** Whether `raw` is in {@link RESULT_STATUS_CODES} (else it was read as preliminary by default). */
export function isKnownResultStatus(raw: string | undefined): boolean {
  return RESULT_STATUS_CODES[statusKey(raw)] !== undefined;
}

/**
 * athena's `duplicate`: this document repeats another and is not a new result. Its status reads as
 * preliminary (it never notifies and never retracts the original); ingestion should link or drop it.
 */
export function isDuplicateResultStatus(raw: string | undefined): boolean {
  return statusKey(raw) === 'DUPLICATE';
}
