import type { PracticePolicy } from '../../domain/practice';
import { DEFAULT_SMS_SENDER_ID, type SmsSender } from './senders';

/**
 * Which practice texts from which Twilio sender, and where two practices share one. A practice
 * names its sender with `policy.smsSenderId` (a TWILIO_SENDERS id; absent: the default sender), and
 * each sender is one Messaging Service or one number. Twilio answers an exact HELP itself with the
 * Messaging Service's Advanced Opt-Out reply (docs/reference external-systems.md §4.6), one text per
 * service: practices that share a sender but have different `smsHelpText` cannot each get their
 * own. labloop cannot fix that from its side, so it says so at start (api/start-api.ts).
 */

/** One sender (Messaging Service SID or number) used by more than one practice with different help texts. */
export interface SharedSmsSender {
  /** The TWILIO_SENDERS ids that resolve to this Messaging Service or number. */
  senderIds: string[];
  practiceIds: string[];
}

export interface SmsSenderUse {
  /** Practice → the sender it texts from (its own, else the default). */
  senderOf: Map<string, SmsSender>;
  shared: SharedSmsSender[];
  /** Practices whose `smsSenderId` no configured sender has (their texts would never be sent). */
  unknownSender: { practiceId: string; smsSenderId: string }[];
}

export function smsSenderUse(policies: readonly PracticePolicy[], senders: readonly SmsSender[]): SmsSenderUse {
  const byId = new Map(senders.map((s) => [s.id, s]));
  const fallback = byId.get(DEFAULT_SMS_SENDER_ID);
  const senderOf = new Map<string, SmsSender>();
  const unknownSender: SmsSenderUse['unknownSender'] = [];
  const byAddress = new Map<string, { senderIds: Set<string>; policies: PracticePolicy[] }>();
  for (const policy of policies) {
    const wanted = policy.smsSenderId ?? DEFAULT_SMS_SENDER_ID;
    const sender = byId.get(wanted) ?? fallback;
    if (!byId.has(wanted)) unknownSender.push({ practiceId: policy.practiceId, smsSenderId: wanted });
    if (sender === undefined) continue;
    senderOf.set(policy.practiceId, sender);
    const address = sender.messagingServiceSid ?? sender.fromNumber ?? sender.id;
    const group = byAddress.get(address) ?? { senderIds: new Set<string>(), policies: [] };
    group.senderIds.add(sender.id);
    group.policies.push(policy);
    byAddress.set(address, group);
  }
  const shared = [...byAddress.values()]
    .filter((g) => new Set(g.policies.map((p) => p.smsHelpText)).size > 1)
    .map((g) => ({ senderIds: [...g.senderIds].sort(), practiceIds: g.policies.map((p) => p.practiceId).sort() }));
  return { senderOf, shared, unknownSender };
}

/** The HELP text each Messaging Service should answer with: the help text of its first practice. */
export function helpTextByMessagingService(
  policies: readonly PracticePolicy[],
  senders: readonly SmsSender[],
): Map<string, string> {
  const { senderOf } = smsSenderUse(policies, senders);
  const texts = new Map<string, string>();
  for (const policy of policies) {
    const sid = senderOf.get(policy.practiceId)?.messagingServiceSid;
    if (sid !== undefined && !texts.has(sid)) texts.set(sid, policy.smsHelpText);
  }
  return texts;
}
