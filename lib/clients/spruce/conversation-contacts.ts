import type { SpruceClient } from './client';

/**
 * Which contacts a Spruce conversation is with, asked through the documented API
 * (`GET /conversations/{id}`) and cached: a webhook item carries only its `conversationId` (§3.3
 * lists no contact on a conversation item), so a patient's reply in a thread we never posted into
 * is matched to the patient by the conversation's contacts. Participants of a thread hardly ever
 * change, so an answer is kept for a while; a failed lookup is not cached (the caller fails and
 * Spruce re-delivers the event).
 */

/** How long a conversation's contacts are trusted: 10 minutes (a thread's patient does not change). */
export const CONVERSATION_CONTACTS_TTL_MS = 10 * 60_000;
/** Conversations kept at most; the oldest entry goes first (a practice has far fewer active threads). */
export const CONVERSATION_CONTACTS_MAX_ENTRIES = 10_000;

export interface ConversationContacts {
  /** The contact ids of the conversation. Throws a SpruceError when Spruce cannot be asked. */
  contactIdsOf(conversationId: string): Promise<string[]>;
}

export function createConversationContacts(
  client: Pick<SpruceClient, 'getConversation'>,
  options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
): ConversationContacts {
  const ttlMs = options.ttlMs ?? CONVERSATION_CONTACTS_TTL_MS;
  const maxEntries = options.maxEntries ?? CONVERSATION_CONTACTS_MAX_ENTRIES;
  const now = options.now ?? (() => Date.now());
  // Insertion-ordered, so the first key is the oldest; a lookup in flight is shared by its callers.
  const cache = new Map<string, { at: number; contacts: Promise<string[]> }>();
  return {
    contactIdsOf(conversationId) {
      const hit = cache.get(conversationId);
      if (hit !== undefined && now() - hit.at < ttlMs) return hit.contacts;
      cache.delete(conversationId);
      const contacts = client.getConversation(conversationId).then((c) => c.associatedContactIds);
      cache.set(conversationId, { at: now(), contacts });
      contacts.catch(() => {
        if (cache.get(conversationId)?.contacts === contacts) cache.delete(conversationId);
      });
      while (cache.size > maxEntries) {
        const oldest = cache.keys().next().value;
        if (oldest === undefined) break;
        cache.delete(oldest);
      }
      return contacts;
    },
  };
}
