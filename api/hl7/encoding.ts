/**
 * The delimiters of one HL7 v2 message. They come from the message itself (MSH-1 and MSH-2), so a
 * sender may use something other than `|^~\&`; every split and every escape sequence follows them.
 */
export interface Hl7Encoding {
  field: string;
  component: string;
  repetition: string;
  /** Empty when MSH-2 declares no escape character: the text is then taken literally. */
  escape: string;
  /** Empty when MSH-2 declares no sub-component separator. */
  subcomponent: string;
}

/** The delimiters almost every sender uses, and the ones our ACKs use when the message gave none. */
export const DEFAULT_ENCODING: Readonly<Hl7Encoding> = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
};

/** MSH-2 as it is written: component, repetition, escape, sub-component. */
export function encodingCharacters(encoding: Hl7Encoding): string {
  return `${encoding.component}${encoding.repetition}${encoding.escape}${encoding.subcomponent}`;
}

/**
 * Reads the delimiters from MSH-1 (`fieldSeparator`) and MSH-2 (`characters`). Returns a reason
 * instead of an encoding when they cannot work: a delimiter must be a single printable,
 * non-alphanumeric character, and no two delimiters may be the same. v2.7's fifth (truncation)
 * character is tolerated and ignored.
 */
export function encodingFrom(
  fieldSeparator: string,
  characters: string,
): Hl7Encoding | { problem: string; field: 1 | 2 } {
  const usable = (c: string): boolean => c.length === 1 && /^[\x21-\x7e]$/.test(c) && !/^[A-Za-z0-9]$/.test(c);
  if (!usable(fieldSeparator)) return { field: 1, problem: 'MSH-1 (field separator) must be one printable symbol' };
  if (characters.length < 2 || characters.length > 5) {
    return {
      field: 2,
      problem: 'MSH-2 (encoding characters) must hold 2 to 5 characters (component, repetition, escape, ...)',
    };
  }
  const chars = [...characters];
  if (!chars.every(usable)) return { field: 2, problem: 'MSH-2 (encoding characters) must be printable symbols' };
  const delimiters = [fieldSeparator, ...chars.slice(0, 4)];
  if (new Set(delimiters).size !== delimiters.length) {
    return { field: 2, problem: 'MSH-2 (encoding characters) must not repeat a delimiter or MSH-1' };
  }
  return {
    field: fieldSeparator,
    component: chars[0] ?? '',
    repetition: chars[1] ?? '',
    escape: chars[2] ?? '',
    subcomponent: chars[3] ?? '',
  };
}
