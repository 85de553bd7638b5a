import type { FailureState } from '../shared/failure-injection';
import { renderOutboxPage, type OutboxSection } from '../shared/outbox-page';
import type { FakeContact } from './model';

/** One conversation item as the outbox (HTML and `/__fake/items`) shows it. */
export interface SpruceOutboxItem {
  id: string;
  kind: 'secure-message' | 'internal-note' | 'page' | 'sms' | 'patient-reply';
  conversationId: string;
  conversationType: string;
  subject?: string;
  contactIds: string[];
  contactNames: string[];
  memberIds: string[];
  direction: 'inbound' | 'outbound' | 'none';
  text: string;
  attachments: { mediaId: string; title: string; filename?: string; contentType?: string; size?: number }[];
  /** Member ids paged by this item. */
  pages: string[];
  requestId: string;
  createdAt: string;
}

/** The Spruce fake's outbox page: items grouped by contact, team notes and pages last. */
export function renderSpruceOutbox(
  items: SpruceOutboxItem[],
  contacts: FakeContact[],
  invites: { contactId: string; at: string }[],
  failures: FailureState,
): string {
  const groups = new Map<string, SpruceOutboxItem[]>();
  for (const item of items) {
    const key = item.contactIds[0] ?? '(team notes and pages)';
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  const byId = new Map(contacts.map((c) => [c.id, c]));
  const sections: OutboxSection[] = [...groups].map(([key, list]) => {
    const contact = byId.get(key);
    const invited = invites.filter((i) => i.contactId === key).map((i) => i.at);
    const state =
      contact === undefined
        ? undefined
        : contact.hasAccount
          ? 'has a Spruce account'
          : contact.hasPendingInvite
            ? 'invite pending'
            : 'not on Spruce';
    return {
      heading: contact === undefined ? key : `${contact.givenName} ${contact.familyName} (${contact.id})`,
      ...(state !== undefined
        ? { note: `${state}${invited.length > 0 ? `; invited ${invited.join(', ')}` : ''}` }
        : {}),
      columns: ['created', 'kind', 'conversation', 'text', 'attachments', 'pages'],
      rows: [...list]
        .reverse()
        .map((i) => [
          i.createdAt,
          i.kind,
          `${i.conversationType}${i.subject !== undefined ? `: ${i.subject}` : ''}\n${i.conversationId}`,
          i.text,
          i.attachments
            .map((a) => `${a.title} — ${a.filename ?? '?'} (${a.contentType ?? '?'}, ${a.size ?? 0} bytes)`)
            .join('\n'),
          i.pages.join('\n'),
        ]),
    };
  });
  return renderOutboxPage({
    title: 'Spruce fake — outbox',
    summary: [
      `${items.length} item(s), ${contacts.length} contact(s), ${invites.length} invite(s)`,
      failures.outage ? `OUTAGE in force since ${failures.outage.since} (HTTP ${failures.outage.status})` : 'no outage',
      `${failures.queued.length} injected failure(s) queued`,
    ],
    sections,
    emptyText: 'No conversation items yet.',
  });
}
