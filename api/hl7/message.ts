/**
 * Our own HL7 v2 tokeniser, on purpose. @medplum/core's Hl7Message (4.5.2, the last line that runs on
 * Node 20) was evaluated for tokenising and ACKs and falls short where it matters to a receiver that
 * must answer every message precisely (each point is reproduced in test/unit/hl7-medplum-evaluation.test.ts):
 * - it reads the delimiters at fixed offsets of MSH, so a sender with a short MSH-2 (`^~` or `^~\`)
 *   gets MSH-1 as its escape character and a letter of MSH-3 as its sub-component separator;
 * - its buildAck writes that derived MSH-2 back (corrupting every field of the ACK), always answers
 *   with processing ID P, uses Date.now() as MSH-10, a fixed MSA-3 and no ERR;
 * - it refuses a leading byte-order mark or MLLP start block without saying why, and takes any line
 *   as a segment, so it cannot locate what is wrong (which ERR must do);
 * - reading throws on a missing repetition, counts sub-components from 0, and decodes no escapes.
 * Working around all of that would leave it splitting strings and nothing else, which is these ~40
 * lines. docs/architecture.md ("HL7 v2 parsing") records the decision.
 */
import { encodingFrom, type Hl7Encoding } from './encoding';
import { readHeader, type Hl7Header } from './header';
import { Hl7ErrorCode, hl7Problem, type Hl7Problem } from './problem';
import { Hl7Reader, isSegmentId, SEGMENT_TERMINATOR, splitSegment, type Hl7Segment } from './segments';

/** One message split into segments with its own delimiters, before any ORU-specific rule. */
export interface TokenisedMessage {
  encoding: Hl7Encoding;
  reader: Hl7Reader;
  header: Hl7Header;
  /** All segments, MSH first. */
  segments: Hl7Segment[];
}

export type TokeniseOutcome = ({ ok: true } & TokenisedMessage) | { ok: false; header?: Hl7Header; error: Hl7Problem };

/** Byte-order mark, MLLP start block and whitespace a file or a frame may carry before MSH. */
// eslint-disable-next-line no-control-regex -- the MLLP start block is a control character by definition
const LEADING_NOISE = /^[\uFEFF\x0b\s]+/;
/** MLLP end block and blank lines after the last segment. */
// eslint-disable-next-line no-control-regex -- the MLLP end block is a control character by definition
const TRAILING_NOISE = /[\x1c\s]+$/;

/** The lines of a message: any terminator, blank lines dropped, leading indentation ignored. */
export function messageLines(text: string): string[] {
  return text
    .replace(LEADING_NOISE, '')
    .replace(TRAILING_NOISE, '')
    .split(SEGMENT_TERMINATOR)
    .map((line) => line.trimStart())
    .filter((line) => line !== '');
}

/**
 * Splits one HL7 v2 message into segments using the delimiters its MSH declares. Never throws:
 * a message whose MSH cannot be read is a rejection (AR) naming MSH; a line that is not a segment
 * is an error (AE) naming its line number and the segment before it. Line numbers count the
 * message's non-blank lines.
 */
export function tokenise(text: string): TokeniseOutcome {
  const lines = messageLines(text);
  const first = lines[0];
  if (first === undefined) {
    return {
      ok: false,
      error: mshProblem(Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR, 'MSH segment is missing: the message is empty'),
    };
  }
  if (!first.startsWith('MSH')) {
    return {
      ok: false,
      error: mshProblem(Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR, 'MSH segment is missing: a message must start with MSH'),
    };
  }
  const fieldSeparator = first.charAt(3);
  if (fieldSeparator === '') {
    return {
      ok: false,
      error: mshProblem(Hl7ErrorCode.REQUIRED_FIELD_MISSING, 'MSH-1 (field separator) is missing', 1),
    };
  }
  const encoding = encodingFrom(fieldSeparator, first.slice(4).split(fieldSeparator)[0] ?? '');
  if ('problem' in encoding) {
    return { ok: false, error: mshProblem(Hl7ErrorCode.DATA_TYPE_ERROR, encoding.problem, encoding.field) };
  }
  const reader = new Hl7Reader(encoding);
  const msh = splitSegment(first, encoding, 1, 1);
  const header = readHeader(reader, msh);
  const occurrences = new Map<string, number>([['MSH', 1]]);
  const segments: Hl7Segment[] = [msh];
  for (const [index, line] of lines.entries()) {
    if (index === 0) continue;
    const id = line.slice(0, 3);
    if (!isSegmentId(id) || (line.length > 3 && line.charAt(3) !== fieldSeparator)) {
      // The line has no segment of its own; the one before it is where to look (often its value
      // was broken by a stray line break), so ERR-2 names that segment and the text names both lines.
      const previous = segments[segments.length - 1] ?? msh;
      return {
        ok: false,
        header,
        error: hl7Problem(
          'AE',
          Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR,
          `line ${index + 1} is not an HL7 segment (expected a 3-character segment ID followed by "${fieldSeparator}"); ` +
            `it follows ${previous.id} at line ${previous.line}: a line break inside that segment's value?`,
          { segment: previous.id, sequence: previous.occurrence },
        ),
      };
    }
    const occurrence = (occurrences.get(id) ?? 0) + 1;
    occurrences.set(id, occurrence);
    segments.push(splitSegment(line, encoding, index + 1, occurrence));
  }
  return { ok: true, encoding, reader, header, segments };
}

function mshProblem(errorCode: Hl7Problem['errorCode'], message: string, field?: number): Hl7Problem {
  return hl7Problem('AR', errorCode, message, {
    segment: 'MSH',
    sequence: 1,
    ...(field === undefined ? {} : { field }),
  });
}
