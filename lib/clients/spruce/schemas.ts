import { z } from 'zod';

/**
 * The parts of Spruce's responses labloop reads, validated at the edge. Unknown fields are dropped;
 * fields Spruce may add later do not break parsing. Shapes follow Spruce's published reference
 * (docs/reference external-systems.md §3: contact, conversation, conversationItem, media, error).
 * Fields the reference does not document are optional, marked "not in the public reference;
 * tolerated": a real payload without them still parses, and the code has an answer for their absence.
 */

export const SpruceErrorBodySchema = z.object({
  statusCode: z.number().optional(),
  type: z.string().optional(),
  message: z.string().optional(),
});

export const IntegrationLinkSchema = z.object({
  type: z.string(),
  externalId: z.string(),
  contactId: z.string().optional(),
  url: z.string().optional(),
});

export const PhoneNumberSchema = z.object({
  id: z.string(),
  value: z.string(),
  displayValue: z.string().optional(),
  label: z.string().optional(),
});

export const ContactSchema = z.object({
  id: z.string(),
  displayName: z.string().optional(),
  givenName: z.string().optional(),
  familyName: z.string().optional(),
  category: z.string().optional(),
  phoneNumbers: z.array(PhoneNumberSchema).default([]),
  integrationLinks: z.array(IntegrationLinkSchema).default([]),
  /**
   * The patient created a Spruce account (secure messaging possible). Not in the public reference;
   * tolerated. Absent: unknown, and Spruce itself decides when a secure conversation is created
   * (§3.3: it refuses contacts with neither an account nor a pending invite).
   */
  hasAccount: z.boolean().optional(),
  /** An invitation to Spruce is pending. Not in the public reference; tolerated (see hasAccount). */
  hasPendingInvite: z.boolean().optional(),
});

export const ContactListSchema = z.object({
  contacts: z.array(ContactSchema),
  hasMore: z.boolean().default(false),
  paginationToken: z.string().optional(),
  totalCount: z.number().optional(),
});

export const EndpointSchema = z.object({
  id: z.string(),
  channel: z.string(),
  rawValue: z.string().optional(),
  displayValue: z.string().optional(),
});

export const ConversationSchema = z.object({
  id: z.string(),
  type: z.string(),
  title: z.string().optional(),
  subtitle: z.string().optional(),
  createdAt: z.string().optional(),
  lastMessageAt: z.string().optional(),
  /**
   * The contacts the conversation is with. The reference names this field in the conversation
   * create body (§3.3, note conversations); that a read conversation carries it is not in the public
   * reference; tolerated: absent reads as no contacts (the webhook then knows the thread only from
   * our own sends into it).
   */
  associatedContactIds: z.array(z.string()).default([]),
  internalEndpoint: EndpointSchema.optional(),
});

export const CreateConversationResponseSchema = z.object({
  conversation: ConversationSchema,
  postMessageRequestId: z.string().optional(),
});

/**
 * `GET /conversations/{id}`. The reference lists the operation (§3.2) but not its answer's envelope:
 * tolerated as the conversation itself or wrapped in `{ conversation }` (as the create answers).
 */
export const GetConversationResponseSchema = z.union([
  z.object({ conversation: ConversationSchema }).transform((r) => r.conversation),
  ConversationSchema,
]);

export const ConversationListSchema = z.object({ conversations: z.array(ConversationSchema) });

/**
 * The invite's answer. Its body is not in the public reference (§3.2 says only that it "creates or
 * reuses a secure conversation"); tolerated: both parts optional, anything else ignored.
 */
export const InviteResponseSchema = z.object({
  contact: ContactSchema.optional(),
  conversation: ConversationSchema.optional(),
});

export const AsyncRequestSchema = z.object({ requestId: z.string() });

export const MediaSchema = z.object({ id: z.string() });

export const IntegrationLinksResponseSchema = z.object({ integrationLinks: z.array(IntegrationLinkSchema) });

export const InternalEndpointsSchema = z.object({ internalEndpoints: z.array(EndpointSchema) });

export const ConversationItemSchema = z.object({
  id: z.string(),
  conversationId: z.string(),
  direction: z.enum(['inbound', 'outbound', 'none']).or(z.string()),
  isInternalNote: z.boolean().default(false),
  text: z.string().default(''),
  requestId: z.string().optional(),
  createdAt: z.string(),
  author: z.object({ id: z.string().optional(), displayName: z.string().optional() }).optional(),
  attachments: z
    .array(
      z.object({
        title: z.string().optional(),
        type: z.string(),
        data: z.object({ mimetype: z.string().optional() }).optional(),
      }),
    )
    .default([]),
  /** §3.3: pages expose `resolved`, `resolvedAt`, `resolvedByMemberId`. */
  pages: z
    .array(
      z.object({
        resolved: z.boolean().optional(),
        resolvedAt: z.string().optional(),
        resolvedByMemberId: z.string().optional(),
        /** Not in the public reference; tolerated. */
        id: z.string().optional(),
        /** Not in the public reference; tolerated. */
        memberId: z.string().optional(),
      }),
    )
    .default([]),
});

/** A Spruce webhook envelope. `data.object` is the full current resource. */
export const SpruceWebhookEventSchema = z.object({
  object: z.literal('event'),
  type: z.string(),
  eventTime: z.string(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

export type SpruceContact = z.infer<typeof ContactSchema>;
export type SpruceConversation = z.infer<typeof ConversationSchema>;
export type SpruceEndpoint = z.infer<typeof EndpointSchema>;
export type SpruceConversationItem = z.infer<typeof ConversationItemSchema>;
export type SpruceWebhookEvent = z.infer<typeof SpruceWebhookEventSchema>;
