import twilio from 'twilio';
import { z } from 'zod';
import { toTwilioSendError } from './errors';
import { observeCall, ObservingRequestClient, type CallObservation } from './http-client';

/**
 * Request timeout for one Twilio REST call. Twilio answers a create in well under a second; 10 s
 * leaves room for a slow edge while keeping a Temporal activity (start-to-close 30 s) able to
 * finish one reconciliation list after a timed-out create: 10 s + 10 s < 30 s.
 */
export const DEFAULT_TWILIO_TIMEOUT_MS = 10_000;

/**
 * How many of a number's newest messages reconciliation looks at. One patient receives a handful of
 * texts per result, so 50 covers days of traffic while keeping the scan to one page.
 */
export const RECONCILE_SCAN_LIMIT = 50;

const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 phone number (+ and 7-15 digits)');
const messageSid = z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/, 'must be a message SID (SM or MM + 32 hex digits)');

const OptionsSchema = z
  .object({
    accountSid: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be AC followed by 32 hex digits'),
    authToken: z.string().min(1, 'is required'),
    messagingServiceSid: z
      .string()
      .regex(/^MG[0-9a-fA-F]{32}$/, 'must be MG followed by 32 hex digits')
      .optional(),
    fromNumber: e164.optional(),
    apiBaseUrl: z.url().optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .refine((o) => o.messagingServiceSid !== undefined || o.fromNumber !== undefined, {
    message: 'set messagingServiceSid or fromNumber',
    path: ['messagingServiceSid'],
  });

const SendSchema = z.object({
  to: e164,
  body: z.string().min(1, 'must not be empty').max(1600, 'must be at most 1600 characters (Twilio limit)'),
  statusCallbackUrl: z.url(),
});

export type TwilioMessagingOptions = z.input<typeof OptionsSchema>;
export type SendSmsInput = z.input<typeof SendSchema>;

export interface SentSms {
  sid: string;
  /** `queued` (From number) or `accepted` (Messaging Service) right after creation. */
  status: string;
}

/** A message as reconciliation and status checks need it. No phone numbers: they are PHI. */
export interface TwilioMessageSummary {
  sid: string;
  status: string;
  /** ISO timestamp; Twilio gives whole seconds. */
  dateCreated: string;
  dateSent: string | null;
  body: string;
  errorCode: number | null;
  numSegments: number;
}

export interface TwilioMessaging {
  /** Create an outbound SMS. Throws `TwilioSendError`. */
  sendSms(input: SendSmsInput): Promise<SentSms>;
  /**
   * Messages to `to` created at or after `sentAfter`, newest first: after an ambiguous create,
   * look here for the message before sending again.
   */
  findRecentMessages(input: { to: string; sentAfter: Date }): Promise<TwilioMessageSummary[]>;
  fetchMessage(sid: string): Promise<TwilioMessageSummary>;
}

function formatIssues(what: string, error: z.ZodError): Error {
  // Names the field and the rule, never the value (a phone number or message text).
  const problems = error.issues.map((i) => `${i.path.join('.') || '(input)'} ${i.message}`).join('; ');
  return new Error(`${what}: ${problems}`);
}

function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw formatIssues(what, parsed.error);
  return parsed.data;
}

function isoOrNull(value: unknown): string | null {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  if (typeof value === 'string' && value !== '') {
    const parsed = new Date(value);
    return Number.isNaN(parsed.getTime()) ? null : parsed.toISOString();
  }
  return null;
}

interface MessageLike {
  sid: string;
  status: string;
  dateCreated: unknown;
  dateSent: unknown;
  body: string | null;
  errorCode: number | null;
  numSegments: string | null;
}

function summarise(m: MessageLike): TwilioMessageSummary {
  return {
    sid: m.sid,
    status: m.status,
    dateCreated: isoOrNull(m.dateCreated) ?? new Date(0).toISOString(),
    dateSent: isoOrNull(m.dateSent),
    body: m.body ?? '',
    errorCode: typeof m.errorCode === 'number' ? m.errorCode : null,
    numSegments: Number.parseInt(m.numSegments ?? '0', 10) || 0,
  };
}

/**
 * Twilio Programmable Messaging, through the official `twilio` package. With `apiBaseUrl` the same
 * client talks to the local fake (sandbox and tests); without it, to api.twilio.com.
 */
export function createTwilioMessaging(options: TwilioMessagingOptions): TwilioMessaging {
  const config = parseOrThrow(OptionsSchema, options, 'Invalid Twilio options');
  const httpClient = new ObservingRequestClient({
    apiBaseUrl: config.apiBaseUrl,
    timeoutMs: config.timeoutMs ?? DEFAULT_TWILIO_TIMEOUT_MS,
  });
  const client = twilio(config.accountSid, config.authToken, { httpClient, autoRetry: false });

  async function call<T>(operation: string, method: 'GET' | 'POST', fn: () => Promise<T>): Promise<T> {
    const observation: CallObservation = {};
    try {
      return await observeCall(fn, observation);
    } catch (error) {
      throw toTwilioSendError(error, operation, method, observation.lastResponse);
    }
  }

  return {
    async sendSms(input) {
      const { to, body, statusCallbackUrl } = parseOrThrow(SendSchema, input, 'Invalid SMS');
      const sender =
        config.messagingServiceSid !== undefined
          ? { messagingServiceSid: config.messagingServiceSid }
          : { from: config.fromNumber };
      const message = await call('create message', 'POST', () =>
        client.messages.create({ to, body, statusCallback: statusCallbackUrl, ...sender }),
      );
      return { sid: message.sid, status: message.status };
    },

    async findRecentMessages(input) {
      const to = parseOrThrow(e164, input.to, 'Invalid To');
      if (!(input.sentAfter instanceof Date) || Number.isNaN(input.sentAfter.getTime())) {
        throw new Error('Invalid sentAfter: must be a valid Date');
      }
      // Filter on date_created ourselves: a message still queued (rate-limited, or accepted just
      // before the timeout) has no date_sent yet, so Twilio's DateSent filter would hide exactly the
      // message we are looking for. Twilio dates have whole seconds, hence the floor.
      const since = Math.floor(input.sentAfter.getTime() / 1000) * 1000;
      const messages = await call('list messages', 'GET', () =>
        client.messages.list({ to, limit: RECONCILE_SCAN_LIMIT, pageSize: RECONCILE_SCAN_LIMIT }),
      );
      return messages
        .map(summarise)
        .filter((m) => Date.parse(m.dateCreated) >= since)
        .sort((a, b) => Date.parse(b.dateCreated) - Date.parse(a.dateCreated));
    },

    async fetchMessage(sid) {
      const valid = parseOrThrow(messageSid, sid, 'Invalid message SID');
      const message = await call('fetch message', 'GET', () => client.messages(valid).fetch());
      return summarise(message);
    },
  };
}
