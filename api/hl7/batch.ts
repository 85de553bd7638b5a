import { formatHl7DateTime } from './datetime';
import { messageLines } from './message';
import { splitHl7Messages } from './split';

/**
 * HL7 v2 batch files: `[FHS] {BHS {MSH…} BTS} [FTS]`. Each message in a batch is taken on its own
 * (its own ACK, its own outcome); the reply is a batch of those ACKs in the same envelope, with the
 * sending and receiving sides swapped and BTS-1/FTS-1 counting what it holds.
 */

const ENVELOPE_START = /^(FHS|BHS)/;

/** Whether the text is a batch file (its first segment is FHS or BHS), not a single message. */
export function isHl7Batch(text: string): boolean {
  const first = messageLines(text).find((line) => line.trim() !== '');
  return first !== undefined && ENVELOPE_START.test(first.trimStart());
}

/**
 * The messages of a batch, in order (the envelope segments dropped). Stray lines before the first
 * MSH come back as a message of their own, so they are refused by name rather than lost unseen.
 */
export function batchMessages(text: string): string[] {
  return splitHl7Messages(text);
}

/**
 * The reply batch: FHS (if the file had one) and BHS echo the sender's delimiters and swap
 * sending (3, 4) and receiving (5, 6) application and facility; BHS-12 (reference batch control
 * ID) is the original BHS-11. `acks` are the per-message ACKs (CR-terminated), empty ones (no ACK
 * asked for) left out.
 */
export function buildBatchAck(text: string, acks: readonly string[], now: Date): string {
  const lines = messageLines(text).map((l) => l.trimStart());
  const fhs = lines.find((l) => l.startsWith('FHS'));
  const bhs = lines.find((l) => l.startsWith('BHS'));
  const replies = acks.filter((a) => a !== '');
  const header = (line: string | undefined, id: 'FHS' | 'BHS'): string => {
    const separator = line !== undefined && line.length > 3 ? line.charAt(3) : '|';
    const fields = line === undefined ? [] : line.slice(4).split(separator);
    // fields[k] is ?HS-(k+2): ?HS-1 is the separator itself.
    const at = (n: number) => fields[n - 2] ?? '';
    const out = [id, at(2) || '^~\\&', at(5), at(6), at(3), at(4), formatHl7DateTime(now), '', '', '', '', at(11)];
    while (out.length > 2 && out[out.length - 1] === '') out.pop();
    return `${out.join(separator)}\r`;
  };
  const separator = (bhs ?? fhs)?.charAt(3) || '|';
  return [
    ...(fhs === undefined ? [] : [header(fhs, 'FHS')]),
    header(bhs ?? fhs, 'BHS'),
    ...replies,
    `BTS${separator}${replies.length}\r`,
    ...(fhs === undefined ? [] : [`FTS${separator}1\r`]),
  ].join('');
}
