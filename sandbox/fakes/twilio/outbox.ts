import type { FailureState } from '../shared/failure-injection';
import { renderOutboxPage, type OutboxSection } from '../shared/outbox-page';
import type { FakeMessageView } from './model';

/** The Twilio fake's outbox page: every message grouped by the patient's number, newest first. */
export function renderTwilioOutbox(
  messages: FakeMessageView[],
  optOuts: { senderKey: string; recipient: string; since: string }[],
  failures: FailureState,
  queueDepth: Record<string, number>,
): string {
  const byNumber = new Map<string, FakeMessageView[]>();
  for (const m of messages) {
    const party = m.direction === 'inbound' ? (m.from ?? '?') : m.to;
    byNumber.set(party, [...(byNumber.get(party) ?? []), m]);
  }
  const sections: OutboxSection[] = [...byNumber].map(([number, list]) => {
    const stopped = optOuts.filter((o) => o.recipient === number);
    return {
      heading: number,
      ...(stopped.length > 0 ? { note: `opted out of ${stopped.map((o) => o.senderKey).join(', ')}` } : {}),
      columns: ['created', 'direction', 'sender', 'body', 'segments', 'status history', 'sid'],
      rows: [...list]
        .reverse()
        .map((m) => [
          m.dateCreated,
          m.direction === 'inbound' ? 'inbound' : m.direction === 'outbound-reply' ? 'reply' : 'outbound',
          m.direction === 'inbound' ? m.to : (m.messagingServiceSid ?? m.from ?? ''),
          m.body,
          `${m.numSegments} (${m.encoding})`,
          m.history.map((h) => `${h.at.slice(11, 23)} ${h.status}${h.errorCode ? ` ${h.errorCode}` : ''}`).join('\n'),
          m.sid,
        ]),
    };
  });
  const queued = Object.entries(queueDepth).filter(([, n]) => n > 0);
  return renderOutboxPage({
    title: 'Twilio fake — outbox',
    summary: [
      `${messages.length} message(s)`,
      failures.outage ? `OUTAGE in force since ${failures.outage.since} (HTTP ${failures.outage.status})` : 'no outage',
      `${failures.queued.length} injected failure(s) queued`,
      queued.length > 0
        ? `waiting in sender queues: ${queued.map(([s, n]) => `${s}=${n}`).join(', ')}`
        : 'sender queues empty',
    ],
    sections,
    emptyText: 'No messages yet.',
  });
}
