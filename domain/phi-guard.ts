import type { LabResult } from './lab-result';

/**
 * The last check before an SMS leaves: does the rendered body give away anything about the result?
 * SMS is neither private nor secure (lock screens, shared phones, carrier logs), so a text may only
 * say that results are ready. The guard looks for what would disclose the result: its test names,
 * codes, values, units and flags, plus the common test names, units and interpretation words of any
 * result. It answers with the findings (kinds and observation indexes only, never the matched text,
 * so they are safe to audit) and, when anything was found, the generic body to send instead.
 *
 * Matching ignores case and runs of whitespace, and respects word boundaries so "low" does not match
 * "follow". Plain integers are flagged only when they are one of the result's values (a clinic may
 * print "24/7"); decimals, comparators ("<5") and numbers with a unit are always flagged.
 */

export const PHI_FINDING_KINDS = ['test-name', 'code', 'value', 'unit', 'interpretation'] as const;
export type PhiFindingKind = (typeof PHI_FINDING_KINDS)[number];

export interface PhiFinding {
  kind: PhiFindingKind;
  /** Index in `LabResult.observations` when the finding came from one observation. */
  observation?: number;
}

export type PhiGuardVerdict =
  /** Nothing found: send `body` as rendered. */
  | { outcome: 'clean'; body: string; findings: [] }
  /** Something found: send the generic `body` instead, and audit the rewrite. */
  | { outcome: 'rewritten'; body: string; findings: PhiFinding[] }
  /** Even the generic body matched (a result whose test is named like template wording): send no SMS. */
  | { outcome: 'blocked'; findings: PhiFinding[] };

/** The parts of a result the guard looks for. */
export type PhiGuardSubject = Pick<LabResult, 'observations' | 'panelName' | 'panelCode'>;

/** Words that interpret a result. Any of them in a text tells the reader how the result came out. */
export const INTERPRETATION_WORDS: readonly string[] = [
  'abnormal',
  'normal',
  'high',
  'higher',
  'low',
  'lower',
  'critical',
  'critically',
  'panic',
  'positive',
  'negative',
  'elevated',
  'increased',
  'decreased',
  'detected',
  'undetected',
  'not detected',
  'reactive',
  'nonreactive',
  'non-reactive',
  'borderline',
  'indeterminate',
  'equivocal',
  'inconclusive',
  'out of range',
  'within range',
  'flagged',
  'worse',
  'improved',
  'malignant',
  'benign',
];

/** Tests and analytes common enough that their mere mention in a text discloses something. */
export const COMMON_TEST_WORDS: readonly string[] = [
  'hiv',
  'hcg',
  'psa',
  'tsh',
  'a1c',
  'hba1c',
  'ldl',
  'hdl',
  'cbc',
  'bmp',
  'cmp',
  'inr',
  'glucose',
  'cholesterol',
  'triglycerides',
  'lipid',
  'lipids',
  'hemoglobin',
  'hematocrit',
  'platelets',
  'potassium',
  'sodium',
  'creatinine',
  'ferritin',
  'vitamin',
  'thyroid',
  'urinalysis',
  'pregnancy',
  'chlamydia',
  'gonorrhea',
  'syphilis',
  'hepatitis',
  'herpes',
  'hpv',
  'std',
  'sti',
  'covid',
  'influenza',
  'strep',
  'culture',
  'biopsy',
  'pathology',
  'cancer',
  'tumor',
  'drug screen',
];

/** Units commonly printed with lab values (compared case-insensitively). */
export const COMMON_UNITS: readonly string[] = [
  'mg/dl',
  'mg/l',
  'g/dl',
  'g/l',
  'mmol/l',
  'umol/l',
  'µmol/l',
  'nmol/l',
  'pmol/l',
  'meq/l',
  'ng/ml',
  'ng/dl',
  'pg/ml',
  'ug/dl',
  'µg/dl',
  'mcg/dl',
  'ug/ml',
  'u/l',
  'iu/l',
  'miu/l',
  'miu/ml',
  'iu/ml',
  'uiu/ml',
  'µiu/ml',
  'cells/ul',
  'cells/µl',
  'k/ul',
  '10^3/ul',
  'x10^3/ul',
  '10*3/ul',
  '10^6/ul',
  '10*6/ul',
  'mm/hr',
  'mosm/kg',
  'ml/min',
  'ml/min/1.73m2',
  'fl',
  'copies/ml',
];

/**
 * Words never treated as a fragment of a test name: function words, the words every template
 * uses, and generic lab wording. A test whose whole name is made of these is still matched as a
 * phrase ("Lab panel"), but its single words are not.
 */
const NEUTRAL_WORDS: ReadonlySet<string> = new Set([
  'a',
  'an',
  'and',
  'are',
  'as',
  'at',
  'by',
  'for',
  'from',
  'in',
  'is',
  'of',
  'on',
  'or',
  'the',
  'to',
  'with',
  'without',
  'your',
  'you',
  'have',
  'hi',
  'lab',
  'labs',
  'result',
  'results',
  'ready',
  'patient',
  'portal',
  'reply',
  'help',
  'secure',
  'message',
  'check',
  'updated',
  'want',
  'text',
  'when',
  'yes',
  'opt',
  'stop',
  'out',
  'msg',
  'data',
  'rates',
  'may',
  'apply',
  'care',
  'team',
  'test',
  'tests',
  'panel',
  'level',
  'levels',
  'total',
  'basic',
  'complete',
  'comprehensive',
  'random',
  'screen',
  'screening',
  'profile',
  'count',
  'ratio',
  'free',
  'serum',
  'plasma',
]);

/** A number written like a measurement: a decimal, or a comparator before a number. */
const DECIMAL = /(?<![\p{N}.,])\p{N}+[.,]\p{N}+(?![\p{N}])/u;
const COMPARATOR = /[<>≤≥]\s*=?\s*\p{N}/u;
/** LOINC codes are digits, a hyphen and a check digit (2345-7); any such token is treated as a code. */
const LOINC_LIKE = /(?<![\p{L}\p{N}-])\p{N}{1,7}-\p{N}(?![\p{L}\p{N}])/u;
/** A short unit right after a number ("5 %", "12g"): only then is "%" or "g" meaningful. */
const NUMBER_THEN_SHORT_UNIT = (unit: string) => new RegExp(`\\p{N}\\s*${escapeRegExp(unit)}(?![\\p{L}\\p{N}])`, 'u');

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function normalise(text: string): string {
  return text.toLowerCase().replace(/\s+/g, ' ').trim();
}

const WORD_CHAR = /[\p{L}\p{N}]/u;

/** Whether `term` occurs in `haystack` (both normalised) with no letter or digit directly around it. */
function containsTerm(haystack: string, term: string): boolean {
  if (term.length === 0) return false;
  let from = 0;
  for (;;) {
    const at = haystack.indexOf(term, from);
    if (at < 0) return false;
    const before = at === 0 ? '' : haystack.charAt(at - 1);
    const after = haystack.charAt(at + term.length);
    const startsWithWordChar = WORD_CHAR.test(term.charAt(0));
    const endsWithWordChar = WORD_CHAR.test(term.charAt(term.length - 1));
    const leftOk = !startsWithWordChar || before === '' || !WORD_CHAR.test(before);
    const rightOk = !endsWithWordChar || after === '' || !WORD_CHAR.test(after);
    if (leftOk && rightOk) return true;
    from = at + 1;
  }
}

/** Whether the number `digits` (e.g. "92", "0.9") occurs as a whole number, not inside a longer one. */
function containsNumber(haystack: string, digits: string): boolean {
  const pattern = new RegExp(`(?<![\\p{N}]|\\p{N}[.,])${escapeRegExp(digits)}(?![\\p{N}]|[.,]\\p{N})`, 'u');
  return pattern.test(haystack);
}

/** The words of a test name worth matching on their own: not neutral, and long enough or coded (A1c, B12). */
function significantWords(name: string): string[] {
  return name
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0 && !NEUTRAL_WORDS.has(w))
    .filter((w) => w.length >= 3 || (/\p{N}/u.test(w) && /\p{L}/u.test(w)));
}

function nameFindings(body: string, name: string | undefined): boolean {
  if (name === undefined) return false;
  const phrase = normalise(name);
  const words = significantWords(phrase);
  if (words.length > 0) return words.some((word) => containsTerm(body, word));
  // A name made only of neutral words is matched whole, and only when it has several words: a
  // single one ("Lab") is template wording, a phrase ("Lab panel") is not.
  return phrase.includes(' ') && containsTerm(body, phrase);
}

function valueFinding(body: string, value: string): boolean {
  const text = normalise(value);
  if (text.length === 0) return false;
  const numbers = text.match(/\p{N}+(?:[.,]\p{N}+)?/gu) ?? [];
  if (numbers.length > 0) return numbers.some((n) => containsNumber(body, n));
  // Text values ("Positive", "Not detected", "Yellow") count when they say something.
  if (text.length < 3 || NEUTRAL_WORDS.has(text)) return false;
  return containsTerm(body, text);
}

function unitFinding(body: string, unit: string): boolean {
  const text = normalise(unit);
  if (text.length === 0) return false;
  if (text.length <= 1 || !/\p{L}/u.test(text)) return NUMBER_THEN_SHORT_UNIT(text).test(body);
  return containsTerm(body, text);
}

function flagTerms(flag: string | undefined): string[] {
  if (flag === undefined) return [];
  return flag
    .split(/[~^]/)
    .map(normalise)
    .filter((f) => f.length >= 2);
}

function codeTerm(code: string | undefined): string | undefined {
  if (code === undefined) return undefined;
  const text = normalise(code);
  return text.length >= 2 ? text : undefined;
}

/**
 * Everything in `body` that could disclose the result: its own names, codes, values, units and
 * flags (with the observation's index), and generic test names, units, interpretation words,
 * measurement-like numbers and LOINC-like codes (without an index).
 */
export function findPhi(body: string, result: PhiGuardSubject): PhiFinding[] {
  const text = normalise(body);
  const findings: PhiFinding[] = [];
  const add = (kind: PhiFindingKind, observation?: number) => {
    if (!findings.some((f) => f.kind === kind && f.observation === observation)) {
      findings.push(observation === undefined ? { kind } : { kind, observation });
    }
  };

  if (nameFindings(text, result.panelName)) add('test-name');
  const panelCode = codeTerm(result.panelCode);
  if (panelCode !== undefined && containsTerm(text, panelCode)) add('code');

  result.observations.forEach((obs, i) => {
    if (nameFindings(text, obs.name)) add('test-name', i);
    const code = codeTerm(obs.code);
    if (code !== undefined && containsTerm(text, code)) add('code', i);
    if (valueFinding(text, obs.value)) add('value', i);
    if (obs.units !== undefined && unitFinding(text, obs.units)) add('unit', i);
    if (flagTerms(obs.flag).some((flag) => containsTerm(text, flag))) add('interpretation', i);
  });

  if (COMMON_TEST_WORDS.some((word) => containsTerm(text, word))) add('test-name');
  if (LOINC_LIKE.test(text)) add('code');
  if (DECIMAL.test(text) || COMPARATOR.test(text)) add('value');
  if (
    COMMON_UNITS.some((unit) => containsTerm(text, unit)) ||
    NUMBER_THEN_SHORT_UNIT('%').test(text) ||
    /\p{N}\s*(?:mg|mcg|µg|ug|ng|pg|g|l|ml|dl|iu|u|meq|mmol)(?![\p{L}\p{N}])/u.test(text)
  ) {
    add('unit');
  }
  if (INTERPRETATION_WORDS.some((word) => containsTerm(text, word))) add('interpretation');
  return findings;
}

/**
 * Check a rendered SMS body before it is sent. Clean bodies pass unchanged; a body with findings is
 * replaced by `genericBody` (when that one is clean), otherwise the send is blocked.
 */
export function guardSmsBody(body: string, result: PhiGuardSubject, genericBody: string): PhiGuardVerdict {
  const findings = findPhi(body, result);
  if (findings.length === 0) return { outcome: 'clean', body, findings: [] };
  if (findPhi(genericBody, result).length === 0) return { outcome: 'rewritten', body: genericBody, findings };
  return { outcome: 'blocked', findings };
}
