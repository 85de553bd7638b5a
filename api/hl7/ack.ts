import { randomBytes } from 'node:crypto';
import { formatHl7DateTime } from './datetime';
import { DEFAULT_ENCODING, encodingCharacters, encodingFrom, type Hl7Encoding } from './encoding';
import { escapeHl7, unescapeHl7 } from './escape';
import type { Hl7Header, Hl7HierarchicDesignator } from './header';
import { messageLines } from './message';
import { HL7_ERROR_TEXT, Hl7ErrorCode, type Hl7Problem, type Hl7Warning } from './problem';

/** Version and processing ID of an ACK whose original header could not be read at all. */
const FALLBACK_VERSION = '2.5.1';
const FALLBACK_PROCESSING_ID = 'P';
/** HL7 table 0516 (error severity): E = error, the message was not processed. */
const SEVERITY_ERROR = 'E';
/** Table 0516: W = warning, the message was processed (a field was ignored). */
const SEVERITY_WARNING = 'W';
/** MSH-10 is ST(20) in v2.5.1: `A` + 8 base-36 time digits + 8 hex digits = 17 characters. */
const CONTROL_ID_RANDOM_BYTES = 4;

export interface AckInput {
  /** The header `parseOru` returned (also on failure, when MSH could be read). */
  header?: Hl7Header;
  /** The raw message or its MSH line, for a best-effort ACK when no header could be parsed. */
  rawMsh?: string;
}

export interface AckOutcome {
  /** Application ACK codes, or the commit-ACK codes of enhanced mode (ack-mode.ts). */
  code: 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';
  /** Written into ERR (and MSA-3) for AE/AR. */
  problem?: Hl7Problem;
  /** MSA-3 text message; defaults to the problem's message. */
  text?: string;
  /** AA (or CA) only: fields that were ignored, one ERR of severity W each. */
  warnings?: readonly Hl7Warning[];
}

/** The parts of the original MSH an ACK echoes. */
interface EchoedHeader {
  encoding: Hl7Encoding;
  /** HD fields, already encoded with `encoding` (they are copied into MSH-3..6 as they are). */
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** Plain text; escaped when written. */
  triggerEvent: string;
  messageControlId: string;
  processingId: string;
  version: string;
}

/**
 * Builds an original-mode ACK for an inbound message: MSH (sender and receiver swapped, MSH-9
 * `ACK^<trigger>^ACK`, a new MSH-10, the original's version and processing ID), MSA (MSA-2 = the
 * original MSH-10) and, for AE/AR, an ERR naming where and what (for an AA, one ERR of severity W
 * per ignored field). Uses the original's delimiters.
 * Deterministic apart from MSH-7 (`now`) and MSH-10; works without any header (MSA-2 empty).
 * Segments are CR-terminated.
 */
export function buildAck(input: AckInput, outcome: AckOutcome, now: Date): string {
  const echoed = input.header !== undefined ? fromHeader(input.header) : fromRawMsh(input.rawMsh ?? '');
  const enc = echoed.encoding;
  const esc = (text: string): string => escapeHl7(text, enc);
  const components = (...parts: string[]): string => trimTrailing(parts.join(enc.component), enc.component);
  const segment = (...fields: string[]): string => trimTrailing(fields.join(enc.field), enc.field);

  const messageType = echoed.triggerEvent === '' ? 'ACK' : components('ACK', esc(echoed.triggerEvent), 'ACK');
  const msh = segment(
    `MSH${enc.field}${encodingCharacters(enc)}`,
    echoed.receivingApplication,
    echoed.receivingFacility,
    echoed.sendingApplication,
    echoed.sendingFacility,
    formatHl7DateTime(now),
    '',
    messageType,
    newControlId(now),
    esc(echoed.processingId),
    esc(echoed.version),
  );

  const text = outcome.text ?? outcome.problem?.message ?? '';
  const lines = [msh, segment('MSA', outcome.code, esc(echoed.messageControlId), esc(text))];

  const errSegment = (problem: Hl7Warning | undefined, severity: string): string => {
    const errorCode = problem?.errorCode ?? Hl7ErrorCode.APPLICATION_INTERNAL_ERROR;
    const codedError = [String(errorCode), HL7_ERROR_TEXT[errorCode], 'HL70357'].map(esc);
    const location = problem === undefined || problem.segment === '' ? [] : errorLocation(problem);
    // ERR-1 (ELD, segment^sequence^field^code) is what v2.3/2.4 receivers read; v2.5+ read ERR-2..8.
    const legacy =
      location.length === 0
        ? ''
        : components(
            location[0] ?? '',
            location[1] ?? '',
            location[2] ?? '',
            enc.subcomponent === '' ? String(errorCode) : codedError.join(enc.subcomponent),
          );
    return segment(
      'ERR',
      legacy,
      components(...location),
      components(...codedError),
      severity,
      '',
      '',
      '',
      esc(problem?.message ?? text),
    );
  };
  const accepted = outcome.code === 'AA' || outcome.code === 'CA';
  if (!accepted) lines.push(errSegment(outcome.problem, SEVERITY_ERROR));
  else for (const warning of outcome.warnings ?? []) lines.push(errSegment(warning, SEVERITY_WARNING));
  return lines.map((l) => `${l}\r`).join('');
}

/** ERL: segment ID ^ sequence ^ field ^ field repetition ^ component. */
function errorLocation(problem: Hl7Warning): string[] {
  const parts = [problem.segment, String(problem.sequence ?? 1)];
  if (problem.field !== undefined) parts.push(String(problem.field));
  if (problem.field !== undefined && problem.component !== undefined) parts.push('1', String(problem.component));
  return parts;
}

function fromHeader(header: Hl7Header): EchoedHeader {
  const decoded = encodingFrom(header.fieldSeparator, header.encodingCharacters);
  const encoding = 'problem' in decoded ? DEFAULT_ENCODING : decoded;
  const hd = (d: Hl7HierarchicDesignator): string =>
    trimTrailing(
      [d.namespaceId, d.universalId ?? '', d.universalIdType ?? '']
        .map((c) => escapeHl7(c, encoding))
        .join(encoding.component),
      encoding.component,
    );
  return {
    encoding,
    sendingApplication: hd(header.sendingApplication),
    sendingFacility: hd(header.sendingFacility),
    receivingApplication: hd(header.receivingApplication),
    receivingFacility: hd(header.receivingFacility),
    triggerEvent: header.triggerEvent,
    messageControlId: header.messageControlId,
    processingId: header.processingId || FALLBACK_PROCESSING_ID,
    version: header.version || FALLBACK_VERSION,
  };
}

/**
 * Best effort for a header the parser could not accept: if the text holds an MSH line with usable
 * delimiters, echo what it says; otherwise answer with an empty MSA-2 and our defaults.
 */
function fromRawMsh(raw: string): EchoedHeader {
  const fallback: EchoedHeader = {
    encoding: DEFAULT_ENCODING,
    sendingApplication: '',
    sendingFacility: '',
    receivingApplication: '',
    receivingFacility: '',
    triggerEvent: '',
    messageControlId: '',
    processingId: FALLBACK_PROCESSING_ID,
    version: FALLBACK_VERSION,
  };
  const line = messageLines(raw).find((l) => l.startsWith('MSH'));
  if (line === undefined || line.length < 4) return fallback;
  const fieldSeparator = line.charAt(3);
  const fields = line.slice(4).split(fieldSeparator);
  const encoding = encodingFrom(fieldSeparator, fields[0] ?? '');
  if ('problem' in encoding) return fallback;
  // fields[k] is MSH-(k+2), because MSH-1 is the separator itself.
  const firstRepetition = (n: number): string => (fields[n - 2] ?? '').split(encoding.repetition)[0] ?? '';
  const leaf = (n: number, component = 1): string => {
    const comp = firstRepetition(n).split(encoding.component)[component - 1] ?? '';
    const sub = encoding.subcomponent === '' ? comp : (comp.split(encoding.subcomponent)[0] ?? '');
    return unescapeHl7(sub, encoding).trim();
  };
  return {
    encoding,
    sendingApplication: firstRepetition(3),
    sendingFacility: firstRepetition(4),
    receivingApplication: firstRepetition(5),
    receivingFacility: firstRepetition(6),
    triggerEvent: leaf(9, 2),
    messageControlId: leaf(10),
    processingId: leaf(11) || FALLBACK_PROCESSING_ID,
    version: leaf(12) || FALLBACK_VERSION,
  };
}

/** A fresh MSH-10 for the ACK: time-ordered for people reading logs, random so two never clash. */
function newControlId(now: Date): string {
  const time = now.getTime().toString(36).toUpperCase();
  return `A${time}${randomBytes(CONTROL_ID_RANDOM_BYTES).toString('hex').toUpperCase()}`;
}

function trimTrailing(text: string, delimiter: string): string {
  let end = text.length;
  while (end >= delimiter.length && delimiter !== '' && text.endsWith(delimiter, end)) end -= delimiter.length;
  return text.slice(0, end);
}
