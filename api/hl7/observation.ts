import type { Observation } from '../../domain/lab-result';
import { parseHl7DateTime } from './datetime';
import { Hl7ErrorCode, hl7Problem, type Hl7Problem } from './problem';
import type { Hl7Reader, Hl7Segment } from './segments';

/** How repetitions of OBX-5 are shown as one value. */
const VALUE_REPETITION_JOINER = ', ';
/** How repetitions of OBX-8 are joined: `classifyAcuity` reads `~` as "worst of". */
const FLAG_REPETITION_JOINER = '~';

/** Table 0191 (type of referenced data) codes spelled as MIME top-level types. */
const ED_TYPE_NAMES: Readonly<Record<string, string>> = {
  AP: 'application',
  APPLICATION: 'application',
  IM: 'image',
  IMAGE: 'image',
  AU: 'audio',
  AUDIO: 'audio',
  TEXT: 'text',
  TX: 'text',
  MULTIPART: 'multipart',
};

const CODED_TYPES = new Set(['CE', 'CWE', 'CNE', 'CF']);
const DATE_TIME_TYPES = new Set(['TS', 'DT', 'DTM']);

/**
 * One OBX segment as an Observation. The value is text in every case: numbers keep the sender's
 * precision, structured numbers (SN) keep their comparator, and embedded documents (ED) become a
 * short placeholder so a base64 PDF never travels with the result.
 */
export function readObservation(
  reader: Hl7Reader,
  obx: Hl7Segment,
): { ok: true; observation: Observation } | { ok: false; problem: Hl7Problem } {
  const code = reader.value(obx, 3, 1) || reader.value(obx, 3, 4);
  if (code === '') {
    return {
      ok: false,
      problem: hl7Problem('AE', Hl7ErrorCode.REQUIRED_FIELD_MISSING, 'OBX-3 (observation identifier) is missing', {
        segment: 'OBX',
        sequence: obx.occurrence,
        field: 3,
      }),
    };
  }
  const valueType = reader.value(obx, 2).toUpperCase();
  const observation: Observation = {
    code,
    name: reader.value(obx, 3, 2) || reader.value(obx, 3, 5) || code,
    value: reader
      .repetitions(obx, 5)
      .map((rep) => observationValue(reader, valueType, rep))
      .filter((v) => v !== '')
      .join(VALUE_REPETITION_JOINER),
  };
  const loinc = loincOf(reader, obx);
  if (loinc !== undefined) observation.loinc = loinc;
  if (valueType !== '') observation.valueType = valueType;
  const units = reader.value(obx, 6, 1) || reader.value(obx, 6, 2);
  if (units !== '') observation.units = units;
  const range = reader.repetitions(obx, 7)[0];
  if (range !== undefined && reader.text(range) !== '') observation.referenceRange = reader.text(range);
  const flags = reader
    .repetitions(obx, 8)
    .map((rep) => reader.leaf(rep, 1))
    .filter((f) => f !== '');
  if (flags.length > 0) observation.flag = flags.join(FLAG_REPETITION_JOINER);
  const status = reader.value(obx, 11);
  if (status !== '') observation.status = status;
  return { ok: true, observation };
}

/** OBX-3's identifier (component 1) or alternate identifier (4) whose coding system (3 or 6) is LOINC (`LN`, or `LOINC`). */
function loincOf(reader: Hl7Reader, obx: Hl7Segment): string | undefined {
  for (const [id, system] of [
    [1, 3],
    [4, 6],
  ] as const) {
    const code = reader.value(obx, 3, id);
    if (code !== '' && ['LN', 'LOINC'].includes(reader.value(obx, 3, system).trim().toUpperCase())) return code;
  }
  return undefined;
}

/** One repetition of OBX-5 as text, by its value type (OBX-2, table 0125). */
function observationValue(reader: Hl7Reader, valueType: string, rep: string): string {
  if (valueType === 'NM') return reader.leaf(rep, 1);
  if (valueType === 'SN') return structuredNumeric(reader, rep);
  if (CODED_TYPES.has(valueType)) {
    return reader.leaf(rep, 2) || reader.leaf(rep, 5) || reader.leaf(rep, 1) || reader.leaf(rep, 4);
  }
  if (DATE_TIME_TYPES.has(valueType)) {
    const text = reader.leaf(rep, 1);
    return parseHl7DateTime(text) ?? text;
  }
  if (valueType === 'ED') return embeddedDataPlaceholder(reader, rep);
  // ST, TX, FT and types without structure we use: the text as sent, delimiters and all.
  return reader.text(rep);
}

/**
 * SN is `comparator^num1^separator/suffix^num2`: `<^5` is "<5", `^10^-^20` is "10-20",
 * `^1^:^128` is "1:128", `^2^+` is "2+". `=` is the default comparator and is not shown.
 */
function structuredNumeric(reader: Hl7Reader, rep: string): string {
  const comparator = reader.leaf(rep, 1);
  return `${comparator === '=' ? '' : comparator}${reader.leaf(rep, 2)}${reader.leaf(rep, 3)}${reader.leaf(rep, 4)}`;
}

/** ED is `source^type^subtype^encoding^data`; only the type survives, e.g. `[embedded application/pdf]`. */
function embeddedDataPlaceholder(reader: Hl7Reader, rep: string): string {
  const type = reader.leaf(rep, 2);
  const subtype = reader.leaf(rep, 3).toLowerCase();
  const mimeType = ED_TYPE_NAMES[type.toUpperCase()] ?? type.toLowerCase();
  if (mimeType === '' && subtype === '') return '[embedded data]';
  return `[embedded ${mimeType || 'application'}/${subtype || 'octet-stream'}]`;
}
