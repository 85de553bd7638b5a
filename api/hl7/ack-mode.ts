import type { Hl7Header } from './header';

/**
 * Which acknowledgement a message asked for (HL7 v2 enhanced acknowledgement mode, MSH-15/MSH-16,
 * table 0155: AL always, NE never, ER only on error or reject, SU only on success). Both fields
 * empty is original mode: the application ACK (AA/AE/AR), always.
 *
 * labloop's acceptance is its commit: AA is answered only once the message is durable and handed
 * off, so the commit ACK (CA/CE/CR) carries the same outcome. It answers on the connection the
 * message came in on and has no channel of its own back to the sender, so it sends one reply: the
 * commit ACK when MSH-15 asks for one, else the application ACK when MSH-16 does, else nothing.
 * A value outside table 0155 counts as AL: a reply the sender did not expect is safer than silence.
 */
export type AckReply = 'application' | 'commit' | 'none';

const TABLE_0155 = new Set(['AL', 'NE', 'ER', 'SU']);

function wants(condition: string | undefined, success: boolean): boolean {
  const code = (condition ?? '').trim().toUpperCase();
  if (code === '' || code === 'NE') return false;
  if (!TABLE_0155.has(code) || code === 'AL') return true;
  return code === 'SU' ? success : !success;
}

/** The reply due for a message with this header whose outcome is `code`. */
export function ackReplyFor(header: Hl7Header | undefined, code: 'AA' | 'AE' | 'AR'): AckReply {
  const accept = header?.acceptAckType ?? '';
  const application = header?.applicationAckType ?? '';
  if (accept.trim() === '' && application.trim() === '') return 'application';
  const success = code === 'AA';
  if (wants(accept, success)) return 'commit';
  if (wants(application, success)) return 'application';
  return 'none';
}

/** The commit-ACK code (MSA-1) for an outcome: CA accepted, CE error, CR rejected. */
export function commitCode(code: 'AA' | 'AE' | 'AR'): 'CA' | 'CE' | 'CR' {
  return code === 'AA' ? 'CA' : code === 'AE' ? 'CE' : 'CR';
}
