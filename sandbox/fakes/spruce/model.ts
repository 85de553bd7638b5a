import { createHmac, randomBytes, randomUUID } from 'node:crypto';

/**
 * The Spruce fake's records and their JSON renderings, shaped like Spruce's published OpenAPI
 * (contact, conversation, conversationItem, error). Only what labloop touches is modelled.
 */

const BASE32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function spruceSuffix(): string {
  const bytes = randomBytes(13);
  return [...bytes].map((b) => BASE32[b % 32]).join('');
}

/** Ids with Spruce's prefixes: entity_, entityContact_, t_, ti_, asyncRequest_, page_. */
export const newId = {
  contact: () => `entity_${spruceSuffix()}`,
  phone: () => `entityContact_${spruceSuffix()}`,
  conversation: () => `t_${spruceSuffix()}`,
  item: () => `ti_${spruceSuffix()}`,
  asyncRequest: () => `asyncRequest_${spruceSuffix()}`,
  page: () => `page_${spruceSuffix()}`,
  media: () => randomUUID(),
  request: () => spruceSuffix() + spruceSuffix(),
};

export const FAKE_APP_ORIGIN = 'https://app.sprucehealth.invalid';

export interface FakePhone {
  id: string;
  value: string;
  label: string;
}

export interface FakeIntegrationLink {
  type: string;
  externalId: string;
  contactId: string;
  url?: string;
}

export interface FakeContact {
  id: string;
  givenName: string;
  familyName: string;
  category: 'patient' | 'professional';
  phoneNumbers: FakePhone[];
  integrationLinks: FakeIntegrationLink[];
  /** Patient has the Spruce app and an account (secure messaging works). */
  hasAccount: boolean;
  hasPendingInvite: boolean;
  created: string;
}

export interface FakeEndpoint {
  id: string;
  channel: 'secure' | 'phone' | 'email' | 'fax';
  rawValue: string;
  displayValue: string;
}

export interface FakeConversation {
  id: string;
  type: 'secure' | 'note' | 'phone' | 'email';
  title: string;
  subject?: string;
  contactIds: string[];
  memberIds: string[];
  internalEndpointId?: string;
  /** For phone/email conversations: the external address. */
  externalAddress?: string;
  createdAt: string;
  lastMessageAt?: string;
}

export interface FakeMedia {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  data: Buffer;
  uploadedAt: string;
}

/**
 * A page element's state. The fake keeps whom it paged (`memberId`) for its outbox page; the API
 * shows only what §3.3 documents: `resolved`, `resolvedAt`, `resolvedByMemberId`.
 */
export interface FakePage {
  id: string;
  memberId: string;
  resolved: boolean;
  resolvedAt?: string;
  resolvedByMemberId?: string;
}

export interface FakeItem {
  id: string;
  conversationId: string;
  direction: 'inbound' | 'outbound' | 'none';
  isInternalNote: boolean;
  text: string;
  attachments: { mediaId: string; title: string }[];
  pages: FakePage[];
  author: { id?: string; displayName: string };
  createdAt: string;
  requestId: string;
}

/** Spruce's error body. */
export function spruceError(statusCode: number, type: string, message: string) {
  return { statusCode, type, message };
}

function formatPhone(e164: string): string {
  const digits = e164.replace(/\D/g, '');
  const national = digits.length === 11 && digits.startsWith('1') ? digits.slice(1) : digits;
  return national.length === 10 ? `(${national.slice(0, 3)}) ${national.slice(3, 6)}-${national.slice(6)}` : e164;
}

/**
 * A contact as the API answers it. `hasAccount`/`hasPendingInvite` are not in the public reference:
 * with `documentedOnly` they are left out, the shape a client must cope with if Spruce never sends them.
 */
export function contactJson(c: FakeContact, apiBase: string, documentedOnly = false): Record<string, unknown> {
  return {
    object: 'contact',
    id: c.id,
    displayName: `${c.givenName} ${c.familyName}`.trim(),
    givenName: c.givenName,
    familyName: c.familyName,
    category: c.category,
    gender: 'unknown',
    created: c.created,
    phoneNumbers: c.phoneNumbers.map((p) => ({
      id: p.id,
      value: p.value,
      displayValue: formatPhone(p.value),
      label: p.label,
    })),
    emailAddresses: [],
    faxNumbers: [],
    tags: [],
    customContactFields: [],
    organizationContactFields: [],
    integrationLinks: c.integrationLinks.map((l) => ({ ...l })),
    internalMemberIds: [],
    ...(documentedOnly ? {} : { hasAccount: c.hasAccount, hasPendingInvite: c.hasPendingInvite }),
    canDelete: true,
    canEdit: true,
    appURL: `${FAKE_APP_ORIGIN}/contact/${c.id}`,
    apiURL: `${apiBase}/contacts/${c.id}`,
  };
}

export function endpointJson(e: FakeEndpoint): Record<string, unknown> {
  return {
    object: 'endpoint',
    id: e.id,
    channel: e.channel,
    rawValue: e.rawValue,
    displayValue: e.displayValue,
    isInternal: true,
  };
}

export function conversationJson(
  c: FakeConversation,
  contacts: Map<string, FakeContact>,
  endpoints: Map<string, FakeEndpoint>,
  apiBase: string,
): Record<string, unknown> {
  const endpoint = c.internalEndpointId === undefined ? undefined : endpoints.get(c.internalEndpointId);
  return {
    object: 'conversation',
    id: c.id,
    type: c.type,
    title: c.title,
    ...(c.subject !== undefined ? { subtitle: c.subject } : {}),
    archived: false,
    isReadOnly: false,
    tags: [],
    createdAt: c.createdAt,
    ...(c.lastMessageAt !== undefined ? { lastMessageAt: c.lastMessageAt } : {}),
    associatedContactIds: [...c.contactIds],
    externalParticipants: c.contactIds.map((id) => {
      const contact = contacts.get(id);
      return { contact: id, displayName: contact ? `${contact.givenName} ${contact.familyName}` : id };
    }),
    internalMemberIds: [...c.memberIds],
    ...(endpoint !== undefined ? { internalEndpoint: endpointJson(endpoint) } : {}),
    appURL: `${FAKE_APP_ORIGIN}/thread/${c.id}`,
    apiURL: `${apiBase}/conversations/${c.id}`,
  };
}

function attachmentType(contentType: string): string {
  if (contentType.startsWith('image/')) return 'image';
  if (contentType.startsWith('audio/')) return 'audio';
  if (contentType.startsWith('video/')) return 'video';
  return 'document';
}

/** Signed URLs in the fake point back at the fake's media download, valid for an hour. */
export const SIGNED_URL_TTL_MS = 60 * 60 * 1000;

export function itemJson(
  item: FakeItem,
  media: Map<string, FakeMedia>,
  fakeOrigin: string,
  apiBase: string,
): Record<string, unknown> {
  return {
    object: 'conversationItem',
    id: item.id,
    conversationId: item.conversationId,
    direction: item.direction,
    isInternalNote: item.isInternalNote,
    text: item.text,
    attachments: item.attachments.map((a) => {
      const m = media.get(a.mediaId);
      const contentType = m?.contentType ?? 'application/octet-stream';
      return {
        title: a.title,
        type: attachmentType(contentType),
        data: {
          mimetype: contentType,
          signedUrl: {
            url: `${fakeOrigin}/__fake/media/${a.mediaId}`,
            expiresAt: new Date(Date.parse(item.createdAt) + SIGNED_URL_TTL_MS).toISOString(),
          },
        },
      };
    }),
    author: { ...item.author },
    pages: item.pages.map((p) => ({
      resolved: p.resolved,
      ...(p.resolvedAt !== undefined ? { resolvedAt: p.resolvedAt } : {}),
      ...(p.resolvedByMemberId !== undefined ? { resolvedByMemberId: p.resolvedByMemberId } : {}),
    })),
    buttons: [],
    canDelete: true,
    createdAt: item.createdAt,
    modifiedAt: item.createdAt,
    requestId: item.requestId,
    appURL: `${FAKE_APP_ORIGIN}/thread/${item.conversationId}/message/${item.id}`,
    apiURL: `${apiBase}/conversationItems/${item.id}`,
  };
}

/** `X-Spruce-Signature`: base64 HMAC-SHA256 of the raw body with the endpoint secret. */
export function signSpruceWebhook(secret: string, rawBody: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('base64');
}
