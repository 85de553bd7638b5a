/*
 * Why this file is over 700 lines (about 1,200): startSpruceFake is one closure holding the fake's
 * state and every route of the Spruce public API the client and webhooks use (contacts,
 * conversations, items, media, webhooks), plus the sandbox's control endpoints, dispatched by its own
 * regex router. Cutting it into files by hand would only thread that state through parameters; the
 * planned rebuild of the fakes on Fastify with the shared failure-injection and webhook modules
 * (issue 14) splits it by resource instead, with the router gone.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  applyConnectionFailure,
  FailureInjector,
  handleFailureControl,
  type InjectedFailure,
} from '../shared/failure-injection';
import {
  constantTimeEqual,
  FakeHttpError,
  parseJsonBody,
  readBody,
  requestUrl,
  sendHtml,
  sendJson,
  startFakeHttpServer,
} from '../shared/http';
import { TaskTracker } from '../shared/tasks';
import { parseControl, zodIssuesMessage } from '../shared/validation';
import { WebhookDispatcher, type WebhookAttempt } from '../shared/webhook-dispatcher';
import {
  contactJson,
  conversationJson,
  endpointJson,
  itemJson,
  newId,
  signSpruceWebhook,
  spruceError,
  type FakeContact,
  type FakeConversation,
  type FakeEndpoint,
  type FakeItem,
  type FakeMedia,
} from './model';
import { renderSpruceOutbox, type SpruceOutboxItem } from './outbox';

/** The org's Spruce Link (secure endpoint) and phone line in a default fake. */
export const DEFAULT_SECURE_ENDPOINT_ID = 'organizationCode_FAKE00000000';
export const DEFAULT_PHONE_ENDPOINT_ID = '15005550100';
export const FAKE_ORGANIZATION_NAME = 'Fake Clinic';

/** Spruce retains idempotency keys for 24 hours. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * Webhook retry defaults: Spruce retries every 2 minutes up to 10 attempts and gives the receiver
 * 5 s to answer. The fake keeps 10 attempts and the 5 s deadline but waits 50 ms between them.
 */
export const DEFAULT_WEBHOOK_RETRY = { maxAttempts: 10, retryDelayMs: 50, timeoutMs: 5_000 } as const;
/** Delay between accepting a message (requestId) and the item existing (webhook): Spruce is async. */
export const DEFAULT_MESSAGE_DELAY_MS = 10;
/** Spruce does not publish its limits; these are generous defaults a test can lower. */
export const DEFAULT_RATE_LIMIT = { perMinute: 600, daily: 100_000 } as const;

const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const MAX_ATTACHMENTS = 5;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const DEFAULT_PAGE_SIZE = 100;
const MAX_CONTACT_PAGE_SIZE = 500;
const INTEGRATION_TYPES = ['elation', 'hint', 'athena', 'custom'] as const;

export interface SpruceFakeOptions {
  token: string;
  /** Secret the webhooks are signed with (generated when not given; read it from `webhookSecret`). */
  webhookSecret?: string;
  webhookUrl?: string;
  host?: string;
  port?: number;
  messageDelayMs?: number;
  webhookRetry?: { maxAttempts?: number; retryDelayMs?: number; timeoutMs?: number };
  rateLimit?: { perMinute?: number; daily?: number };
  idempotencyTtlMs?: number;
  internalEndpoints?: FakeEndpoint[];
  /** Organization members that may be paged; when given, pages to anyone else are refused (400). */
  members?: { id: string; displayName: string }[];
  /**
   * Answer without the fields the public reference does not document: contacts without hasAccount
   * and hasPendingInvite, webhook items without an embedded `conversation`. The fake still enforces
   * them (a secure conversation needs an account or an invite), as Spruce does, so a client must
   * learn the answer from the refusal, and a webhook receiver must look the conversation up.
   */
  documentedFieldsOnly?: boolean;
}

export interface SeedContactInput {
  givenName: string;
  familyName: string;
  phone: string;
  /** Creates an athena integration link with this id. */
  externalId?: string;
  hasSpruceAccount?: boolean;
  hasPendingInvite?: boolean;
}

export interface StoredMedia {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  data: Buffer;
}

export interface ReplyResult {
  itemId: string;
  conversationId: string;
  /** Status the webhook receiver answered, null when none is configured, it failed, or webhooks are held. */
  webhookStatus: number | null;
}

export interface SpruceFake {
  url: string;
  /** What the Spruce client's `baseUrl` should be: `<url>/v1`. */
  apiBaseUrl: string;
  webhookSecret: string;
  close(): Promise<void>;
  idle(): Promise<void>;
  reset(): void;

  seedContact(input: SeedContactInput): { id: string; phoneIds: string[] };
  /** The patient installs the app and signs up (or the account goes away). */
  setHasSpruceAccount(contactId: string, hasAccount: boolean): void;
  contact(contactId: string): Record<string, unknown> | undefined;
  items(): SpruceOutboxItem[];
  media(mediaId: string): StoredMedia | undefined;

  failures: FailureInjector;
  /** Fail the next `count` API requests, optionally only those whose path matches `path` (a RegExp source). */
  failNext(failure: InjectedFailure, count?: number, options?: { path?: string }): void;
  setWebhookUrl(url: string | null): void;
  setWebhookBehaviour(behaviour: { duplicate?: boolean }): void;
  /** Hold webhooks from now on; `releaseWebhooks` sends them (reversed = out of order). */
  holdWebhooks(): void;
  releaseWebhooks(options?: { reverse?: boolean }): number;
  webhookAttempts(): WebhookAttempt[];
  simulatePatientReply(input: { contactId: string; text: string }): Promise<ReplyResult>;
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };
const ok = (body: unknown, status = 200): Reply => ({ status, body });
const bad = (message: string, type = 'BAD_PARAMETER'): Reply => ({
  status: 400,
  body: spruceError(400, type, message),
});
const notFound = (what: string): Reply => ({ status: 404, body: spruceError(404, 'NOT_FOUND', `${what} not found`) });

const BodyElementSchema = z.object({ type: z.enum(['text', 'page']), value: z.string() });
const MessagePostSchema = z.object({
  body: z.array(BodyElementSchema).min(1, 'body must have at least one element'),
  attachments: z
    .array(z.object({ attachmentId: z.string().min(1), title: z.string().min(1) }))
    .max(MAX_ATTACHMENTS, `at most ${MAX_ATTACHMENTS} attachments`)
    .optional(),
  author: z.string().optional(),
  internal: z.boolean().optional(),
  stayArchived: z.boolean().optional(),
});
type MessagePost = z.infer<typeof MessagePostSchema>;

const PhoneInputSchema = z.object({ value: z.string().min(1), label: z.string().optional() });
const CreateContactSchema = z.object({
  category: z.enum(['patient', 'professional']).optional(),
  givenName: z.string().optional(),
  familyName: z.string().optional(),
  phoneNumbers: z.array(PhoneInputSchema).optional(),
  emailAddresses: z.array(z.object({ value: z.string() })).optional(),
  faxNumbers: z.array(PhoneInputSchema).optional(),
});
const SearchSchema = z.object({
  freeText: z.string().optional(),
  structured: z
    .object({
      integrationIDFilter: z
        .array(
          z.object({
            integrationIDs: z.array(z.object({ id: z.string(), integrationLinkType: z.string() })),
            match: z.enum(['all', 'any', 'none']),
          }),
        )
        .optional(),
      phoneNumberFilter: z
        .array(z.object({ values: z.array(z.string()), match: z.enum(['all', 'any', 'none']) }))
        .optional(),
      nameFilter: z
        .array(
          z.object({
            names: z.array(z.object({ givenName: z.string().optional(), familyName: z.string().optional() })),
            match: z.enum(['all', 'any', 'none']),
          }),
        )
        .optional(),
      // The filter names (like all of this structured search) are not in the public reference (§3.2
      // says only "structured or free-text"); the fake accepts what labloop's client sends.
      inviteFilter: z
        .array(
          z.object({
            inviteStates: z.array(z.enum(['has_account', 'invited', 'not_invited'])),
            match: z.enum(['all', 'any', 'none']),
          }),
        )
        .optional(),
    })
    .optional(),
});
const CreateConversationSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('secure'),
    secure: z.object({
      destinationContactIds: z.array(z.string()).min(1, 'destinationContactIds must not be empty'),
      internalEndpointId: z.string().min(1),
      subject: z.string().optional(),
      message: MessagePostSchema.optional(),
    }),
  }),
  z.object({
    type: z.literal('note'),
    note: z
      .object({
        memberIds: z.array(z.string()).optional(),
        associatedContactIds: z.array(z.string()).optional(),
        title: z.string().optional(),
        message: MessagePostSchema.optional(),
      })
      .default({}),
  }),
]);
const EndpointMessageSchema = z.object({
  destination: z
    .object({
      secureEndpoint: z
        .object({
          contactId: z.string().min(1),
          deliveryMethod: z
            .enum([
              'any_available_secure_conversation',
              'only_conversations_matching_internal_endpoint',
              'new_conversation',
            ])
            .optional(),
          subject: z.string().optional(),
        })
        .optional(),
      smsOrEmailEndpoint: z.string().optional(),
      faxEndpoint: z.string().optional(),
    })
    .refine(
      (d) => [d.secureEndpoint, d.smsOrEmailEndpoint, d.faxEndpoint].filter((x) => x !== undefined).length === 1,
      {
        message: 'exactly one of secureEndpoint, smsOrEmailEndpoint or faxEndpoint is required',
      },
    ),
  message: MessagePostSchema,
  sendAt: z.string().optional(),
});
const InviteSchema = z.object({
  internalEndpointId: z.string().min(1),
  destinationId: z.string().min(1),
  customMessage: z.string().optional(),
});
const IntegrationLinkSchema = z.object({
  type: z.enum(INTEGRATION_TYPES),
  externalId: z.string().min(1),
  url: z.string().optional(),
});

const ControlSchemas = {
  contact: z.object({
    givenName: z.string().min(1),
    familyName: z.string().min(1),
    phone: z.string().min(1),
    externalId: z.string().optional(),
    hasSpruceAccount: z.boolean().optional(),
    hasPendingInvite: z.boolean().optional(),
  }),
  account: z.object({ hasSpruceAccount: z.boolean() }),
  reply: z.object({ contactId: z.string().min(1), text: z.string().min(1) }),
  behaviour: z.object({ duplicate: z.boolean().optional(), hold: z.boolean().optional() }),
  release: z.object({ reverse: z.boolean().optional() }),
  webhookUrl: z.object({ url: z.url().nullable() }),
};

/** Normalise a phone number the way Spruce accepts them (2065551234, +12065551234, (206) 555-1234). */
function toE164(value: string): string | undefined {
  const trimmed = value.trim();
  const digits = trimmed.replace(/\D/g, '');
  if (trimmed.startsWith('+')) return digits.length >= 8 && digits.length <= 15 ? `+${digits}` : undefined;
  if (digits.length === 10) return `+1${digits}`;
  if (digits.length === 11 && digits.startsWith('1')) return `+${digits}`;
  return undefined;
}

function matches<T>(values: T[], match: 'all' | 'any' | 'none', test: (value: T) => boolean): boolean {
  if (match === 'all') return values.every(test);
  if (match === 'none') return !values.some(test);
  return values.some(test);
}

function defaultEndpoints(): FakeEndpoint[] {
  return [
    {
      id: DEFAULT_SECURE_ENDPOINT_ID,
      channel: 'secure',
      rawValue: 'https://spruce.care/fakeclinic',
      displayValue: 'spruce.care/fakeclinic',
    },
    { id: DEFAULT_PHONE_ENDPOINT_ID, channel: 'phone', rawValue: '+15005550100', displayValue: '(500) 555-0100' },
  ];
}

/**
 * Start a local, faithful fake of Spruce's public API (the parts labloop uses): contacts with
 * integration links and Spruce-account state, invites, secure and note conversations, async
 * messages confirmed by signed `conversationItem.created` webhooks, media upload, idempotency keys,
 * rate-limit headers, failure injection and an outbox page.
 *
 * The API lives under `/v1` (point the client's `baseUrl` at `apiBaseUrl`). Besides it:
 *  - `GET /` outbox page (auto-refresh); `GET /__fake/items` (items + invites), `GET /__fake/webhooks`,
 *    `GET /__fake/media/{id}` (the uploaded bytes)
 *  - `POST /__fake/failures` `{ failure, count?, path? }`, `GET /__fake/failures`,
 *    `POST|DELETE /__fake/outage` `{ status? }` (every `/v1` request is in scope)
 *  - `POST /__fake/contacts` (seed), `POST /__fake/contacts/{id}/account` `{ hasSpruceAccount }`,
 *    `POST /__fake/reply` `{ contactId, text }`
 *  - `POST /__fake/webhooks/behaviour` `{ duplicate?, hold? }`, `POST /__fake/webhooks/release`
 *    `{ reverse? }`, `POST /__fake/webhook-url` `{ url | null }`, `POST /__fake/reset`
 */
export async function startSpruceFake(options: SpruceFakeOptions): Promise<SpruceFake> {
  const tasks = new TaskTracker();
  const failures = new FailureInjector();
  const dispatcher = new WebhookDispatcher(tasks, { ...DEFAULT_WEBHOOK_RETRY, ...options.webhookRetry });
  const webhookSecret = options.webhookSecret ?? randomBytes(24).toString('base64url');
  const messageDelayMs = options.messageDelayMs ?? DEFAULT_MESSAGE_DELAY_MS;
  const limits = { ...DEFAULT_RATE_LIMIT, ...options.rateLimit };
  const idempotencyTtlMs = options.idempotencyTtlMs ?? IDEMPOTENCY_TTL_MS;
  const endpoints = new Map((options.internalEndpoints ?? defaultEndpoints()).map((e) => [e.id, e]));
  const members = options.members === undefined ? undefined : new Map(options.members.map((m) => [m.id, m]));
  const documentedOnly = options.documentedFieldsOnly === true;

  let contacts = new Map<string, FakeContact>();
  let conversations = new Map<string, FakeConversation>();
  let items: FakeItem[] = [];
  let media = new Map<string, FakeMedia>();
  let idempotency = new Map<string, number>();
  let invites: { contactId: string; at: string; destinationId: string }[] = [];
  let webhookUrl = options.webhookUrl ?? null;
  let duplicateWebhooks = false;
  let minute = { start: Date.now(), count: 0 };
  let day = { start: Date.now(), count: 0 };

  let origin = '';
  const apiBase = () => `${origin}/v1`;

  function contactName(id: string): string {
    const c = contacts.get(id);
    return c === undefined ? id : `${c.givenName} ${c.familyName}`.trim();
  }

  function addContact(input: {
    givenName?: string;
    familyName?: string;
    phones: { value: string; label?: string }[];
    category?: 'patient' | 'professional';
    hasAccount?: boolean;
    hasPendingInvite?: boolean;
  }): FakeContact {
    const contact: FakeContact = {
      id: newId.contact(),
      givenName: input.givenName ?? '',
      familyName: input.familyName ?? '',
      category: input.category ?? 'patient',
      phoneNumbers: input.phones.map((p) => ({ id: newId.phone(), value: p.value, label: p.label ?? 'Mobile' })),
      integrationLinks: [],
      hasAccount: input.hasAccount ?? false,
      hasPendingInvite: input.hasPendingInvite ?? false,
      created: new Date().toISOString(),
    };
    contacts.set(contact.id, contact);
    return contact;
  }

  function conversationView(c: FakeConversation) {
    return conversationJson(c, contacts, endpoints, apiBase());
  }

  // ---- messages --------------------------------------------------------------------------------

  function validateMessage(message: MessagePost, conversation: Pick<FakeConversation, 'type'>): string | undefined {
    const internal = message.internal ?? false;
    const pages = message.body.filter((e) => e.type === 'page');
    if (pages.length > 0 && !internal) return 'page elements are only allowed in internal messages';
    if (conversation.type === 'note' && !internal) return 'only internal messages can be posted in note conversations';
    for (const page of pages) {
      if (members !== undefined && !members.has(page.value)) return `page: unknown organization member ${page.value}`;
      if (page.value === '') return 'page: value must be a member id';
    }
    for (const attachment of message.attachments ?? []) {
      if (!media.has(attachment.attachmentId))
        return `attachment ${attachment.attachmentId} is not an uploaded media id`;
    }
    if (message.author !== undefined && members !== undefined && !members.has(message.author)) {
      return `author: unknown organization member ${message.author}`;
    }
    return undefined;
  }

  function webhookRequest(type: string, object: Record<string, unknown>, eventId: string) {
    const body = JSON.stringify({ object: 'event', type, eventTime: new Date().toISOString(), data: { object } });
    return {
      url: webhookUrl ?? '',
      label: type,
      eventId,
      body,
      headers: { 'content-type': 'application/json', 'x-spruce-signature': signSpruceWebhook(webhookSecret, body) },
    };
  }

  function itemCreatedEvent(item: FakeItem) {
    const conversation = conversations.get(item.conversationId);
    // The embedded conversation (with its contacts) is not in the public reference's conversation
    // item (§3.3): documented-only mode leaves it out, so a receiver must ask for the conversation.
    const object = {
      ...itemJson(item, media, origin, apiBase()),
      ...(conversation !== undefined && !documentedOnly ? { conversation: conversationView(conversation) } : {}),
    };
    return webhookRequest('conversationItem.created', object, item.id);
  }

  function addItem(item: FakeItem): void {
    items.push(item);
    const conversation = conversations.get(item.conversationId);
    if (conversation !== undefined) conversation.lastMessageAt = item.createdAt;
  }

  /** Accept a message now (requestId), create the item and send the webhook a little later. */
  function postAsync(conversation: FakeConversation, message: MessagePost, requestId = newId.asyncRequest()): string {
    const internal = message.internal ?? false;
    tasks.track(
      `post ${requestId}`,
      (async () => {
        if (!(await tasks.sleep(messageDelayMs))) return;
        if (!conversations.has(conversation.id)) return; // reset meanwhile
        const item: FakeItem = {
          id: newId.item(),
          conversationId: conversation.id,
          direction: internal || conversation.type === 'note' ? 'none' : 'outbound',
          isInternalNote: internal,
          text: message.body
            .filter((e) => e.type === 'text')
            .map((e) => e.value)
            .join(' '),
          attachments: (message.attachments ?? []).map((a) => ({ mediaId: a.attachmentId, title: a.title })),
          pages: message.body
            .filter((e) => e.type === 'page')
            .map((e) => ({ id: newId.page(), memberId: e.value, resolved: false })),
          author:
            message.author !== undefined
              ? { id: message.author, displayName: members?.get(message.author)?.displayName ?? message.author }
              : { displayName: FAKE_ORGANIZATION_NAME },
          createdAt: new Date().toISOString(),
          requestId,
        };
        addItem(item);
        if (webhookUrl !== null) dispatcher.deliver(itemCreatedEvent(item), { duplicate: duplicateWebhooks });
      })(),
    );
    return requestId;
  }

  function newConversation(fields: Omit<FakeConversation, 'id' | 'createdAt'>): FakeConversation {
    const conversation: FakeConversation = { id: newId.conversation(), createdAt: new Date().toISOString(), ...fields };
    conversations.set(conversation.id, conversation);
    return conversation;
  }

  function secureConversationFor(contactId: string, endpointId: string | undefined): FakeConversation | undefined {
    const candidates = [...conversations.values()].filter(
      (c) => c.type === 'secure' && c.contactIds.includes(contactId),
    );
    return (
      candidates.find((c) => endpointId !== undefined && c.internalEndpointId === endpointId) ??
      (endpointId === undefined ? candidates.at(-1) : undefined)
    );
  }

  function canMessageSecurely(contact: FakeContact): boolean {
    return contact.category === 'patient' && (contact.hasAccount || contact.hasPendingInvite);
  }

  // ---- API routes ------------------------------------------------------------------------------

  type Context = { req: IncomingMessage; url: URL; raw: Buffer; json: () => unknown };
  type Route = {
    method: string;
    pattern: RegExp;
    idempotent: boolean;
    handler: (ctx: Context, params: string[]) => Promise<Reply> | Reply;
  };

  function parse<T extends z.ZodType>(schema: T, ctx: Context): z.output<T> | Reply {
    const parsed = schema.safeParse(ctx.json());
    return parsed.success ? parsed.data : bad(zodIssuesMessage(parsed.error));
  }
  const isReply = (value: unknown): value is Reply =>
    typeof value === 'object' && value !== null && 'status' in value && typeof (value as Reply).status === 'number';

  const routes: Route[] = [
    {
      method: 'GET',
      pattern: /^\/contacts\/([^/]+)$/,
      idempotent: false,
      handler: (_ctx, [id = '']) => {
        const c = contacts.get(id);
        return c === undefined ? notFound('contact') : ok(contactJson(c, apiBase(), documentedOnly));
      },
    },
    {
      method: 'POST',
      pattern: /^\/contacts$/,
      idempotent: true,
      handler: (ctx) => {
        const input = parse(CreateContactSchema, ctx);
        if (isReply(input)) return input;
        const hasSomething =
          (input.givenName ?? '') !== '' ||
          (input.familyName ?? '') !== '' ||
          (input.phoneNumbers?.length ?? 0) > 0 ||
          (input.faxNumbers?.length ?? 0) > 0 ||
          (input.emailAddresses?.length ?? 0) > 0;
        if (!hasSomething)
          return bad('at least one of givenName, familyName, phoneNumbers, faxNumbers, emailAddresses is required');
        const phones: { value: string; label?: string }[] = [];
        for (const p of input.phoneNumbers ?? []) {
          const e164 = toE164(p.value);
          if (e164 === undefined) return bad('phoneNumbers: invalid phone number');
          phones.push({ value: e164, ...(p.label !== undefined ? { label: p.label } : {}) });
        }
        const contact = addContact({
          givenName: input.givenName,
          familyName: input.familyName,
          phones,
          category: input.category,
        });
        return ok(contactJson(contact, apiBase(), documentedOnly), 201);
      },
    },
    {
      method: 'POST',
      pattern: /^\/contacts\/search$/,
      idempotent: false,
      handler: (ctx) => {
        const input = parse(SearchSchema, ctx);
        if (isReply(input)) return input;
        const s = input.structured ?? {};
        const digits = (v: string) => toE164(v) ?? v;
        const found = [...contacts.values()]
          .filter((c) => {
            if (input.freeText !== undefined && input.freeText.trim() !== '') {
              const q = input.freeText.trim().toLowerCase();
              const haystack = [c.givenName, c.familyName, ...c.phoneNumbers.map((p) => p.value)]
                .join(' ')
                .toLowerCase();
              if (!haystack.includes(q)) return false;
            }
            for (const f of s.integrationIDFilter ?? []) {
              const hit = (id: { id: string; integrationLinkType: string }) =>
                c.integrationLinks.some((l) => l.externalId === id.id && l.type === id.integrationLinkType);
              if (!matches(f.integrationIDs, f.match, hit)) return false;
            }
            for (const f of s.phoneNumberFilter ?? []) {
              if (!matches(f.values, f.match, (v) => c.phoneNumbers.some((p) => p.value === digits(v)))) return false;
            }
            for (const f of s.nameFilter ?? []) {
              const hit = (n: { givenName?: string; familyName?: string }) =>
                (n.givenName === undefined || n.givenName.toLowerCase() === c.givenName.toLowerCase()) &&
                (n.familyName === undefined || n.familyName.toLowerCase() === c.familyName.toLowerCase());
              if (!matches(f.names, f.match, hit)) return false;
            }
            for (const f of s.inviteFilter ?? []) {
              const state = c.hasAccount ? 'has_account' : c.hasPendingInvite ? 'invited' : 'not_invited';
              if (!matches(f.inviteStates, f.match, (v) => v === state)) return false;
            }
            return true;
          })
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        const pageSize = Math.min(
          MAX_CONTACT_PAGE_SIZE,
          Math.max(1, Number.parseInt(ctx.url.searchParams.get('pageSize') ?? '', 10) || DEFAULT_PAGE_SIZE),
        );
        const offset = Number.parseInt(ctx.url.searchParams.get('paginationToken') ?? '0', 10) || 0;
        const page = found.slice(offset, offset + pageSize);
        const hasMore = offset + pageSize < found.length;
        return ok({
          contacts: page.map((c) => contactJson(c, apiBase(), documentedOnly)),
          hasMore,
          ...(hasMore ? { paginationToken: String(offset + pageSize) } : {}),
          totalCount: found.length,
          totalCountRelation: 'eq',
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/contacts\/([^/]+)\/integrationlinks$/,
      idempotent: false,
      handler: (_ctx, [id = '']) => {
        const c = contacts.get(id);
        return c === undefined ? notFound('contact') : ok({ integrationLinks: c.integrationLinks });
      },
    },
    {
      method: 'POST',
      pattern: /^\/contacts\/([^/]+)\/integrationlinks$/,
      idempotent: true,
      handler: (ctx, [id = '']) => {
        const c = contacts.get(id);
        if (c === undefined) return notFound('contact');
        const input = parse(IntegrationLinkSchema, ctx);
        if (isReply(input)) return input;
        if (!c.integrationLinks.some((l) => l.type === input.type && l.externalId === input.externalId)) {
          c.integrationLinks.push({
            type: input.type,
            externalId: input.externalId,
            contactId: c.id,
            ...(input.url ? { url: input.url } : {}),
          });
        }
        return ok({ integrationLinks: c.integrationLinks }, 201);
      },
    },
    {
      method: 'GET',
      pattern: /^\/contacts\/([^/]+)\/conversations$/,
      idempotent: false,
      handler: (_ctx, [id = '']) => {
        if (!contacts.has(id)) return notFound('contact');
        return ok({
          conversations: [...conversations.values()].filter((c) => c.contactIds.includes(id)).map(conversationView),
        });
      },
    },
    {
      method: 'POST',
      pattern: /^\/contacts\/([^/]+)\/invite$/,
      idempotent: false,
      handler: (ctx, [id = '']) => {
        const c = contacts.get(id);
        if (c === undefined) return notFound('contact');
        const input = parse(InviteSchema, ctx);
        if (isReply(input)) return input;
        if (c.hasAccount) return bad('contact is already on Spruce');
        if (c.category !== 'patient') return bad('only patient contacts can be invited');
        const endpoint = endpoints.get(input.internalEndpointId);
        if (endpoint?.channel !== 'secure') return bad('internalEndpointId must be a secure endpoint (Spruce Link)');
        if (!c.phoneNumbers.some((p) => p.id === input.destinationId))
          return bad('destinationId is not a phone number or email of this contact');
        c.hasPendingInvite = true;
        invites.push({ contactId: c.id, at: new Date().toISOString(), destinationId: input.destinationId });
        const conversation =
          secureConversationFor(c.id, endpoint.id) ??
          newConversation({
            type: 'secure',
            title: contactName(c.id),
            contactIds: [c.id],
            memberIds: [],
            internalEndpointId: endpoint.id,
          });
        return ok({ contact: contactJson(c, apiBase(), documentedOnly), conversation: conversationView(conversation) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/conversations$/,
      idempotent: true,
      handler: (ctx) => {
        const input = parse(CreateConversationSchema, ctx);
        if (isReply(input)) return input;
        if (input.type === 'secure') {
          const { destinationContactIds, internalEndpointId, subject, message } = input.secure;
          const endpoint = endpoints.get(internalEndpointId);
          if (endpoint?.channel !== 'secure') return bad('internalEndpointId must be a secure endpoint (Spruce Link)');
          for (const contactId of destinationContactIds) {
            const contact = contacts.get(contactId);
            if (contact === undefined) return bad(`destinationContactIds: unknown contact ${contactId}`);
            if (!canMessageSecurely(contact)) {
              return bad(
                'secure conversations require every contact to be a patient with a Spruce account or a pending secure invite',
              );
            }
          }
          const draft = { type: 'secure' as const };
          if (message !== undefined) {
            const problem = validateMessage(message, draft);
            if (problem !== undefined) return bad(problem);
          }
          const conversation = newConversation({
            type: 'secure',
            title: destinationContactIds.map(contactName).join(', '),
            ...(subject !== undefined ? { subject } : {}),
            contactIds: destinationContactIds,
            memberIds: [],
            internalEndpointId,
          });
          const postMessageRequestId = message === undefined ? undefined : postAsync(conversation, message);
          return ok(
            { conversation: conversationView(conversation), ...(postMessageRequestId ? { postMessageRequestId } : {}) },
            201,
          );
        }
        const { memberIds = [], associatedContactIds = [], title, message } = input.note;
        if (message !== undefined) {
          const problem = validateMessage(message, { type: 'note' });
          if (problem !== undefined) return bad(problem);
        }
        for (const memberId of memberIds) {
          if (members !== undefined && !members.has(memberId))
            return bad(`memberIds: unknown organization member ${memberId}`);
        }
        const conversation = newConversation({
          type: 'note',
          title: title ?? 'Note',
          contactIds: associatedContactIds,
          memberIds,
        });
        const postMessageRequestId = message === undefined ? undefined : postAsync(conversation, message);
        return ok(
          { conversation: conversationView(conversation), ...(postMessageRequestId ? { postMessageRequestId } : {}) },
          201,
        );
      },
    },
    {
      method: 'GET',
      pattern: /^\/conversations\/([^/]+)$/,
      idempotent: false,
      handler: (_ctx, [id = '']) => {
        const c = conversations.get(id);
        return c === undefined ? notFound('conversation') : ok({ conversation: conversationView(c) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/conversations\/([^/]+)\/items$/,
      idempotent: false,
      handler: (ctx, [id = '']) => {
        if (!conversations.has(id)) return notFound('conversation');
        const list = items.filter((i) => i.conversationId === id);
        const ordered = ctx.url.searchParams.get('order') === 'oldest_first' ? list : [...list].reverse();
        return ok({
          conversationItems: ordered.map((i) => itemJson(i, media, origin, apiBase())),
          hasMore: false,
          totalCount: list.length,
        });
      },
    },
    {
      method: 'POST',
      pattern: /^\/conversations\/([^/]+)\/messages$/,
      idempotent: true,
      handler: (ctx, [id = '']) => {
        const conversation = conversations.get(id);
        if (conversation === undefined) return notFound('conversation');
        const message = parse(MessagePostSchema, ctx);
        if (isReply(message)) return message;
        const problem = validateMessage(message, conversation);
        if (problem !== undefined) return bad(problem);
        return ok({ requestId: postAsync(conversation, message) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/internalendpoints$/,
      idempotent: false,
      handler: () => ok({ internalEndpoints: [...endpoints.values()].map(endpointJson) }),
    },
    {
      method: 'POST',
      pattern: /^\/internalendpoints\/([^/]+)\/conversations$/,
      idempotent: true,
      handler: (ctx, [endpointId = '']) => {
        const endpoint = endpoints.get(endpointId);
        if (endpoint === undefined) return notFound('internal endpoint');
        const input = parse(EndpointMessageSchema, ctx);
        if (isReply(input)) return input;
        const { secureEndpoint, smsOrEmailEndpoint } = input.destination;
        let conversation: FakeConversation;
        if (secureEndpoint !== undefined) {
          if (endpoint.channel !== 'secure')
            return bad('secure messages must be sent from a secure endpoint (Spruce Link)');
          const contact = contacts.get(secureEndpoint.contactId);
          if (contact === undefined) return bad('destination.secureEndpoint.contactId: unknown contact');
          if (!canMessageSecurely(contact))
            return bad('the contact has neither a Spruce account nor a pending secure invite');
          const method = secureEndpoint.deliveryMethod ?? 'any_available_secure_conversation';
          const existing =
            method === 'new_conversation'
              ? undefined
              : method === 'only_conversations_matching_internal_endpoint'
                ? secureConversationFor(contact.id, endpoint.id)
                : (secureConversationFor(contact.id, endpoint.id) ?? secureConversationFor(contact.id, undefined));
          conversation =
            existing ??
            newConversation({
              type: 'secure',
              title: contactName(contact.id),
              ...(secureEndpoint.subject !== undefined ? { subject: secureEndpoint.subject } : {}),
              contactIds: [contact.id],
              memberIds: [],
              internalEndpointId: endpoint.id,
            });
        } else if (smsOrEmailEndpoint !== undefined) {
          if (endpoint.channel !== 'phone' && endpoint.channel !== 'email')
            return bad('smsOrEmailEndpoint needs a phone or email endpoint');
          const address = endpoint.channel === 'phone' ? toE164(smsOrEmailEndpoint) : smsOrEmailEndpoint;
          if (address === undefined) return bad('destination.smsOrEmailEndpoint: invalid phone number');
          const owner = [...contacts.values()].find((c) => c.phoneNumbers.some((p) => p.value === address));
          conversation =
            [...conversations.values()].find(
              (c) =>
                c.type === endpoint.channel && c.externalAddress === address && c.internalEndpointId === endpoint.id,
            ) ??
            newConversation({
              type: endpoint.channel,
              title: owner !== undefined ? contactName(owner.id) : address,
              contactIds: owner !== undefined ? [owner.id] : [],
              memberIds: [],
              internalEndpointId: endpoint.id,
              externalAddress: address,
            });
        } else {
          return bad('fax is not supported by this fake');
        }
        const problem = validateMessage(input.message, conversation);
        if (problem !== undefined) return bad(problem);
        return ok({ requestId: postAsync(conversation, input.message) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/media$/,
      idempotent: false,
      handler: async (ctx) => {
        const contentType = ctx.req.headers['content-type'] ?? '';
        if (!contentType.startsWith('multipart/form-data')) return bad('media must be uploaded as multipart/form-data');
        let file: unknown;
        try {
          const form = await new Request('http://fake.invalid/media', {
            method: 'POST',
            headers: { 'content-type': contentType },
            body: ctx.raw,
          }).formData();
          file = form.get('media');
        } catch {
          return bad('malformed multipart body');
        }
        if (!(file instanceof Blob)) return bad('multipart field "media" with a file is required');
        const data = Buffer.from(await file.arrayBuffer());
        if (data.length === 0) return bad('media is empty');
        const stored: FakeMedia = {
          id: newId.media(),
          filename: file instanceof File ? file.name : 'upload',
          contentType: file.type || 'application/octet-stream',
          size: data.length,
          data,
          uploadedAt: new Date().toISOString(),
        };
        media.set(stored.id, stored);
        return ok({ id: stored.id, object: 'media' });
      },
    },
  ];

  // ---- request pipeline ------------------------------------------------------------------------

  /** Count this request in both windows (starting a new window when the old one is over). */
  function countRequest(): void {
    const now = Date.now();
    if (now - minute.start >= MINUTE_MS) minute = { start: now, count: 0 };
    if (now - day.start >= DAY_MS) day = { start: now, count: 0 };
    minute.count += 1;
    day.count += 1;
  }

  function rateLimitHeaders(): Record<string, string> {
    return {
      's-ratelimit-limit': String(limits.perMinute),
      's-ratelimit-remaining': String(Math.max(0, limits.perMinute - minute.count)),
      's-ratelimit-daily-limit': String(limits.daily),
      's-ratelimit-daily-remaining': String(Math.max(0, limits.daily - day.count)),
    };
  }

  function sendReply(res: ServerResponse, reply: Reply, headers: Record<string, string>): void {
    const all = { ...headers, ...reply.headers };
    if (reply.body === undefined) {
      res.writeHead(reply.status, all);
      res.end();
    } else {
      sendJson(res, reply.status, reply.body, all);
    }
  }

  function failureReply(failure: InjectedFailure): Reply | undefined {
    if (failure.kind === 'rate-limit') {
      return {
        status: 429,
        body: spruceError(429, 'RATE_LIMITED', 'rate limit exceeded'),
        headers: { 'retry-after': String(failure.retryAfterSeconds) },
      };
    }
    if (failure.kind === 'error') {
      // A 422 that is not a duplicate: Spruce refusing the request's content, in its documented
      // error shape (§3.1 `{statusCode, type, message}`; `invalid_input` is the reference's example).
      if (failure.status === 422) {
        return { status: 422, body: spruceError(422, 'invalid_input', 'injected failure: the request is not valid') };
      }
      return {
        status: failure.status,
        body: spruceError(failure.status, failure.status >= 500 ? 'INTERNAL' : 'ERROR', 'injected failure'),
      };
    }
    return undefined;
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const headers: Record<string, string> = { 's-request-id': newId.request() };
    const auth = req.headers.authorization ?? '';
    const token = /^Bearer\s+(.+)$/i.exec(auth)?.[1] ?? '';
    if (!constantTimeEqual(token, options.token)) {
      sendReply(res, { status: 403, body: spruceError(403, 'FORBIDDEN', 'invalid or disabled API token') }, headers);
      return;
    }
    countRequest();
    Object.assign(headers, rateLimitHeaders());
    if (minute.count > limits.perMinute || day.count > limits.daily) {
      // Spruce publishes neither the status nor a Retry-After for exhaustion; 429 without one here.
      sendReply(res, { status: 429, body: spruceError(429, 'RATE_LIMITED', 'rate limit exceeded') }, headers);
      return;
    }

    const path = url.pathname.slice('/v1'.length) || '/';
    const method = req.method ?? 'GET';
    let route: Route | undefined;
    let params: string[] = [];
    for (const r of routes) {
      const m = r.method === method ? r.pattern.exec(path) : null;
      if (m !== null) {
        route = r;
        params = m.slice(1).map(decodeURIComponent);
        break;
      }
    }
    const raw = await readBody(req);
    const failure = failures.take(url.pathname);
    if (
      failure !== undefined &&
      !((failure.kind === 'hang' || failure.kind === 'reset') && failure.afterProcessing === true)
    ) {
      if (applyConnectionFailure(failure, res)) return;
      const reply = failureReply(failure);
      if (reply !== undefined) {
        sendReply(res, reply, headers);
        return;
      }
    }
    if (route === undefined) {
      sendReply(res, notFound(`route ${method} ${path}`), headers);
      return;
    }

    const key = req.headers['s-idempotency-key'];
    const idempotencyKey = route.idempotent && typeof key === 'string' ? key : undefined;
    let reply: Reply;
    if (
      idempotencyKey !== undefined &&
      (idempotencyKey.length === 0 || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH)
    ) {
      reply = bad(`s-idempotency-key must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
    } else if (
      idempotencyKey !== undefined &&
      (idempotency.get(idempotencyKey) ?? -Infinity) > Date.now() - idempotencyTtlMs
    ) {
      // Spruce does not replay the first response: a repeat is refused as a duplicate (§3.1: 422
      // "duplicate request", in the documented error shape).
      reply = { status: 422, body: spruceError(422, 'DUPLICATE_REQUEST', 'duplicate request') };
    } else {
      const ctx: Context = { req, url, raw, json: () => parseJsonBody(raw) };
      try {
        reply = await route.handler(ctx, params);
      } catch (error) {
        if (error instanceof FakeHttpError)
          reply = { status: error.status, body: spruceError(error.status, 'BAD_PARAMETER', error.message) };
        else throw error;
      }
      if (idempotencyKey !== undefined && reply.status >= 200 && reply.status < 300)
        idempotency.set(idempotencyKey, Date.now());
    }
    if (failure !== undefined && applyConnectionFailure(failure, res)) return;
    sendReply(res, reply, headers);
  }

  // ---- control and outbox ----------------------------------------------------------------------

  function seedContact(input: SeedContactInput): { id: string; phoneIds: string[] } {
    const phone = toE164(input.phone);
    if (phone === undefined) throw new Error('seedContact: phone must be a valid phone number');
    const contact = addContact({
      givenName: input.givenName,
      familyName: input.familyName,
      phones: [{ value: phone }],
      hasAccount: input.hasSpruceAccount ?? false,
      hasPendingInvite: input.hasPendingInvite ?? false,
    });
    if (input.externalId !== undefined) {
      contact.integrationLinks.push({ type: 'athena', externalId: input.externalId, contactId: contact.id });
    }
    return { id: contact.id, phoneIds: contact.phoneNumbers.map((p) => p.id) };
  }

  async function simulatePatientReply(input: { contactId: string; text: string }): Promise<ReplyResult> {
    const contact = contacts.get(input.contactId);
    if (contact === undefined) throw new Error('simulatePatientReply: unknown contact');
    const conversation = secureConversationFor(contact.id, undefined);
    if (conversation === undefined) throw new Error('simulatePatientReply: the contact has no secure conversation');
    const item: FakeItem = {
      id: newId.item(),
      conversationId: conversation.id,
      direction: 'inbound',
      isInternalNote: false,
      text: input.text,
      attachments: [],
      pages: [],
      author: { id: contact.id, displayName: contactName(contact.id) },
      createdAt: new Date().toISOString(),
      requestId: '',
    };
    addItem(item);
    let webhookStatus: number | null = null;
    if (webhookUrl !== null) {
      if (dispatcher.isHolding() || duplicateWebhooks)
        dispatcher.deliver(itemCreatedEvent(item), { duplicate: duplicateWebhooks });
      else webhookStatus = await dispatcher.deliverNow(itemCreatedEvent(item));
    }
    return { itemId: item.id, conversationId: conversation.id, webhookStatus };
  }

  function outboxItems(): SpruceOutboxItem[] {
    return items.map((i) => {
      const conversation = conversations.get(i.conversationId);
      const kind: SpruceOutboxItem['kind'] =
        i.direction === 'inbound'
          ? 'patient-reply'
          : i.pages.length > 0
            ? 'page'
            : i.isInternalNote
              ? 'internal-note'
              : conversation?.type === 'phone'
                ? 'sms'
                : 'secure-message';
      return {
        id: i.id,
        kind,
        conversationId: i.conversationId,
        conversationType: conversation?.type ?? 'unknown',
        subject: conversation?.subject ?? conversation?.title,
        contactIds: conversation?.contactIds ?? [],
        contactNames: (conversation?.contactIds ?? []).map(contactName),
        memberIds: conversation?.memberIds ?? [],
        direction: i.direction,
        text: i.text,
        attachments: i.attachments.map((a) => {
          const m = media.get(a.mediaId);
          return {
            mediaId: a.mediaId,
            title: a.title,
            filename: m?.filename,
            contentType: m?.contentType,
            size: m?.size,
          };
        }),
        pages: i.pages.map((p) => p.memberId),
        requestId: i.requestId,
        createdAt: i.createdAt,
      };
    });
  }

  function reset(): void {
    contacts = new Map();
    conversations = new Map();
    items = [];
    media = new Map();
    idempotency = new Map();
    invites = [];
    webhookUrl = options.webhookUrl ?? null;
    duplicateWebhooks = false;
    minute = { start: Date.now(), count: 0 };
    day = { start: Date.now(), count: 0 };
    failures.reset();
    if (dispatcher.isHolding()) dispatcher.release();
    dispatcher.clearLog();
  }

  async function handleControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (await handleFailureControl(failures, req, res, path)) return;
    const body = async () => parseJsonBody(await readBody(req));
    const method = req.method ?? 'GET';
    const mediaMatch = /^\/__fake\/media\/([^/]+)$/.exec(path);
    if (mediaMatch !== null && method === 'GET') {
      const m = media.get(decodeURIComponent(mediaMatch[1] ?? ''));
      if (m === undefined) {
        sendJson(res, 404, { error: 'no such media' });
        return;
      }
      res.writeHead(200, {
        'content-type': m.contentType,
        'content-length': m.size,
        'content-disposition': `attachment; filename="${m.filename.replace(/"/g, '')}"`,
      });
      res.end(m.data);
      return;
    }
    const accountMatch = /^\/__fake\/contacts\/([^/]+)\/account$/.exec(path);
    if (accountMatch !== null && method === 'POST') {
      const { hasSpruceAccount } = parseControl(ControlSchemas.account, await body());
      api.setHasSpruceAccount(decodeURIComponent(accountMatch[1] ?? ''), hasSpruceAccount);
      sendJson(res, 200, { contact: api.contact(decodeURIComponent(accountMatch[1] ?? '')) });
      return;
    }
    switch (`${method} ${path}`) {
      case 'GET /__fake/items':
        sendJson(res, 200, { items: outboxItems(), invites });
        return;
      case 'GET /__fake/webhooks':
        sendJson(res, 200, { attempts: dispatcher.attempts(), held: dispatcher.heldCount() });
        return;
      case 'POST /__fake/contacts':
        sendJson(res, 201, seedContact(parseControl(ControlSchemas.contact, await body())));
        return;
      case 'POST /__fake/reply':
        sendJson(res, 200, await simulatePatientReply(parseControl(ControlSchemas.reply, await body())));
        return;
      case 'POST /__fake/webhooks/behaviour': {
        const b = parseControl(ControlSchemas.behaviour, await body());
        if (b.duplicate !== undefined) duplicateWebhooks = b.duplicate;
        if (b.hold === true) dispatcher.hold();
        sendJson(res, 200, { duplicate: duplicateWebhooks, holding: dispatcher.isHolding() });
        return;
      }
      case 'POST /__fake/webhooks/release':
        sendJson(res, 200, { released: dispatcher.release(parseControl(ControlSchemas.release, await body())) });
        return;
      case 'POST /__fake/webhook-url':
        webhookUrl = parseControl(ControlSchemas.webhookUrl, await body()).url;
        sendJson(res, 200, { webhookUrl });
        return;
      case 'POST /__fake/reset':
        reset();
        sendJson(res, 200, { reset: true });
        return;
      default:
        sendJson(res, 404, { error: `no control endpoint ${method} ${path}` });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req);
    if (url.pathname === '/' && req.method === 'GET') {
      sendHtml(res, 200, renderSpruceOutbox(outboxItems(), [...contacts.values()], invites, failures.state()));
      return;
    }
    if (url.pathname.startsWith('/__fake/')) return handleControl(req, res, url.pathname);
    if (url.pathname === '/v1' || url.pathname.startsWith('/v1/')) return handleApi(req, res, url);
    sendJson(res, 404, spruceError(404, 'NOT_FOUND', 'not found'));
  }

  const http = await startFakeHttpServer('spruce', handle, { host: options.host, port: options.port });
  origin = http.url;

  const api: SpruceFake = {
    url: http.url,
    apiBaseUrl: `${http.url}/v1`,
    webhookSecret,
    async close() {
      tasks.close();
      await http.close();
    },
    idle: () => tasks.idle(),
    reset,
    seedContact,
    setHasSpruceAccount(contactId, hasAccount) {
      const contact = contacts.get(contactId);
      if (contact === undefined) throw new FakeHttpError(404, 'unknown contact');
      contact.hasAccount = hasAccount;
      if (hasAccount) contact.hasPendingInvite = false;
    },
    contact(contactId) {
      const contact = contacts.get(contactId);
      return contact === undefined ? undefined : contactJson(contact, apiBase(), documentedOnly);
    },
    items: outboxItems,
    media(mediaId) {
      const m = media.get(mediaId);
      return m === undefined
        ? undefined
        : { id: m.id, filename: m.filename, contentType: m.contentType, size: m.size, data: m.data };
    },
    failures,
    failNext: (failure, count = 1, failOptions = {}) => failures.failNext(failure, count, failOptions),
    setWebhookUrl(url) {
      webhookUrl = url;
    },
    setWebhookBehaviour(behaviour) {
      if (behaviour.duplicate !== undefined) duplicateWebhooks = behaviour.duplicate;
    },
    holdWebhooks: () => dispatcher.hold(),
    releaseWebhooks: (releaseOptions) => dispatcher.release(releaseOptions),
    webhookAttempts: () => dispatcher.attempts(),
    simulatePatientReply,
  };
  return api;
}
