import type { Hl7Header } from './header';
import { messageLines } from './message';

/**
 * What the retransmission check compares. A sender that did not get our ACK resends the message,
 * and the interface engines between us rewrite what is theirs to rewrite: segment terminators (CR,
 * LF, CRLF), a trailing newline or MLLP framing left in a capture, and MSH-7 (date/time of message),
 * which many engines stamp on every send. Those differences must not turn an honest resend into a
 * "different message" (AE); any other change, in any segment, still does.
 */

/** MSH-7: the one field an engine may restamp on a resend. */
const MSH_DATE_TIME_FIELD = 7;

/**
 * The message with CR terminators, without leading/trailing noise or blank lines, and with MSH-7
 * emptied. Two sends of one message give the same text; changed content gives different text.
 */
export function hl7RetransmissionFingerprint(text: string): string {
  return messageLines(text)
    .map((line, index) => (index === 0 && line.startsWith('MSH') ? withoutMshDateTime(line) : line))
    .map((line) => `${line}\r`)
    .join('');
}

function withoutMshDateTime(msh: string): string {
  const separator = msh.charAt(3);
  if (separator === '') return msh;
  // parts[0] is "MSH", parts[1] is MSH-2, so MSH-n (n ≥ 2) is parts[n - 1].
  const parts = msh.split(separator);
  if (parts.length > MSH_DATE_TIME_FIELD - 1) parts[MSH_DATE_TIME_FIELD - 1] = '';
  return parts.join(separator);
}

/**
 * Who numbered MSH-10: the sending application (MSH-3) and facility (MSH-4), each as namespace and
 * universal ID, upper-cased. Control IDs are unique per sender only, so this is part of the key.
 */
export function hl7Sender(header: Pick<Hl7Header, 'sendingApplication' | 'sendingFacility'>): string {
  const hd = (d: Hl7Header['sendingApplication']) => `${d.namespaceId}^${d.universalId ?? ''}`.toUpperCase();
  return `${hd(header.sendingApplication)}|${hd(header.sendingFacility)}`;
}
