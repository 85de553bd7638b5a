import { z } from 'zod';
import { classifySpruceStatus, isDuplicateRequestError, SpruceError, SpruceValidationError } from './errors';
import {
  AsyncRequestSchema,
  ContactListSchema,
  ContactSchema,
  ConversationListSchema,
  CreateConversationResponseSchema,
  GetConversationResponseSchema,
  IntegrationLinksResponseSchema,
  InternalEndpointsSchema,
  InviteResponseSchema,
  MediaSchema,
  SpruceErrorBodySchema,
  type SpruceContact,
  type SpruceConversation,
  type SpruceEndpoint,
} from './schemas';

/**
 * Per-request timeout. Spruce answers writes asynchronously (a request id, the work follows), so a
 * healthy call takes well under a second; 10 s allows a slow moment while leaving a 30 s activity
 * time for one retry with the same idempotency key: 10 s + 10 s < 30 s.
 */
export const DEFAULT_SPRUCE_TIMEOUT_MS = 10_000;

/** Spruce keeps idempotency keys for 24 h and accepts at most 255 characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** Spruce accepts at most 5 attachments per message. */
export const MAX_ATTACHMENTS = 5;

/** Integration type used for links to the practice's EHR record. */
export const DEFAULT_INTEGRATION_TYPE = 'athena';

export interface SpruceClientOptions {
  /** e.g. `https://api.sprucehealth.com/v1`, or the fake's `<url>/v1`. */
  baseUrl: string;
  /** Organization API token (Bearer). */
  token: string;
  timeoutMs?: number;
}

/** Rate-limit headers of the last response (absent header = not limited on that dimension). */
export interface SpruceRateLimit {
  limit?: number;
  remaining?: number;
  dailyLimit?: number;
  dailyRemaining?: number;
}

/**
 * Result of a write that carries an idempotency key: either the response, or `alreadyDone` when
 * Spruce answered 422 "duplicate request", i.e. an earlier attempt with this key landed (Spruce does
 * not replay the first response).
 */
export type SpruceWrite<T> = ({ alreadyDone: false } & T) | { alreadyDone: true };

export interface Attachment {
  /** Media id from `uploadMedia`. */
  mediaId: string;
  title: string;
}

export type EndpointDestination =
  | { kind: 'sms-or-email'; address: string }
  | {
      kind: 'secure';
      contactId: string;
      subject?: string;
      deliveryMethod?:
        'any_available_secure_conversation' | 'only_conversations_matching_internal_endpoint' | 'new_conversation';
    };

export interface SpruceClient {
  searchContacts(
    query: { freeText?: string; structured?: Record<string, unknown> },
    page?: { pageSize?: number; paginationToken?: string },
  ): Promise<{ contacts: SpruceContact[]; hasMore: boolean; paginationToken?: string }>;
  /** The contact linked to this EHR id, if any. */
  findContactByIntegration(input: { externalId: string; type?: string }): Promise<SpruceContact | undefined>;
  /**
   * Create a patient contact and link it to the EHR id. Safe to repeat with the same key: an
   * existing link is returned as is, and a contact created by an attempt whose answer was lost is
   * found again by name and phone number before linking.
   */
  createContact(input: {
    givenName: string;
    familyName: string;
    phoneNumbers: string[];
    externalId: string;
    integrationType?: string;
    idempotencyKey: string;
  }): Promise<{ contact: SpruceContact; created: boolean }>;
  getContact(contactId: string): Promise<SpruceContact>;
  /** One conversation (`GET /conversations/{id}`, §3.2): its type and the contacts it is with. */
  getConversation(conversationId: string): Promise<SpruceConversation>;
  listContactConversations(contactId: string): Promise<SpruceConversation[]>;
  /**
   * Invite a patient to Spruce (secure messaging). Fails (400) if the patient is already on Spruce.
   * The answer's body is not in the public reference: either part may be absent.
   */
  invite(
    contactId: string,
    options: { internalEndpointId: string; destinationId?: string; customMessage?: string },
  ): Promise<{ contact?: SpruceContact; conversationId?: string }>;
  createSecureConversation(input: {
    contactId: string;
    internalEndpointId: string;
    subject: string;
    idempotencyKey: string;
  }): Promise<SpruceWrite<{ conversationId: string }>>;
  postMessage(input: {
    conversationId: string;
    text: string;
    attachments?: Attachment[];
    internal?: boolean;
    pageMemberIds?: string[];
    idempotencyKey: string;
  }): Promise<SpruceWrite<{ requestId: string }>>;
  uploadMedia(input: { filename: string; contentType: string; data: Buffer }): Promise<{ mediaId: string }>;
  /** An internal note conversation for teammates; by default it pages every member. */
  createNoteConversation(input: {
    memberIds: string[];
    title: string;
    text: string;
    idempotencyKey: string;
    associatedContactIds?: string[];
    pageMemberIds?: string[];
  }): Promise<SpruceWrite<{ conversationId: string; postMessageRequestId?: string }>>;
  /** Send from one of the org's endpoints: a plain SMS/email, or a secure message to a contact. */
  postFromEndpoint(input: {
    internalEndpointId: string;
    destination: EndpointDestination;
    text: string;
    attachments?: Attachment[];
    idempotencyKey: string;
  }): Promise<SpruceWrite<{ requestId: string }>>;
  listInternalEndpoints(): Promise<SpruceEndpoint[]>;
  /** Rate-limit headers from the most recent response. */
  lastRateLimit(): SpruceRateLimit;
}

const nonEmpty = (what: string) => z.string().min(1, `${what} is required`);
const idempotencyKey = z
  .string()
  .min(1, 'idempotencyKey is required')
  .max(MAX_IDEMPOTENCY_KEY_LENGTH, `idempotencyKey must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
const attachments = z
  .array(z.object({ mediaId: nonEmpty('attachments[].mediaId'), title: nonEmpty('attachments[].title') }))
  .max(MAX_ATTACHMENTS, `at most ${MAX_ATTACHMENTS} attachments`)
  .optional();

function validate<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    // Names fields and rules only: values may be names, phone numbers or message text.
    const problems = parsed.error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ` : '') + i.message);
    throw new Error(`Invalid ${what}: ${problems.join('; ')}`);
  }
  return parsed.data;
}

function headerNumber(headers: Headers, name: string): number | undefined {
  const value = headers.get(name);
  if (value === null || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const DUPLICATE = Symbol('duplicate request');

interface RequestSpec<T extends z.ZodType> {
  method: 'GET' | 'POST';
  path: string;
  operation: string;
  schema: T;
  json?: unknown;
  form?: FormData;
  query?: Record<string, string | undefined>;
  idempotencyKey?: string;
}

/** Spruce's public REST API (https://developer.sprucehealth.com). */
export function createSpruceClient(options: SpruceClientOptions): SpruceClient {
  const config = validate(
    z.object({
      baseUrl: z.url('baseUrl must be a URL'),
      token: nonEmpty('token'),
      timeoutMs: z.number().int().positive().optional(),
    }),
    options,
    'Spruce options',
  );
  const base = config.baseUrl.replace(/\/+$/, '');
  const timeoutMs = config.timeoutMs ?? DEFAULT_SPRUCE_TIMEOUT_MS;
  let rateLimit: SpruceRateLimit = {};

  async function request<T extends z.ZodType>(spec: RequestSpec<T>): Promise<z.output<T> | typeof DUPLICATE> {
    const url = new URL(base + spec.path);
    for (const [name, value] of Object.entries(spec.query ?? {}))
      if (value !== undefined) url.searchParams.set(name, value);
    const headers: Record<string, string> = { authorization: `Bearer ${config.token}`, accept: 'application/json' };
    if (spec.json !== undefined) headers['content-type'] = 'application/json';
    if (spec.idempotencyKey !== undefined) headers['s-idempotency-key'] = spec.idempotencyKey;

    let response: Response;
    try {
      response = await fetch(url, {
        method: spec.method,
        headers,
        body: spec.form ?? (spec.json === undefined ? undefined : JSON.stringify(spec.json)),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
      const code = typeof cause?.code === 'string' ? cause.code : error instanceof Error ? error.name : 'unknown';
      const refused = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
      throw new SpruceError(`Spruce ${spec.operation} failed without an answer (${code})`, {
        kind: 'retryable',
        ambiguous: spec.method === 'POST' && !refused,
      });
    }

    rateLimit = {
      limit: headerNumber(response.headers, 's-ratelimit-limit'),
      remaining: headerNumber(response.headers, 's-ratelimit-remaining'),
      dailyLimit: headerNumber(response.headers, 's-ratelimit-daily-limit'),
      dailyRemaining: headerNumber(response.headers, 's-ratelimit-daily-remaining'),
    };
    const requestId = response.headers.get('s-request-id') ?? undefined;
    const text = await response.text();
    let body: unknown = undefined;
    if (text !== '') {
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        body = undefined;
      }
    }

    if (!response.ok) {
      const parsed = SpruceErrorBodySchema.safeParse(body);
      const type = parsed.success ? parsed.data.type : undefined;
      if (response.status === 422) {
        if (spec.idempotencyKey !== undefined && isDuplicateRequestError(422, parsed.success ? parsed.data : undefined))
          return DUPLICATE;
        throw new SpruceValidationError(
          `Spruce ${spec.operation} refused the request: HTTP 422${type ? ` ${type}` : ''}`,
          {
            status: 422,
            type,
            requestId,
          },
        );
      }
      throw new SpruceError(`Spruce ${spec.operation} failed: HTTP ${response.status}${type ? ` ${type}` : ''}`, {
        kind: classifySpruceStatus(response.status),
        status: response.status,
        type,
        requestId,
        retryAfterMs: retryAfterMs(response.headers),
      });
    }
    const parsed = spec.schema.safeParse(body);
    if (!parsed.success) {
      throw new SpruceError(`Spruce ${spec.operation} returned an unexpected body`, {
        kind: 'permanent',
        status: response.status,
        type: 'unexpected_response',
        requestId,
      });
    }
    return parsed.data;
  }

  async function read<T extends z.ZodType>(spec: Omit<RequestSpec<T>, 'idempotencyKey'>): Promise<z.output<T>> {
    const result = await request(spec);
    if (result === DUPLICATE) throw new Error('unreachable: a request without idempotency key cannot be a duplicate');
    return result;
  }

  const encode = encodeURIComponent;

  /** One page of Spruce's structured contact search (`POST /contacts/search`). */
  function searchContactPage(body: unknown, query?: Record<string, string | undefined>) {
    return read({
      method: 'POST',
      path: '/contacts/search',
      operation: 'search contacts',
      schema: ContactListSchema,
      json: body,
      ...(query !== undefined ? { query } : {}),
    });
  }

  async function findContactByIntegration(input: { externalId: string; type?: string }) {
    const { externalId, type } = validate(
      z.object({ externalId: nonEmpty('externalId'), type: z.string().default(DEFAULT_INTEGRATION_TYPE) }),
      input,
      'integration lookup',
    );
    // The structured filter names are not in the public reference (§3.2 says only "structured or
    // free-text"); tolerated: the answer is checked here, so a filter Spruce ignores finds nothing wrong.
    const result = await searchContactPage({
      structured: {
        integrationIDFilter: [{ integrationIDs: [{ id: externalId, integrationLinkType: type }], match: 'any' }],
      },
    });
    return result.contacts.find((c) => c.integrationLinks.some((l) => l.externalId === externalId && l.type === type));
  }

  async function postMessageBody(
    path: string,
    operation: string,
    body: unknown,
    key: string,
  ): Promise<SpruceWrite<{ requestId: string }>> {
    const result = await request({
      method: 'POST',
      path,
      operation,
      schema: AsyncRequestSchema,
      json: body,
      idempotencyKey: key,
    });
    return result === DUPLICATE ? { alreadyDone: true } : { alreadyDone: false, requestId: result.requestId };
  }

  function messageBody(text: string, pageMemberIds: string[], files: Attachment[] | undefined, internal: boolean) {
    return {
      body: [{ type: 'text', value: text }, ...pageMemberIds.map((id) => ({ type: 'page', value: id }))],
      ...(files !== undefined && files.length > 0
        ? { attachments: files.map((a) => ({ attachmentId: a.mediaId, title: a.title })) }
        : {}),
      internal,
    };
  }

  return {
    async searchContacts(query, page = {}) {
      const result = await searchContactPage(query, {
        pageSize: page.pageSize === undefined ? undefined : String(page.pageSize),
        paginationToken: page.paginationToken,
      });
      return { contacts: result.contacts, hasMore: result.hasMore, paginationToken: result.paginationToken };
    },

    findContactByIntegration,

    async createContact(input) {
      const v = validate(
        z.object({
          givenName: nonEmpty('givenName'),
          familyName: nonEmpty('familyName'),
          phoneNumbers: z
            .array(z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be E.164'))
            .min(1, 'at least one phone number'),
          externalId: nonEmpty('externalId'),
          integrationType: z.string().default(DEFAULT_INTEGRATION_TYPE),
          // room for the ':contact' / ':link' suffixes of the two writes it makes
          idempotencyKey: idempotencyKey.max(MAX_IDEMPOTENCY_KEY_LENGTH - ':contact'.length),
        }),
        input,
        'contact',
      );
      const existing = await findContactByIntegration({ externalId: v.externalId, type: v.integrationType });
      if (existing !== undefined) return { contact: existing, created: false };

      const created = await request({
        method: 'POST',
        path: '/contacts',
        operation: 'create contact',
        schema: ContactSchema,
        json: {
          category: 'patient',
          givenName: v.givenName,
          familyName: v.familyName,
          phoneNumbers: v.phoneNumbers.map((value) => ({ value, label: 'Mobile' })),
        },
        idempotencyKey: `${v.idempotencyKey}:contact`,
      });
      let contact: SpruceContact | undefined;
      if (created === DUPLICATE) {
        // An earlier attempt created the contact but its answer (and the id) was lost: find it again.
        const found = await searchContactPage({
          structured: {
            nameFilter: [{ names: [{ givenName: v.givenName, familyName: v.familyName }], match: 'any' }],
            phoneNumberFilter: [{ values: v.phoneNumbers, match: 'any' }],
          },
        });
        contact = found.contacts[0];
        if (contact === undefined) {
          throw new SpruceError('Spruce create contact was a duplicate but the contact cannot be found yet', {
            kind: 'retryable',
            type: 'duplicate_not_found',
          });
        }
      } else {
        contact = created;
      }

      const linked = await request({
        method: 'POST',
        path: `/contacts/${encode(contact.id)}/integrationlinks`,
        operation: 'create integration link',
        schema: IntegrationLinksResponseSchema,
        json: { type: v.integrationType, externalId: v.externalId },
        idempotencyKey: `${v.idempotencyKey}:link`,
      });
      const integrationLinks = linked === DUPLICATE ? contact.integrationLinks : linked.integrationLinks;
      return { contact: { ...contact, integrationLinks }, created: created !== DUPLICATE };
    },

    async getContact(contactId) {
      const id = validate(nonEmpty('contactId'), contactId, 'contact id');
      return read({ method: 'GET', path: `/contacts/${encode(id)}`, operation: 'get contact', schema: ContactSchema });
    },

    async getConversation(conversationId) {
      const id = validate(nonEmpty('conversationId'), conversationId, 'conversation id');
      return read({
        method: 'GET',
        path: `/conversations/${encode(id)}`,
        operation: 'get conversation',
        schema: GetConversationResponseSchema,
      });
    },

    async listContactConversations(contactId) {
      const id = validate(nonEmpty('contactId'), contactId, 'contact id');
      const result = await read({
        method: 'GET',
        path: `/contacts/${encode(id)}/conversations`,
        operation: 'list contact conversations',
        schema: ConversationListSchema,
      });
      return result.conversations;
    },

    async invite(contactId, inviteOptions) {
      const id = validate(nonEmpty('contactId'), contactId, 'contact id');
      const v = validate(
        z.object({
          internalEndpointId: nonEmpty('internalEndpointId'),
          destinationId: z.string().min(1).optional(),
          customMessage: z.string().optional(),
        }),
        inviteOptions,
        'invite',
      );
      let destinationId = v.destinationId;
      if (destinationId === undefined) {
        const contact = await read({
          method: 'GET',
          path: `/contacts/${encode(id)}`,
          operation: 'get contact',
          schema: ContactSchema,
        });
        destinationId = contact.phoneNumbers[0]?.id;
        if (destinationId === undefined) {
          throw new SpruceError('Spruce invite impossible: the contact has no phone number', {
            kind: 'permanent',
            type: 'no_destination',
          });
        }
      }
      const result = await read({
        method: 'POST',
        path: `/contacts/${encode(id)}/invite`,
        operation: 'invite contact',
        schema: InviteResponseSchema,
        json: {
          internalEndpointId: v.internalEndpointId,
          destinationId,
          ...(v.customMessage !== undefined ? { customMessage: v.customMessage } : {}),
        },
      });
      return {
        ...(result.contact !== undefined ? { contact: result.contact } : {}),
        ...(result.conversation !== undefined ? { conversationId: result.conversation.id } : {}),
      };
    },

    async createSecureConversation(input) {
      const v = validate(
        z.object({
          contactId: nonEmpty('contactId'),
          internalEndpointId: nonEmpty('internalEndpointId'),
          subject: nonEmpty('subject'),
          idempotencyKey,
        }),
        input,
        'secure conversation',
      );
      const result = await request({
        method: 'POST',
        path: '/conversations',
        operation: 'create secure conversation',
        schema: CreateConversationResponseSchema,
        json: {
          type: 'secure',
          secure: {
            destinationContactIds: [v.contactId],
            internalEndpointId: v.internalEndpointId,
            subject: v.subject,
          },
        },
        idempotencyKey: v.idempotencyKey,
      });
      return result === DUPLICATE
        ? { alreadyDone: true }
        : { alreadyDone: false, conversationId: result.conversation.id };
    },

    async postMessage(input) {
      const v = validate(
        z
          .object({
            conversationId: nonEmpty('conversationId'),
            text: nonEmpty('text'),
            attachments,
            internal: z.boolean().default(false),
            pageMemberIds: z.array(nonEmpty('pageMemberIds[]')).default([]),
            idempotencyKey,
          })
          .refine((m) => m.pageMemberIds.length === 0 || m.internal, {
            message: 'pages are only allowed on internal messages (set internal: true)',
            path: ['pageMemberIds'],
          }),
        input,
        'message',
      );
      return postMessageBody(
        `/conversations/${encode(v.conversationId)}/messages`,
        'post message',
        messageBody(v.text, v.pageMemberIds, v.attachments, v.internal),
        v.idempotencyKey,
      );
    },

    async uploadMedia(input) {
      const v = validate(
        z.object({
          filename: nonEmpty('filename'),
          contentType: nonEmpty('contentType'),
          data: z.instanceof(Buffer).refine((b) => b.length > 0, 'data must not be empty'),
        }),
        input,
        'media',
      );
      const form = new FormData();
      form.append('media', new Blob([v.data], { type: v.contentType }), v.filename);
      const result = await read({
        method: 'POST',
        path: '/media',
        operation: 'upload media',
        schema: MediaSchema,
        form,
      });
      return { mediaId: result.id };
    },

    async createNoteConversation(input) {
      const v = validate(
        z.object({
          memberIds: z.array(nonEmpty('memberIds[]')).min(1, 'at least one member'),
          title: nonEmpty('title'),
          text: nonEmpty('text'),
          idempotencyKey,
          associatedContactIds: z.array(z.string()).default([]),
          pageMemberIds: z.array(z.string()).optional(),
        }),
        input,
        'note conversation',
      );
      const pages = v.pageMemberIds ?? v.memberIds;
      const result = await request({
        method: 'POST',
        path: '/conversations',
        operation: 'create note conversation',
        schema: CreateConversationResponseSchema,
        json: {
          type: 'note',
          note: {
            memberIds: v.memberIds,
            associatedContactIds: v.associatedContactIds,
            title: v.title,
            message: messageBody(v.text, pages, undefined, true),
          },
        },
        idempotencyKey: v.idempotencyKey,
      });
      return result === DUPLICATE
        ? { alreadyDone: true }
        : {
            alreadyDone: false,
            conversationId: result.conversation.id,
            ...(result.postMessageRequestId !== undefined ? { postMessageRequestId: result.postMessageRequestId } : {}),
          };
    },

    async postFromEndpoint(input) {
      const v = validate(
        z.object({
          internalEndpointId: nonEmpty('internalEndpointId'),
          destination: z.discriminatedUnion('kind', [
            z.object({ kind: z.literal('sms-or-email'), address: nonEmpty('destination.address') }),
            z.object({
              kind: z.literal('secure'),
              contactId: nonEmpty('destination.contactId'),
              subject: z.string().optional(),
              deliveryMethod: z
                .enum([
                  'any_available_secure_conversation',
                  'only_conversations_matching_internal_endpoint',
                  'new_conversation',
                ])
                .optional(),
            }),
          ]),
          text: nonEmpty('text'),
          attachments,
          idempotencyKey,
        }),
        input,
        'endpoint message',
      );
      const destination =
        v.destination.kind === 'sms-or-email'
          ? { smsOrEmailEndpoint: v.destination.address }
          : {
              secureEndpoint: {
                contactId: v.destination.contactId,
                ...(v.destination.subject !== undefined ? { subject: v.destination.subject } : {}),
                ...(v.destination.deliveryMethod !== undefined ? { deliveryMethod: v.destination.deliveryMethod } : {}),
              },
            };
      return postMessageBody(
        `/internalendpoints/${encode(v.internalEndpointId)}/conversations`,
        'post from endpoint',
        { destination, message: messageBody(v.text, [], v.attachments, false) },
        v.idempotencyKey,
      );
    },

    async listInternalEndpoints() {
      const result = await read({
        method: 'GET',
        path: '/internalendpoints',
        operation: 'list internal endpoints',
        schema: InternalEndpointsSchema,
      });
      return result.internalEndpoints;
    },

    lastRateLimit: () => ({ ...rateLimit }),
  };
}
