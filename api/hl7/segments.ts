import type { Hl7Encoding } from './encoding';
import { unescapeHl7 } from './escape';

/**
 * A tokenised HL7 v2 segment. Values stay raw (still escaped) until a leaf is read, because an
 * escaped delimiter must never be split on: `\S\` inside a component is text, not a separator.
 */
export interface Hl7Segment {
  /** Three-character segment ID, e.g. `OBX`. */
  id: string;
  /**
   * `fields[n]` is SEG-n, raw. For MSH, `fields[1]` is the field separator and `fields[2]` the
   * encoding characters, so MSH-n is `fields[n]` as well. `fields[0]` is the segment ID.
   */
  fields: string[];
  /** 1-based line number in the message, for messages that name a position. */
  line: number;
  /** 1-based occurrence of this segment ID in the message (what ERR-2.2 reports). */
  occurrence: number;
}

/** The segment terminators we accept: CR (the standard), LF and CRLF, mixed freely. */
export const SEGMENT_TERMINATOR = /\r\n|\r|\n/;

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;

/** True when `id` has the shape of a segment ID (three characters, upper-case letter first). */
export function isSegmentId(id: string): boolean {
  return SEGMENT_ID.test(id);
}

/** Splits `line` into fields. MSH is special: MSH-1 is the separator itself and MSH-2 is never split. */
export function splitSegment(line: string, encoding: Hl7Encoding, lineNumber: number, occurrence: number): Hl7Segment {
  const id = line.slice(0, 3);
  if (id === 'MSH') {
    const rest = line.slice(4).split(encoding.field);
    return { id, fields: [id, encoding.field, ...rest], line: lineNumber, occurrence };
  }
  return { id, fields: line.split(encoding.field), line: lineNumber, occurrence };
}

/** Reads fields, repetitions, components and sub-components of segments with one message's delimiters. */
export class Hl7Reader {
  constructor(readonly encoding: Hl7Encoding) {}

  /** SEG-n raw (all repetitions, still escaped); '' when absent. */
  raw(segment: Hl7Segment, field: number): string {
    return segment.fields[field] ?? '';
  }

  /** The repetitions of SEG-n, raw. An empty field has no repetitions. MSH-1/MSH-2 never repeat. */
  repetitions(segment: Hl7Segment, field: number): string[] {
    const raw = this.raw(segment, field);
    if (raw === '') return [];
    if (segment.id === 'MSH' && field <= 2) return [raw];
    return raw.split(this.encoding.repetition);
  }

  /** Components of one repetition, raw. */
  components(repetition: string): string[] {
    return repetition.split(this.encoding.component);
  }

  /** One leaf of a repetition (1-based component and sub-component), unescaped and trimmed. */
  leaf(repetition: string, component = 1, subcomponent = 1): string {
    const comp = this.components(repetition)[component - 1] ?? '';
    const sub =
      this.encoding.subcomponent === '' ? comp : (comp.split(this.encoding.subcomponent)[subcomponent - 1] ?? '');
    return unescapeHl7(sub, this.encoding).trim();
  }

  /** SEG-n.c.s of the first repetition, unescaped and trimmed; '' when absent. */
  value(segment: Hl7Segment, field: number, component = 1, subcomponent = 1): string {
    if (segment.id === 'MSH' && field <= 2) return component === 1 ? this.raw(segment, field) : '';
    const first = this.repetitions(segment, field)[0];
    return first === undefined ? '' : this.leaf(first, component, subcomponent);
  }

  /**
   * A whole repetition as text: delimiters that the sender left unescaped inside a text value are
   * kept as the characters they are, and each piece is unescaped. Used for ST/TX/FT and unknown
   * value types, where components carry no meaning of their own.
   */
  text(repetition: string): string {
    const { component, subcomponent } = this.encoding;
    return this.components(repetition)
      .map((comp) =>
        subcomponent === ''
          ? unescapeHl7(comp, this.encoding)
          : comp
              .split(subcomponent)
              .map((s) => unescapeHl7(s, this.encoding))
              .join(subcomponent),
      )
      .join(component)
      .trim();
  }
}
