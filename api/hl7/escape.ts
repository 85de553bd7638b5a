import type { Hl7Encoding } from './encoding';

/**
 * HL7 v2 escape sequences (v2.5.1 ch. 2.7). Decoding is total: a sequence we do not understand,
 * or an escape character with no closing partner, stays in the text exactly as sent, because
 * silently dropping characters from a lab value is worse than showing them.
 */

const UTF8 = new TextDecoder('utf-8', { fatal: false });

/** Formatting commands of the FT type that only mean "start a new line" to a plain-text reader. */
const LINE_BREAK_COMMANDS = /^\.(br|sp\s*\+?\d*|ce)$/;
/** Formatting commands (fill, no-fill, indents, skips) with no plain-text meaning: dropped. */
const IGNORED_FORMAT_COMMANDS = /^\.(fi|nf|in\s*[+-]?\d+|ti\s*[+-]?\d+|sk\s*\+?\d+)$/;
/** Character-set switches (\Cxxyy\, \Mxxyyzz\): the text is already decoded, so the switch is dropped. */
const CHARSET_SWITCH = /^(C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{4}([0-9A-Fa-f]{2})?)$/;
const HEX_BYTES = /^X((?:[0-9A-Fa-f]{2})+)$/;

/**
 * Replaces the escape sequences of `text` (one component or sub-component, already split) by the
 * characters they stand for: \F\ \S\ \T\ \R\ \E\, \Xhh..\ (bytes, decoded as UTF-8, and adjacent
 * hex sequences are decoded together so a multi-byte character may span them), \.br\ (newline),
 * \H\ and \N\ (highlighting, dropped).
 */
export function unescapeHl7(text: string, encoding: Hl7Encoding): string {
  const esc = encoding.escape;
  if (esc === '' || !text.includes(esc)) return text;
  let out = '';
  let pendingBytes: number[] = [];
  const flushBytes = (): void => {
    if (pendingBytes.length > 0) out += UTF8.decode(Uint8Array.from(pendingBytes));
    pendingBytes = [];
  };
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf(esc, i);
    if (start < 0) break;
    const end = text.indexOf(esc, start + 1);
    if (end < 0) break; // a lone escape character is literal text
    const literalBefore = text.slice(i, start);
    if (literalBefore !== '') {
      flushBytes();
      out += literalBefore;
    }
    const body = text.slice(start + 1, end);
    const hex = HEX_BYTES.exec(body);
    if (hex?.[1] !== undefined) {
      for (let h = 0; h < hex[1].length; h += 2) pendingBytes.push(parseInt(hex[1].slice(h, h + 2), 16));
    } else {
      flushBytes();
      const decoded = decodeSequence(body, encoding);
      if (decoded === undefined) {
        // Unknown: keep the opening escape character literally and rescan from the closing one,
        // which may itself open the next (real) sequence.
        out += esc + body;
        i = end;
        continue;
      }
      out += decoded;
    }
    i = end + 1;
  }
  flushBytes();
  return out + text.slice(i);
}

function decodeSequence(body: string, encoding: Hl7Encoding): string | undefined {
  switch (body) {
    case 'F':
      return encoding.field;
    case 'S':
      return encoding.component;
    case 'T':
      return encoding.subcomponent;
    case 'R':
      return encoding.repetition;
    case 'E':
      return encoding.escape;
    case 'H':
    case 'N':
      return '';
    default:
      if (LINE_BREAK_COMMANDS.test(body)) return '\n';
      if (IGNORED_FORMAT_COMMANDS.test(body) || CHARSET_SWITCH.test(body)) return '';
      return undefined;
  }
}

/**
 * Escapes `text` so it can be placed in one component of a message using `encoding` (used for
 * the free text we write into ACKs). Line breaks become \.br\; other control characters become
 * hex sequences so a segment terminator can never be smuggled into a field.
 */
export function escapeHl7(text: string, encoding: Hl7Encoding): string {
  const esc = encoding.escape;
  if (esc === '') {
    // Without an escape character the delimiters cannot be represented: replace them.
    const delimiters = [encoding.field, encoding.component, encoding.repetition, encoding.subcomponent];
    return [...text].map((c) => (delimiters.includes(c) || c < ' ' ? ' ' : c)).join('');
  }
  const table = new Map<string, string>([
    [esc, `${esc}E${esc}`],
    [encoding.field, `${esc}F${esc}`],
    [encoding.component, `${esc}S${esc}`],
    [encoding.repetition, `${esc}R${esc}`],
  ]);
  if (encoding.subcomponent !== '') table.set(encoding.subcomponent, `${esc}T${esc}`);
  let out = '';
  for (const c of text.replace(/\r\n/g, '\n')) {
    const mapped = table.get(c);
    if (mapped !== undefined) out += mapped;
    else if (c === '\n') out += `${esc}.br${esc}`;
    else if (c < ' ' || c === '\x7f')
      out += `${esc}X${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}${esc}`;
    else out += c;
  }
  return out;
}
