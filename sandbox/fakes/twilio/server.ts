/*
 * Why this file is over 700 lines (about 800): startTwilioFake is one closure holding the fake's
 * state and every Twilio route labloop calls (Messages create, fetch and list, status callbacks,
 * inbound messages and TwiML answers), plus the sandbox's control endpoints, dispatched by hand. The
 * models, errors, opt-out, sender queue and signature are already their own modules; the planned
 * rebuild of the fakes on Fastify (issue 14) splits the routes by resource.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { smsSegments } from '../../../lib/sms/segments';
import {
  applyConnectionFailure,
  FailureInjector,
  handleFailureControl,
  type InjectedFailure,
} from '../shared/failure-injection';
import {
  constantTimeEqual,
  formValue,
  parseForm,
  parseJsonBody,
  readBody,
  requestUrl,
  sendHtml,
  sendJson,
  startFakeHttpServer,
} from '../shared/http';
import { TaskTracker } from '../shared/tasks';
import { parseControl } from '../shared/validation';
import { WebhookDispatcher, type WebhookAttempt } from '../shared/webhook-dispatcher';
import { twilioError, twilioErrorForStatus, type TwilioErrorBody } from './errors';
import {
  messageJson,
  messageView,
  newMessageSid,
  rawDlrDoneDate,
  TWILIO_API_VERSION,
  type FakeMessage,
  type FakeMessageStatus,
  type FakeMessageView,
  type RecipientScenario,
} from './model';
import { DEFAULT_KEYWORD_REPLIES, OptOutRegistry, optOutTypeOf, type AdvancedOptOut, type OptOutType } from './opt-out';
import { renderTwilioOutbox } from './outbox';
import { SenderQueue } from './sender-queue';
import { signTwilioWebhook } from './signature';

/** Pool number used for Messaging Services the fake was not told about (Twilio's magic test number). */
export const DEFAULT_SERVICE_NUMBER = '+15005550006';

/**
 * Callback timing defaults: real carriers take seconds; the fake keeps the order and the gaps but
 * shrinks them so tests stay fast. The sandbox passes larger values to make progress visible.
 */
export const DEFAULT_CALLBACK_DELAYS_MS = { sent: 10, delivered: 30 } as const;

/**
 * Callback retry defaults: Twilio retries a failed status callback once by default (`rc=1`), so two
 * attempts in all, 50 ms apart here. Timeout: Twilio's default read timeout is 15 s.
 */
export const DEFAULT_CALLBACK_RETRY = { maxAttempts: 2, retryDelayMs: 50, timeoutMs: 15_000 } as const;

const E164 = /^\+[1-9]\d{6,14}$/;
const MAX_BODY_CHARACTERS = 1600;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

export interface TwilioFakeOptions {
  accountSid: string;
  authToken: string;
  host?: string;
  /** 0 (default) = any free port. */
  port?: number;
  /** Delays before the `sent` callback (after the message leaves the queue) and `delivered` (after sent). */
  callbackDelaysMs?: { sent?: number; delivered?: number };
  callbackRetry?: { maxAttempts?: number; retryDelayMs?: number; timeoutMs?: number };
  /** Numbers the account owns; when given, any other From is refused with 21606. */
  phoneNumbers?: string[];
  /**
   * Messaging Services and their sender pools; when given, other MG SIDs are refused with 21701.
   * `advancedOptOut` turns on Advanced Opt-Out for the service: its custom keyword replies, and the
   * `OptOutType` parameter on inbound webhooks (sent by Twilio only with Advanced Opt-Out).
   */
  messagingServices?: { sid: string; phoneNumbers: string[]; advancedOptOut?: AdvancedOptOut }[];
  /** Throughput every sender gets unless set per sender (segments per second); unset = unlimited. */
  segmentsPerSecond?: number;
  /** Where inbound messages are POSTed (the number's / service's incoming webhook). */
  inboundUrl?: string;
}

export interface CallbackBehaviour {
  /** Deliver every status callback twice (same idempotency token), like a retried webhook. */
  duplicate: boolean;
  /** Deliver a message's callbacks newest first (e.g. delivered before sent). */
  outOfOrder: boolean;
}

export interface TimelineEntry {
  sid: string;
  sender: string;
  segments: number;
  /** ms since epoch (fractional) when the create was accepted. */
  acceptedAt: number;
  /** ms since epoch (fractional) when the message left the sender queue; null while queued. */
  sentAt: number | null;
}

export interface InboundResult {
  sid: string;
  optOutType?: OptOutType;
  /** Twilio's own keyword auto-reply, when the body was a keyword (sent whatever the webhook answers). */
  autoReply?: string;
  /** The `<Message>` bodies the webhook's TwiML answer asked Twilio to send back. */
  twimlReplies: string[];
  /** Status the inbound webhook answered, or null when none is configured or it never answered. */
  webhookStatus: number | null;
}

export interface TwilioFake {
  url: string;
  accountSid: string;
  /** Base for the twilio client's `apiBaseUrl` (same as `url`). */
  apiBaseUrl: string;
  close(): Promise<void>;
  /** Resolves once every pending send, callback and retry has finished. */
  idle(): Promise<void>;
  reset(): void;

  messages(): FakeMessageView[];
  message(sid: string): FakeMessageView | undefined;
  sentTimeline(sender?: string): TimelineEntry[];
  callbackAttempts(): WebhookAttempt[];

  failures: FailureInjector;
  /** Shorthand for `failures.failNext` (message creates are the requests in scope). */
  failNextCreates(failure: InjectedFailure, count?: number): void;
  setRecipientScenario(to: string, scenario: RecipientScenario | null): void;
  setCallbackBehaviour(behaviour: Partial<CallbackBehaviour>): void;
  /** Throughput for one sender (MG SID or From number), or for all senders when `sender` is null. */
  setSenderRate(sender: string | null, segmentsPerSecond: number | null): void;
  setInboundUrl(url: string | null): void;
  simulateInbound(input: { from: string; to: string; body: string }): Promise<InboundResult>;
  isOptedOut(sender: string, recipient: string): boolean;
}

const ScenarioSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('deliver') }),
  z.object({ kind: z.literal('reject'), code: z.number().int() }),
  z.object({ kind: z.literal('undelivered'), errorCode: z.number().int() }),
  z.object({ kind: z.literal('failed'), errorCode: z.number().int() }),
  z.object({ kind: z.literal('no-receipt') }),
]);

const ControlSchemas = {
  recipient: z.object({ to: z.string().regex(E164, 'must be E.164'), scenario: ScenarioSchema.nullable() }),
  behaviour: z.object({ duplicate: z.boolean().optional(), outOfOrder: z.boolean().optional() }),
  rate: z.object({ sender: z.string().nullable().default(null), segmentsPerSecond: z.number().positive().nullable() }),
  inbound: z.object({ from: z.string().regex(E164), to: z.string().regex(E164), body: z.string() }),
  inboundUrl: z.object({ url: z.url().nullable() }),
};

/** The texts of a TwiML answer's `<Message>` verbs (plain or with a `<Body>`), XML entities decoded. */
export function twimlMessages(xml: string): string[] {
  const decode = (text: string) =>
    text
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
  return [...xml.matchAll(/<Message(?:\s[^>]*)?>([\s\S]*?)<\/Message>/g)].map((m) => {
    const inner = m[1] ?? '';
    const body = /<Body>([\s\S]*?)<\/Body>/.exec(inner);
    return decode((body?.[1] ?? inner).trim());
  });
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Parse a `DateSent` filter value: a date (whole UTC day) or a date-time. */
function dateBound(value: string, edge: 'start' | 'end'): number | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const start = Date.parse(`${value}T00:00:00Z`);
    return edge === 'start' ? start : start + 86_400_000 - 1;
  }
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? undefined : parsed;
}

/**
 * Start a local, faithful fake of Twilio Programmable Messaging (the parts labloop uses): message
 * create/list/fetch with Basic auth and Twilio's error bodies, signed status callbacks, inbound
 * webhooks with STOP handling, per-sender throughput, failure injection and an outbox page.
 *
 * HTTP surface besides the Twilio API (`/2010-04-01/Accounts/{sid}/Messages.json`, `…/Messages/{sid}.json`):
 *  - `GET /` outbox page (auto-refresh); `GET /__fake/messages|timeline|callbacks|opt-outs` as JSON
 *  - `POST /__fake/failures` `{ failure, count?, path? }`, `GET /__fake/failures`,
 *    `POST|DELETE /__fake/outage` `{ status? }` (message creates are the requests in scope)
 *  - `POST /__fake/recipients` `{ to, scenario | null }`, `POST /__fake/callbacks/behaviour`
 *    `{ duplicate?, outOfOrder? }`, `POST /__fake/rate` `{ sender?, segmentsPerSecond | null }`
 *  - `POST /__fake/inbound` `{ from, to, body }`, `POST /__fake/inbound-url` `{ url | null }`, `POST /__fake/reset`
 */
export async function startTwilioFake(options: TwilioFakeOptions): Promise<TwilioFake> {
  const { accountSid, authToken } = options;
  const tasks = new TaskTracker();
  const failures = new FailureInjector();
  const dispatcher = new WebhookDispatcher(tasks, { ...DEFAULT_CALLBACK_RETRY, ...options.callbackRetry });
  const optOuts = new OptOutRegistry();
  const delays = { ...DEFAULT_CALLBACK_DELAYS_MS, ...options.callbackDelaysMs };
  const configuredServices = () => new Map((options.messagingServices ?? []).map((s) => [s.sid, s.phoneNumbers]));
  const advancedOptOuts = new Map(
    (options.messagingServices ?? []).flatMap((s) =>
      s.advancedOptOut === undefined ? [] : [[s.sid, s.advancedOptOut]],
    ),
  );
  // With no services configured, any well-formed MG SID is accepted and gets the default pool number.
  const strictServices = (options.messagingServices?.length ?? 0) > 0;
  let services = configuredServices();
  const ownNumbers = options.phoneNumbers === undefined ? undefined : new Set(options.phoneNumbers);

  let messages: FakeMessage[] = [];
  let scenarios = new Map<string, RecipientScenario>();
  let behaviour: CallbackBehaviour = { duplicate: false, outOfOrder: false };
  let globalRate = options.segmentsPerSecond;
  let senderRates = new Map<string, number>();
  let inboundUrl = options.inboundUrl ?? null;

  const queue = new SenderQueue<FakeMessage>(
    tasks,
    (sender) => senderRates.get(sender) ?? globalRate,
    (message) => tasks.track(`send ${message.sid}`, progress(message)),
  );

  /** The service a number belongs to, if any (its opt-outs then cover the whole pool). */
  function serviceOfNumber(number: string): string | undefined {
    for (const [sid, numbers] of services) if (numbers.includes(number)) return sid;
    return undefined;
  }

  function optOutKey(number: string): string {
    return serviceOfNumber(number) ?? number;
  }

  function poolNumber(serviceSid: string): string {
    return services.get(serviceSid)?.[0] ?? DEFAULT_SERVICE_NUMBER;
  }

  function setStatus(message: FakeMessage, status: FakeMessageStatus, errorCode?: number): void {
    const at = new Date();
    message.status = status;
    message.dateUpdated = at;
    if (errorCode !== undefined) message.errorCode = errorCode;
    message.history.push({ status, at: at.toISOString(), ...(errorCode !== undefined ? { errorCode } : {}) });
  }

  function callbackParams(message: FakeMessage, status: FakeMessageStatus, errorCode?: number): Record<string, string> {
    const params: Record<string, string> = {
      AccountSid: accountSid,
      ApiVersion: TWILIO_API_VERSION,
      From: message.from ?? '',
      MessageSid: message.sid,
      MessageStatus: status,
      SmsSid: message.sid,
      SmsStatus: status,
      To: message.to,
    };
    if (message.messagingServiceSid !== null) params.MessagingServiceSid = message.messagingServiceSid;
    if (errorCode !== undefined && (status === 'failed' || status === 'undelivered'))
      params.ErrorCode = String(errorCode);
    if (status === 'delivered' || status === 'undelivered') params.RawDlrDoneDate = rawDlrDoneDate(new Date());
    return params;
  }

  function signedRequest(url: string, params: Record<string, string>, label: string, eventId: string) {
    return {
      url,
      label,
      eventId,
      body: new URLSearchParams(params).toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'TwilioProxy/1.1',
        'x-twilio-signature': signTwilioWebhook(authToken, url, params),
        'i-twilio-idempotency-token': eventId,
      },
    };
  }

  /**
   * A message's callbacks go out one after another (each waits for the previous one's delivery,
   * retries included), so their arrival order is the order chosen here even on a loaded machine;
   * `outOfOrder` is then the only way to get them reversed, as tests ask for it.
   */
  const callbackChains = new Map<string, Promise<unknown>>();
  function sendCallbacks(message: FakeMessage, events: { status: FakeMessageStatus; errorCode?: number }[]): void {
    const statusCallback = message.statusCallback;
    if (statusCallback === null) return;
    const ordered = behaviour.outOfOrder ? [...events].reverse() : events;
    const duplicate = behaviour.duplicate;
    for (const event of ordered) {
      const params = callbackParams(message, event.status, event.errorCode);
      const token = `${message.sid}-${event.status}-${randomBytes(6).toString('hex')}`;
      const request = signedRequest(statusCallback, params, event.status, token);
      const previous = callbackChains.get(message.sid) ?? Promise.resolve();
      const next = previous.then(() => dispatcher.deliverNow(request, duplicate)).catch(() => null);
      callbackChains.set(message.sid, next);
      tasks.track(`callback ${message.sid} ${event.status}`, next);
    }
  }

  /**
   * A message's life after it leaves the sender queue. Status changes happen in real order; with
   * `outOfOrder` the callbacks are collected and sent newest first once the last status is reached.
   */
  async function progress(message: FakeMessage): Promise<void> {
    const scenario = scenarios.get(message.to) ?? { kind: 'deliver' };
    const sentAt = new Date();
    message.sentAtMs = nowMs();
    if (message.messagingServiceSid !== null) {
      message.from = poolNumber(message.messagingServiceSid);
      message.numSegments = smsSegments(message.body).segments;
    }
    const collected: { status: FakeMessageStatus; errorCode?: number }[] = [];
    const emit = (status: FakeMessageStatus, errorCode?: number) => {
      setStatus(message, status, errorCode);
      const event = errorCode === undefined ? { status } : { status, errorCode };
      if (behaviour.outOfOrder) collected.push(event);
      else sendCallbacks(message, [event]);
    };

    if (scenario.kind === 'failed') {
      if (!(await tasks.sleep(delays.sent))) return;
      emit('failed', scenario.errorCode);
    } else {
      message.dateSent = sentAt;
      if (!(await tasks.sleep(delays.sent))) return;
      emit('sent');
      if (scenario.kind !== 'no-receipt') {
        if (!(await tasks.sleep(delays.delivered))) return;
        if (scenario.kind === 'undelivered') emit('undelivered', scenario.errorCode);
        else emit('delivered');
      }
    }
    if (collected.length > 0) sendCallbacks(message, collected);
  }

  function checkAuth(req: IncomingMessage, pathAccount: string): TwilioErrorBody | undefined {
    const header = req.headers.authorization ?? '';
    const match = /^Basic\s+(.+)$/i.exec(header);
    const decoded = match?.[1] === undefined ? '' : Buffer.from(match[1], 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    const user = sep < 0 ? '' : decoded.slice(0, sep);
    const password = sep < 0 ? '' : decoded.slice(sep + 1);
    if (!constantTimeEqual(user, accountSid) || !constantTimeEqual(password, authToken)) return twilioError(20003);
    if (pathAccount !== accountSid) return twilioError(20404);
    return undefined;
  }

  function sendTwilioError(res: ServerResponse, error: TwilioErrorBody, headers: Record<string, string> = {}): void {
    sendJson(res, error.status, error, headers);
  }

  /** Validate and record a create; returns the message or the Twilio error to answer with. */
  function createMessage(form: Record<string, string | string[]>): FakeMessage | TwilioErrorBody {
    const to = formValue(form, 'To');
    const from = formValue(form, 'From');
    const serviceSid = formValue(form, 'MessagingServiceSid');
    const body = formValue(form, 'Body');
    const statusCallback = formValue(form, 'StatusCallback');

    if (to === undefined || to === '') return twilioError(21604);
    if (!E164.test(to)) return twilioError(21211);
    if ((from === undefined || from === '') && (serviceSid === undefined || serviceSid === ''))
      return twilioError(21603);
    if (serviceSid !== undefined && serviceSid !== '') {
      if (!/^MG[0-9a-fA-F]{32}$/.test(serviceSid) || (strictServices && !services.has(serviceSid))) {
        return twilioError(21701);
      }
      if (!services.has(serviceSid)) services.set(serviceSid, [DEFAULT_SERVICE_NUMBER]);
    } else if (from !== undefined) {
      if (!E164.test(from)) return twilioError(21212);
      if (ownNumbers !== undefined && !ownNumbers.has(from)) return twilioError(21606);
    }
    if (body === undefined || body === '') return twilioError(21602);
    if ([...body].length > MAX_BODY_CHARACTERS) return twilioError(21617);
    if (statusCallback !== undefined && statusCallback !== '') {
      try {
        const parsed = new URL(statusCallback);
        if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return twilioError(21609);
      } catch {
        return twilioError(21609);
      }
    }

    const useService = serviceSid !== undefined && serviceSid !== '';
    const sender = useService ? serviceSid : (from ?? '');
    const senderKey = useService ? serviceSid : optOutKey(sender);
    const scenario = scenarios.get(to);
    if (scenario?.kind === 'reject') return twilioError(scenario.code);
    if (optOuts.isOptedOut(senderKey, to)) return twilioError(21610);

    const now = new Date();
    const segments = smsSegments(body);
    const message: FakeMessage = {
      sid: newMessageSid(),
      accountSid,
      direction: 'outbound-api',
      to,
      from: useService ? null : sender,
      messagingServiceSid: useService ? serviceSid : null,
      body,
      encoding: segments.encoding,
      // With a Messaging Service, Twilio reports 0 segments until a sender is picked.
      numSegments: useService ? 0 : segments.segments,
      status: useService ? 'accepted' : 'queued',
      errorCode: null,
      dateCreated: now,
      dateUpdated: now,
      dateSent: null,
      statusCallback: statusCallback === undefined || statusCallback === '' ? null : statusCallback,
      history: [{ status: useService ? 'accepted' : 'queued', at: now.toISOString() }],
      sender,
      acceptedAtMs: nowMs(),
      sentAtMs: null,
    };
    messages.push(message);
    return message;
  }

  function afterCreate(message: FakeMessage): void {
    if (message.messagingServiceSid !== null) {
      // accepted → queued once the service has taken it; this first change gets a callback.
      setStatus(message, 'queued');
      sendCallbacks(message, [{ status: 'queued' }]);
    }
    queue.enqueue(message.sender, message, smsSegments(message.body).segments);
  }

  async function handleCreate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const failure = failures.take(requestUrl(req).pathname);
    const form = parseForm((await readBody(req)).toString('utf8'));
    if (failure !== undefined) {
      if (failure.kind !== 'rate-limit' && failure.afterProcessing === true) {
        const created = createMessage(form);
        if (!('code' in created)) afterCreate(created);
      }
      if (applyConnectionFailure(failure, res)) return;
      if (failure.kind === 'rate-limit') {
        sendTwilioError(res, twilioError(20429), { 'retry-after': String(failure.retryAfterSeconds) });
        return;
      }
      if (failure.kind === 'error') {
        sendTwilioError(res, twilioErrorForStatus(failure.status));
        return;
      }
    }
    const created = createMessage(form);
    if ('code' in created) {
      sendTwilioError(res, created);
      return;
    }
    sendJson(res, 201, messageJson(created));
    afterCreate(created);
  }

  function handleList(res: ServerResponse, url: URL, pathAccount: string): void {
    const q = url.searchParams;
    const to = q.get('To');
    const from = q.get('From');
    const exact = q.get('DateSent');
    const after = q.get('DateSent>');
    const before = q.get('DateSent<');
    const pageSize = Math.min(
      MAX_PAGE_SIZE,
      Math.max(1, Number.parseInt(q.get('PageSize') ?? '', 10) || DEFAULT_PAGE_SIZE),
    );
    const page = Math.max(0, Number.parseInt(q.get('Page') ?? '', 10) || 0);

    const lower = after !== null ? dateBound(after, 'start') : exact !== null ? dateBound(exact, 'start') : undefined;
    const upper = before !== null ? dateBound(before, 'end') : exact !== null ? dateBound(exact, 'end') : undefined;
    const matching = messages
      .map((m, index) => ({ m, index }))
      .filter(({ m }) => (to === null || m.to === to) && (from === null || m.from === from))
      .filter(({ m }) => {
        if (lower === undefined && upper === undefined) return true;
        // DateSent filters look at date_sent: a message not sent yet does not match.
        if (m.dateSent === null) return false;
        const sent = m.dateSent.getTime();
        return (lower === undefined || sent >= lower) && (upper === undefined || sent <= upper);
      })
      .sort((a, b) => b.m.dateCreated.getTime() - a.m.dateCreated.getTime() || b.index - a.index)
      .map(({ m }) => m);

    const start = page * pageSize;
    const slice = matching.slice(start, start + pageSize);
    const base = `/${TWILIO_API_VERSION}/Accounts/${pathAccount}/Messages.json`;
    const pageUri = (n: number) => {
      const params = new URLSearchParams(q);
      params.set('PageSize', String(pageSize));
      params.set('Page', String(n));
      if (n > 0) params.set('PageToken', `PA${n}`);
      else params.delete('PageToken');
      return `${base}?${params.toString()}`;
    };
    sendJson(res, 200, {
      messages: slice.map(messageJson),
      end: start + Math.max(0, slice.length - 1),
      first_page_uri: pageUri(0),
      next_page_uri: start + pageSize < matching.length ? pageUri(page + 1) : null,
      page,
      page_size: pageSize,
      previous_page_uri: page > 0 ? pageUri(page - 1) : null,
      start,
      uri: pageUri(page),
    });
  }

  /** A message Twilio sends back to the patient by itself: a keyword auto-reply or a TwiML answer. */
  function recordReply(inbound: FakeMessage, body: string): void {
    const now = new Date();
    const segments = smsSegments(body);
    messages.push({
      sid: newMessageSid(),
      accountSid,
      direction: 'outbound-reply',
      to: inbound.from ?? '',
      from: inbound.to,
      messagingServiceSid: inbound.messagingServiceSid,
      body,
      encoding: segments.encoding,
      numSegments: Math.max(1, segments.segments),
      status: 'sent',
      errorCode: null,
      dateCreated: now,
      dateUpdated: now,
      dateSent: now,
      statusCallback: null,
      history: [{ status: 'sent', at: now.toISOString() }],
      sender: inbound.to,
      acceptedAtMs: nowMs(),
      sentAtMs: nowMs(),
    });
  }

  async function simulateInbound(input: { from: string; to: string; body: string }): Promise<InboundResult> {
    const now = new Date();
    const serviceSid = serviceOfNumber(input.to) ?? null;
    const segments = smsSegments(input.body);
    const message: FakeMessage = {
      sid: newMessageSid(),
      accountSid,
      direction: 'inbound',
      to: input.to,
      from: input.from,
      messagingServiceSid: serviceSid,
      body: input.body,
      encoding: segments.encoding,
      numSegments: Math.max(1, segments.segments),
      status: 'received',
      errorCode: null,
      dateCreated: now,
      dateUpdated: now,
      dateSent: now,
      statusCallback: null,
      history: [{ status: 'received', at: now.toISOString() }],
      sender: input.from,
      acceptedAtMs: nowMs(),
      sentAtMs: null,
    };
    messages.push(message);

    const optOutType = optOutTypeOf(input.body);
    const senderKey = optOutKey(input.to);
    if (optOutType === 'STOP') optOuts.optOut(senderKey, input.from, now);
    if (optOutType === 'START') optOuts.optIn(senderKey, input.from);
    const advanced = serviceSid === null ? undefined : advancedOptOuts.get(serviceSid);
    // Default handling and Advanced Opt-Out both answer a keyword; only the text can be changed.
    const autoReply =
      optOutType === undefined ? undefined : (advanced?.replies?.[optOutType] ?? DEFAULT_KEYWORD_REPLIES[optOutType]);
    if (autoReply !== undefined) recordReply(message, autoReply);

    const result: InboundResult = {
      sid: message.sid,
      webhookStatus: null,
      twimlReplies: [],
      ...(optOutType ? { optOutType } : {}),
      ...(autoReply !== undefined ? { autoReply } : {}),
    };
    if (inboundUrl === null) return result;
    const params: Record<string, string> = {
      AccountSid: accountSid,
      ApiVersion: TWILIO_API_VERSION,
      Body: input.body,
      From: input.from,
      MessageSid: message.sid,
      NumMedia: '0',
      NumSegments: String(message.numSegments),
      SmsMessageSid: message.sid,
      SmsSid: message.sid,
      SmsStatus: 'received',
      To: input.to,
    };
    if (serviceSid !== null) params.MessagingServiceSid = serviceSid;
    // Twilio adds OptOutType only when Advanced Opt-Out is on for the Messaging Service (§4.4).
    if (optOutType !== undefined && advanced !== undefined) params.OptOutType = optOutType;
    const token = `${message.sid}-inbound`;
    const answer = await dispatcher.deliverForResponse(signedRequest(inboundUrl, params, 'inbound', token));
    result.webhookStatus = answer.status;
    if (answer.status !== null && answer.status >= 200 && answer.status < 300 && answer.body !== null) {
      result.twimlReplies = twimlMessages(answer.body);
      for (const reply of result.twimlReplies) recordReply(message, reply);
    }
    return result;
  }

  function sentTimeline(sender?: string): TimelineEntry[] {
    return messages
      .filter((m) => m.direction === 'outbound-api' && (sender === undefined || m.sender === sender))
      .map((m) => ({
        sid: m.sid,
        sender: m.sender,
        segments: smsSegments(m.body).segments,
        acceptedAt: m.acceptedAtMs,
        sentAt: m.sentAtMs,
      }));
  }

  function reset(): void {
    messages = [];
    callbackChains.clear();
    services = configuredServices();
    scenarios = new Map();
    behaviour = { duplicate: false, outOfOrder: false };
    globalRate = options.segmentsPerSecond;
    senderRates = new Map();
    inboundUrl = options.inboundUrl ?? null;
    failures.reset();
    optOuts.clear();
    queue.clear();
    dispatcher.clearLog();
  }

  const apiPrefix = `/${TWILIO_API_VERSION}/Accounts/`;

  async function handleControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (await handleFailureControl(failures, req, res, path)) return;
    const body = async () => parseJsonBody(await readBody(req));
    const route = `${req.method ?? 'GET'} ${path}`;
    switch (route) {
      case 'GET /__fake/messages':
        sendJson(res, 200, { messages: messages.map(messageView) });
        return;
      case 'GET /__fake/timeline':
        sendJson(res, 200, { timeline: sentTimeline() });
        return;
      case 'GET /__fake/callbacks':
        sendJson(res, 200, { attempts: dispatcher.attempts() });
        return;
      case 'GET /__fake/opt-outs':
        sendJson(res, 200, { optOuts: optOuts.list() });
        return;
      case 'POST /__fake/recipients': {
        const { to, scenario } = parseControl(ControlSchemas.recipient, await body());
        api.setRecipientScenario(to, scenario);
        sendJson(res, 200, { scenarios: Object.fromEntries(scenarios) });
        return;
      }
      case 'POST /__fake/callbacks/behaviour':
        api.setCallbackBehaviour(parseControl(ControlSchemas.behaviour, await body()));
        sendJson(res, 200, behaviour);
        return;
      case 'POST /__fake/rate': {
        const { sender, segmentsPerSecond } = parseControl(ControlSchemas.rate, await body());
        api.setSenderRate(sender, segmentsPerSecond);
        sendJson(res, 200, { global: globalRate ?? null, senders: Object.fromEntries(senderRates) });
        return;
      }
      case 'POST /__fake/inbound':
        sendJson(res, 200, await simulateInbound(parseControl(ControlSchemas.inbound, await body())));
        return;
      case 'POST /__fake/inbound-url':
        api.setInboundUrl(parseControl(ControlSchemas.inboundUrl, await body()).url);
        sendJson(res, 200, { inboundUrl });
        return;
      case 'POST /__fake/reset':
        reset();
        sendJson(res, 200, { reset: true });
        return;
      default:
        sendJson(res, 404, { error: `no control endpoint ${route}` });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req);
    const path = url.pathname;
    if (path === '/' && req.method === 'GET') {
      sendHtml(
        res,
        200,
        renderTwilioOutbox(messages.map(messageView), optOuts.list(), failures.state(), queue.depth()),
      );
      return;
    }
    if (path.startsWith('/__fake/')) {
      await handleControl(req, res, path);
      return;
    }
    if (!path.startsWith(apiPrefix)) {
      sendTwilioError(res, twilioError(20404));
      return;
    }
    const [pathAccount = '', ...rest] = path.slice(apiPrefix.length).split('/');
    const authError = checkAuth(req, pathAccount);
    if (authError !== undefined) {
      sendTwilioError(
        res,
        authError,
        authError.status === 401 ? { 'www-authenticate': 'Basic realm="Twilio API"' } : {},
      );
      return;
    }
    const resource = rest.join('/');
    if (resource === 'Messages.json' && req.method === 'POST') return handleCreate(req, res);
    if (resource === 'Messages.json' && req.method === 'GET') return handleList(res, url, pathAccount);
    const single = /^Messages\/((?:SM|MM)[0-9a-f]{32})\.json$/.exec(resource);
    if (single !== null && req.method === 'GET') {
      const found = messages.find((m) => m.sid === single[1]);
      if (found === undefined) sendTwilioError(res, twilioError(20404));
      else sendJson(res, 200, messageJson(found));
      return;
    }
    sendTwilioError(res, twilioError(20404));
  }

  const http = await startFakeHttpServer('twilio', handle, { host: options.host, port: options.port });

  const api: TwilioFake = {
    url: http.url,
    apiBaseUrl: http.url,
    accountSid,
    async close() {
      tasks.close();
      await http.close();
    },
    idle: () => tasks.idle(),
    reset,
    messages: () => messages.map(messageView),
    message: (sid) => {
      const found = messages.find((m) => m.sid === sid);
      return found === undefined ? undefined : messageView(found);
    },
    sentTimeline,
    callbackAttempts: () => dispatcher.attempts(),
    failures,
    failNextCreates: (failure, count = 1) => failures.failNext(failure, count),
    setRecipientScenario(to, scenario) {
      if (scenario === null) scenarios.delete(to);
      else scenarios.set(to, scenario);
    },
    setCallbackBehaviour(partial) {
      behaviour = { ...behaviour, ...partial };
    },
    setSenderRate(sender, segmentsPerSecond) {
      if (sender === null) globalRate = segmentsPerSecond ?? undefined;
      else if (segmentsPerSecond === null) senderRates.delete(sender);
      else senderRates.set(sender, segmentsPerSecond);
    },
    setInboundUrl(url) {
      inboundUrl = url;
    },
    simulateInbound,
    isOptedOut: (sender, recipient) =>
      optOuts.isOptedOut(optOutKey(sender), recipient) || optOuts.isOptedOut(sender, recipient),
  };
  return api;
}
