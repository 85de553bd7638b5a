import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';
import { athenaLabResultSeed, PATIENTS, TEMPLATE_CONTENT } from '../fixtures/e2e/patients';

/**
 * Searching text (log lines, mostly) for the PHI of the test fixtures: every fixture patient's
 * name, phone number (in the spellings people and systems use), date of birth (HL7, ISO, US),
 * address, and every fixture result's test names, codes, values with their units, reference ranges
 * and interpretations. Each PHI string becomes a token pattern: a number only matches where it is
 * not part of a longer number or word (so a timing of 14.8731 ms does not match the value 4.873),
 * a name only where it is not part of a longer word.
 */

export type PhiKind =
  | 'name'
  | 'phone'
  | 'birth-date'
  | 'address'
  | 'test-name'
  | 'code'
  | 'value'
  | 'unit'
  | 'range'
  | 'interpretation'
  | 'note';

export interface PhiPattern {
  /** The PHI string as written in the fixture. */
  phi: string;
  kind: PhiKind;
  pattern: RegExp;
}

export interface PhiLeak {
  phi: string;
  kind: PhiKind;
  /** Where the line came from (a file, "line 12"), for the report. */
  where: string;
  line: string;
}

/** A person's identifying data, as fixtures hold it. */
export interface PhiPerson {
  firstName?: string;
  lastName?: string;
  /** YYYYMMDD (PID-7). */
  dob?: string;
  /** The 10-digit NANP number, or E.164 (+1 and 10 digits). */
  phone?: string;
  street?: string;
  city?: string;
  zip?: string;
}

/** An observation as a result reports it. */
export interface PhiObservation {
  name?: string;
  code?: string;
  value?: string;
  unit?: string;
  range?: string;
  /** An abnormal flag (HL7 table 0078) or an interpretation text. */
  flag?: string;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A number (or a code made of digits) as a token: not inside a longer number, word or decimal. */
export function numericToken(s: string): RegExp {
  return new RegExp(`(?<![0-9A-Za-z.])${escape(s)}(?![0-9A-Za-z]|\\.\\d)`);
}

/** A word or phrase as a token, any case: not inside a longer word (digits and punctuation may touch it). */
export function wordToken(s: string): RegExp {
  return new RegExp(`(?<![A-Za-z])${escape(s).replace(/ /g, '\\s+')}(?![A-Za-z])`, 'i');
}

/**
 * Names of fields that carry a result value in JSON, logfmt or `key: value` text: any name ending
 * in value, result, reading, observation, analyte or measurement, or their plurals (value,
 * resultValue, obx_value, numericResult, values, ...), quoted or not. Names that only start with
 * one (labResultId, resultRef, resultCount) are identifiers and counts, not values.
 */
const VALUE_FIELD = '["\']?[A-Za-z_]*(?:value|result|reading|observation|analyte|measurement)s?["\']?';

/** `value` as the content of a result-value field: `"value":"6.9"`, `"result": 262`, `value=6.9`, `"values":[6.9`. */
export function valueFieldToken(value: string): RegExp {
  return new RegExp(
    `(?<![A-Za-z0-9_])${VALUE_FIELD}\\s*[:=]\\s*\\[?\\s*["']?${escape(value)}(?![0-9A-Za-z]|\\.\\d)`,
    'i',
  );
}

/** A phone number in the spellings people, HL7 and vendors use. */
export function phoneForms(phone: string): string[] {
  const phone10 = phone.replace(/^\+1/, '');
  const [a, b, c] = [phone10.slice(0, 3), phone10.slice(3, 6), phone10.slice(6)];
  return [
    `+1${phone10}`,
    `1${phone10}`,
    phone10,
    `${a}-${b}-${c}`,
    `(${a}) ${b}-${c}`,
    `(${a})${b}-${c}`,
    `${a}.${b}.${c}`,
    `${a} ${b} ${c}`,
    `+1 ${a} ${b} ${c}`,
    `+1-${a}-${b}-${c}`,
    `${a}^${b}${c}`,
    `${b}-${c}`,
    `${b}${c}`,
  ];
}

/** A date of birth (YYYYMMDD) as HL7, ISO 8601, US and compact US dates. */
export function dobForms(yyyymmdd: string): string[] {
  const [y, m, d] = [yyyymmdd.slice(0, 4), yyyymmdd.slice(4, 6), yyyymmdd.slice(6)];
  return [
    ...new Set([
      yyyymmdd,
      `${y}-${m}-${d}`,
      `${m}/${d}/${y}`,
      `${Number(m)}/${Number(d)}/${y}`,
      `${m}-${d}-${y}`,
      `${m}${d}${y}`,
    ]),
  ];
}

export function personPatterns(person: PhiPerson): PhiPattern[] {
  const out: PhiPattern[] = [];
  for (const name of [person.firstName, person.lastName])
    if (name !== undefined && name !== '') out.push({ phi: name, kind: 'name', pattern: wordToken(name) });
  if (person.phone !== undefined && person.phone !== '')
    for (const form of phoneForms(person.phone)) out.push({ phi: form, kind: 'phone', pattern: numericToken(form) });
  if (person.dob !== undefined && person.dob !== '')
    for (const form of dobForms(person.dob)) out.push({ phi: form, kind: 'birth-date', pattern: numericToken(form) });
  for (const part of [person.street, person.city])
    if (part !== undefined && part !== '') out.push({ phi: part, kind: 'address', pattern: wordToken(part) });
  if (person.zip !== undefined && person.zip !== '')
    out.push({ phi: person.zip, kind: 'address', pattern: numericToken(person.zip) });
  return out;
}

/** Interpretation words a flag stands for (what a leak of the flag would look like in text). */
const FLAG_WORDS: Record<string, string[]> = {
  HH: ['Critically high', 'CRITICAL HIGH'],
  LL: ['Critically low', 'CRITICAL LOW'],
  AA: ['Critically abnormal'],
  H: ['|H|'],
  L: ['|L|'],
  HIGH: ['|HIGH|'],
  LOW: ['|LOW|'],
};

export function observationPatterns(obs: PhiObservation): PhiPattern[] {
  const out: PhiPattern[] = [];
  if (obs.name !== undefined && obs.name !== '')
    out.push({ phi: obs.name, kind: 'test-name', pattern: wordToken(obs.name) });
  if (obs.code !== undefined && /\d/.test(obs.code))
    out.push({ phi: obs.code, kind: 'code', pattern: numericToken(obs.code) });
  if (obs.unit !== undefined && obs.unit !== '') {
    out.push({ phi: obs.unit, kind: 'unit', pattern: new RegExp(`(?<![A-Za-z])${escape(obs.unit)}(?![A-Za-z])`, 'i') });
    if (obs.value !== undefined && obs.value !== '') {
      // A bare number is everywhere in logs (ports, timings, counts); with its unit, or in its HL7
      // field, it is the result.
      const v = escape(obs.value);
      out.push({
        phi: `${obs.value} ${obs.unit}`,
        kind: 'value',
        pattern: new RegExp(`(?<![0-9A-Za-z.])${v}["'\\s|^,:]*${escape(obs.unit)}`, 'i'),
      });
    }
  }
  if (obs.value !== undefined && obs.value !== '') {
    out.push({
      phi: `|${obs.value}|`,
      kind: 'value',
      pattern: new RegExp(`\\|${escape(obs.value)}\\|`),
    });
    // In a field whose name says it is a result value ("value":"6.9", "result":262, value=6.9),
    // a bare number is the result however short; a timing, port or count has another name.
    out.push({ phi: obs.value, kind: 'value', pattern: valueFieldToken(obs.value) });
    // Values written with three or more significant digits (4.873, 263.7) are distinctive alone.
    if (/^\d+\.\d+$/.test(obs.value) && obs.value.replace(/\D/g, '').replace(/^0+/, '').length >= 4)
      out.push({ phi: obs.value, kind: 'value', pattern: numericToken(obs.value) });
  }
  if (obs.range !== undefined && /\d/.test(obs.range))
    out.push({
      phi: obs.range,
      kind: 'range',
      pattern: new RegExp(`(?<![0-9A-Za-z.])${escape(obs.range)}(?![0-9A-Za-z]|\\.\\d)`),
    });
  if (obs.flag !== undefined && obs.flag !== '') {
    const words = FLAG_WORDS[obs.flag.toUpperCase()] ?? (obs.flag.length > 2 ? [obs.flag] : []);
    for (const word of words)
      out.push({
        phi: word,
        kind: 'interpretation',
        pattern: word.startsWith('|') ? new RegExp(escape(word)) : wordToken(word),
      });
  }
  return out;
}

/** Free text (a provider's note, an NTE comment): matched as a phrase. */
export function notePatterns(...notes: string[]): PhiPattern[] {
  return notes.filter((n) => n.trim() !== '').map((n) => ({ phi: n, kind: 'note' as const, pattern: wordToken(n) }));
}

/**
 * The PHI in an HL7 v2 message: PID name, birth date, address and phone; OBR and OBX test names
 * and codes; OBX values, units, ranges and flags; NTE comments. Template placeholders ({{X}}) and
 * empty fields are skipped.
 */
export function hl7Phi(message: string): PhiPattern[] {
  const out: PhiPattern[] = [];
  const real = (s: string | undefined): string | undefined =>
    s === undefined || s === '' || s.includes('{{') ? undefined : s;
  for (const segment of message.split(/\r\n|\r|\n/)) {
    const f = segment.split('|');
    const c = (field: number, component: number) => real(f[field]?.split('^')[component]);
    switch (f[0]) {
      case 'PID': {
        const area = c(13, 5);
        const local = c(13, 6);
        out.push(
          ...personPatterns({
            lastName: c(5, 0),
            firstName: c(5, 1),
            dob: real(f[7])?.slice(0, 8),
            street: c(11, 0),
            city: c(11, 2),
            zip: c(11, 4),
            phone: area !== undefined && local !== undefined ? `${area}${local}` : undefined,
          }),
        );
        break;
      }
      case 'OBR':
        out.push(...observationPatterns({ code: c(4, 0), name: c(4, 1) }));
        break;
      case 'OBX':
        out.push(
          ...observationPatterns({
            code: c(3, 0),
            name: c(3, 1),
            value: real(f[5]),
            unit: c(6, 0),
            range: real(f[7]),
            flag: real(f[8]),
          }),
        );
        break;
      case 'NTE':
        if (real(f[3]) !== undefined) out.push(...notePatterns(f[3] ?? ''));
        break;
      default:
        break;
    }
  }
  return out;
}

function hl7FilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.hl7'))
    .sort()
    .map((name) => path.join(dir, name));
}

let fixtures: PhiPattern[] | undefined;

/**
 * The PHI of every end-to-end fixture: the patients of test/fixtures/e2e/patients.ts, the HL7
 * samples under sandbox/demo and test/fixtures/e2e, the athena lab-result seeds, and what each
 * template reports (TEMPLATE_CONTENT).
 */
export function fixturePhi(): PhiPattern[] {
  if (fixtures !== undefined) return fixtures;
  const out: PhiPattern[] = [];
  for (const who of Object.values(PATIENTS)) out.push(...personPatterns(who));
  for (const file of [
    ...hl7FilesIn(path.join(PROJECT_ROOT, 'sandbox/demo')),
    ...hl7FilesIn(path.join(PROJECT_ROOT, 'test/fixtures/e2e')),
  ])
    out.push(...hl7Phi(readFileSync(file, 'utf8')));
  for (const kind of ['normal', 'abnormal'] as const) {
    const seed = athenaLabResultSeed(PATIENTS.consented, kind, { labResultId: '0', signed: true });
    out.push(...observationPatterns({ name: seed.description, code: seed.labresultloinc }));
    for (const a of seed.analytes ?? [])
      out.push(
        ...observationPatterns({
          name: a.analytename,
          code: a.loinc,
          value: a.value,
          unit: a.units,
          range: a.referencerange,
          flag: a.abnormalflag,
        }),
      );
  }
  for (const strings of Object.values(TEMPLATE_CONTENT))
    for (const s of strings)
      if (/[A-Za-z]{3}/.test(s) && !s.includes('/')) out.push({ phi: s, kind: 'test-name', pattern: wordToken(s) });
  fixtures = dedupe(out);
  return fixtures;
}

export function dedupe(patterns: readonly PhiPattern[]): PhiPattern[] {
  const seen = new Map<string, PhiPattern>();
  for (const p of patterns) {
    const key = `${p.kind}:${p.pattern.source}:${p.pattern.flags}`;
    if (!seen.has(key)) seen.set(key, p);
  }
  return [...seen.values()];
}

/** Every occurrence of a pattern in the lines, one per (line, PHI string). */
export function scanForPhi(
  lines: readonly string[],
  patterns: readonly PhiPattern[],
  where: (index: number) => string = (i) => `line ${i + 1}`,
): PhiLeak[] {
  const leaks: PhiLeak[] = [];
  // A trace-level run has tens of thousands of lines, some of them very long, and there are
  // hundreds of patterns: each pattern is tried only on lines that contain its needle, a literal
  // every match of it contains (found with a plain substring search of the lower-cased line).
  const byNeedle = new Map<string, PhiPattern[]>();
  for (const p of patterns) {
    const needle = needleOf(p);
    byNeedle.set(needle, [...(byNeedle.get(needle) ?? []), p]);
  }
  lines.forEach((line, i) => {
    const text = readableText(line);
    const lower = text.toLowerCase();
    for (const [needle, group] of byNeedle) {
      if (!lower.includes(needle)) continue;
      for (const p of group) if (p.pattern.test(text)) leaks.push({ phi: p.phi, kind: p.kind, where: where(i), line });
    }
  });
  return leaks;
}

/** A run of base64 long enough to be binary data, not words: the SDK traces task tokens and payloads. */
const BASE64_RUN = /[A-Za-z0-9+/]{40,}={0,2}/g;
/** Base64 segments between '/' and '+' are long; a URL path's segments are short (it is scanned as is). */
const MIN_BASE64_SEGMENT = 24;
/** Decoded bytes that are this printable are text someone encoded, and are searched as text. */
const PRINTABLE_SHARE = 0.9;

/**
 * The line as a reader would see it: base64 runs (Temporal task tokens, encrypted payload bytes)
 * are decoded, and searched as text when the bytes are text (an unencrypted payload would be),
 * blanked when they are binary (random bytes spell a three-letter test name now and then, and an
 * encoded "Mg/Dl" is not a unit). Everything else is kept exactly.
 */
export function readableText(line: string): string {
  return line.replace(BASE64_RUN, (run) => {
    const longest = Math.max(...run.split(/[+/]/).map((segment) => segment.length));
    if (longest < MIN_BASE64_SEGMENT || !/[A-Z]/.test(run) || !/[a-z]/.test(run) || !/\d/.test(run)) return run;
    const bytes = Buffer.from(run, 'base64');
    let printable = 0;
    for (const b of bytes) if ((b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d) printable += 1;
    return bytes.length > 0 && printable / bytes.length >= PRINTABLE_SHARE ? ` ${bytes.toString('latin1')} ` : ' ';
  });
}

/**
 * The longest whitespace-separated part of the PHI string, lower-cased: every pattern built here
 * matches the PHI string's parts literally (up to case), whatever it allows between them.
 */
function needleOf(p: PhiPattern): string {
  const parts = p.phi
    .toLowerCase()
    .split(/\s+/)
    .filter((part) => part !== '');
  return parts.reduce((a, b) => (b.length > a.length ? b : a), '');
}

/** A report naming each leak (PHI string, kind, where) with the start of its line. */
export function describeLeaks(leaks: readonly PhiLeak[], max = 20): string {
  const shown = leaks
    .slice(0, max)
    .map((l) => `  - ${l.kind} "${l.phi}" at ${l.where}: ${l.line.length > 300 ? `${l.line.slice(0, 300)}…` : l.line}`);
  const more = leaks.length > max ? [`  … and ${leaks.length - max} more`] : [];
  return [...shown, ...more].join('\n');
}
