/**
 * Twilio's default opt-out handling on long codes and toll-free numbers: an inbound message whose
 * whole body (trimmed, any case) is an opt-out keyword blocks further sends from that sender to that
 * number with 21610 until an opt-in keyword arrives. "STOP please" is not a keyword.
 */

export const OPT_OUT_KEYWORDS = [
  'STOP',
  'STOPALL',
  'UNSUBSCRIBE',
  'CANCEL',
  'END',
  'QUIT',
  'REVOKE',
  'OPTOUT',
] as const;
export const OPT_IN_KEYWORDS = ['START', 'UNSTOP', 'YES'] as const;
export const HELP_KEYWORDS = ['HELP', 'INFO'] as const;

export type OptOutType = 'STOP' | 'START' | 'HELP';

/** The keyword class of an inbound body, if it is exactly one keyword. */
export function optOutTypeOf(body: string): OptOutType | undefined {
  const word = body.trim().toUpperCase();
  if ((OPT_OUT_KEYWORDS as readonly string[]).includes(word)) return 'STOP';
  if ((OPT_IN_KEYWORDS as readonly string[]).includes(word)) return 'START';
  if ((HELP_KEYWORDS as readonly string[]).includes(word)) return 'HELP';
  return undefined;
}

/**
 * Who has opted out of whom. The sender key is the Messaging Service SID when the number belongs to
 * one (an opt-out then covers the whole sender pool) or the phone number itself.
 */
export class OptOutRegistry {
  private readonly entries = new Map<string, string>();

  private key(senderKey: string, recipient: string): string {
    return `${senderKey}|${recipient}`;
  }

  optOut(senderKey: string, recipient: string, at: Date): void {
    this.entries.set(this.key(senderKey, recipient), at.toISOString());
  }

  optIn(senderKey: string, recipient: string): void {
    this.entries.delete(this.key(senderKey, recipient));
  }

  isOptedOut(senderKey: string, recipient: string): boolean {
    return this.entries.has(this.key(senderKey, recipient));
  }

  list(): { senderKey: string; recipient: string; since: string }[] {
    return [...this.entries].map(([key, since]) => {
      const [senderKey = '', recipient = ''] = key.split('|');
      return { senderKey, recipient, since };
    });
  }

  clear(): void {
    this.entries.clear();
  }
}
