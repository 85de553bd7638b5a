export {
  createSpruceClient,
  DEFAULT_INTEGRATION_TYPE,
  DEFAULT_SPRUCE_TIMEOUT_MS,
  MAX_ATTACHMENTS,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  type Attachment,
  type EndpointDestination,
  type SpruceClient,
  type SpruceClientOptions,
  type SpruceRateLimit,
  type SpruceWrite,
} from './client';
export {
  createConversationContacts,
  CONVERSATION_CONTACTS_MAX_ENTRIES,
  CONVERSATION_CONTACTS_TTL_MS,
  type ConversationContacts,
} from './conversation-contacts';
export {
  classifySpruceStatus,
  isDuplicateRequestError,
  SPRUCE_VALIDATION_ERROR,
  SpruceError,
  SpruceValidationError,
  type SpruceErrorDetails,
  type SpruceErrorKind,
} from './errors';
export {
  ConversationItemSchema,
  SpruceWebhookEventSchema,
  type SpruceContact,
  type SpruceConversation,
  type SpruceConversationItem,
  type SpruceEndpoint,
  type SpruceWebhookEvent,
} from './schemas';
export { verifySpruceSignature, type SpruceSignatureInput } from './signature';
