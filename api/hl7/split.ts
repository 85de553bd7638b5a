import { SEGMENT_TERMINATOR } from './segments';

/**
 * Batch-envelope segments (file and batch header/trailer). They wrap messages in files and carry
 * nothing we read, so they are dropped rather than mistaken for a message of their own.
 */
const BATCH_ENVELOPE = /^(FHS|BHS|BTS|FTS)/;
/** MLLP start and end blocks, and a byte-order mark, wherever a capture left them. */
// eslint-disable-next-line no-control-regex -- MLLP framing bytes are control characters by definition
const FRAMING_BYTES = /[\x0b\x1c\uFEFF]/g;

/**
 * Splits text holding any number of HL7 v2 messages (a file, a capture) into one string per
 * message: a message starts at each line beginning `MSH`. Any segment terminator is accepted; the
 * output uses CR. Non-blank lines before the first MSH are returned as a message of their own so
 * the parser reports them (as a missing MSH) instead of their being dropped unseen.
 */
export function splitHl7Messages(text: string): string[] {
  const messages: string[][] = [];
  let current: string[] | undefined;
  for (const rawLine of text.replace(FRAMING_BYTES, '').split(SEGMENT_TERMINATOR)) {
    const line = rawLine.trimStart();
    if (line.trim() === '' || BATCH_ENVELOPE.test(line)) continue;
    if (line.startsWith('MSH') || current === undefined) {
      current = [];
      messages.push(current);
    }
    current.push(line);
  }
  return messages.map((lines) => lines.map((l) => `${l}\r`).join(''));
}
