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

/**
 * What Twilio answers a keyword with by itself (docs/reference external-systems.md §4.6: default
 * handling auto-replies to STOP, START and HELP; Advanced Opt-Out can change the text, never turn
 * the reply off). These are Twilio's default texts; the auto-reply is free and always sent.
 */
export const DEFAULT_KEYWORD_REPLIES: Record<OptOutType, string> = {
  STOP: 'You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe.',
  START:
    'You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
  HELP: 'Reply STOP to unsubscribe. Msg&Data Rates May Apply.',
};

/**
 * A Messaging Service's Advanced Opt-Out: custom keyword replies (e.g. the practice's HELP text),
 * and the `OptOutType` parameter on inbound webhooks, which Twilio sends only when it is enabled.
 */
export interface AdvancedOptOut {
  replies?: Partial<Record<OptOutType, string>>;
}

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
