import { randomBytes } from 'node:crypto';
import type { SmsEncoding } from '../../../lib/sms/segments';

/** The fake's record of one message, and how it is rendered as Twilio's Message resource JSON. */

export const TWILIO_API_VERSION = '2010-04-01';

export type FakeDirection = 'outbound-api' | 'outbound-reply' | 'inbound';

export type FakeMessageStatus =
  'accepted' | 'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'received';

export interface StatusEvent {
  status: FakeMessageStatus;
  at: string;
  errorCode?: number;
}

export interface FakeMessage {
  sid: string;
  accountSid: string;
  /**
   * `outbound-api`: created through the REST API; `outbound-reply`: Twilio's own keyword auto-reply
   * or the TwiML `<Message>` a webhook answered with; `inbound`: from the patient.
   */
  direction: FakeDirection;
  to: string;
  /** The number that sent it; for a Messaging Service send, set when a pool number is picked. */
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  encoding: SmsEncoding;
  numSegments: number;
  status: FakeMessageStatus;
  errorCode: number | null;
  dateCreated: Date;
  dateUpdated: Date;
  dateSent: Date | null;
  statusCallback: string | null;
  history: StatusEvent[];
  /** Throughput/opt-out identity: the Messaging Service SID or the From number. */
  sender: string;
  /** Precise timestamps (ms since epoch, fractional) for throughput measurement. */
  acceptedAtMs: number;
  sentAtMs: number | null;
}

/** How a recipient's messages behave, set per number by a test or the sandbox. */
export type RecipientScenario =
  /** Deliver normally: sent, then delivered. */
  | { kind: 'deliver' }
  /** Refuse the create with this error (400): 21211, 21610, 21612, 21614, 21408. */
  | { kind: 'reject'; code: number }
  /** Sent, then undelivered with this ErrorCode (30007 filtered, 30003 unreachable, 30005, 30006, …). */
  | { kind: 'undelivered'; errorCode: number }
  /** Failed without being sent, with this ErrorCode (30034 unregistered 10DLC, 30001 queue overflow, …). */
  | { kind: 'failed'; errorCode: number }
  /** Sent, and no delivery receipt ever arrives (delivered is not guaranteed). */
  | { kind: 'no-receipt' };

/** `SM` + 32 lowercase hex digits, like Twilio's message SIDs. */
export function newMessageSid(): string {
  return `SM${randomBytes(16).toString('hex')}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** RFC 2822 the way Twilio writes it: `Thu, 24 Aug 2023 05:01:45 +0000`. */
export function rfc2822(date: Date): string {
  return (
    `${DAYS[date.getUTCDay()]}, ${pad(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

/** Carrier DLR time as Twilio's `RawDlrDoneDate`: `YYMMDDhhmm` (UTC). */
export function rawDlrDoneDate(date: Date): string {
  return (
    pad(date.getUTCFullYear() % 100) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes())
  );
}

export function messagePath(accountSid: string, sid: string): string {
  return `/${TWILIO_API_VERSION}/Accounts/${accountSid}/Messages/${sid}.json`;
}

/** Twilio's Message resource JSON (counts are strings, dates RFC 2822, like the real API). */
export function messageJson(m: FakeMessage): Record<string, unknown> {
  const uri = messagePath(m.accountSid, m.sid);
  return {
    account_sid: m.accountSid,
    api_version: TWILIO_API_VERSION,
    body: m.body,
    date_created: rfc2822(m.dateCreated),
    date_sent: m.dateSent === null ? null : rfc2822(m.dateSent),
    date_updated: rfc2822(m.dateUpdated),
    direction: m.direction,
    error_code: m.errorCode,
    error_message: null,
    from: m.from,
    messaging_service_sid: m.messagingServiceSid,
    num_media: '0',
    num_segments: String(m.numSegments),
    price: null,
    price_unit: 'USD',
    sid: m.sid,
    status: m.status,
    subresource_uris: { media: uri.replace(/\.json$/, '/Media.json') },
    to: m.to,
    uri,
  };
}

/** The outbox/JSON view of a message (everything a test or a person watching needs). */
export interface FakeMessageView {
  sid: string;
  direction: FakeDirection;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  encoding: SmsEncoding;
  numSegments: number;
  status: FakeMessageStatus;
  errorCode: number | null;
  dateCreated: string;
  dateSent: string | null;
  statusCallback: string | null;
  history: StatusEvent[];
}

export function messageView(m: FakeMessage): FakeMessageView {
  return {
    sid: m.sid,
    direction: m.direction,
    to: m.to,
    from: m.from,
    messagingServiceSid: m.messagingServiceSid,
    body: m.body,
    encoding: m.encoding,
    numSegments: m.numSegments,
    status: m.status,
    errorCode: m.errorCode,
    dateCreated: m.dateCreated.toISOString(),
    dateSent: m.dateSent?.toISOString() ?? null,
    statusCallback: m.statusCallback,
    history: m.history.map((h) => ({ ...h })),
  };
}
