export {
  startSpruceFake,
  DEFAULT_MESSAGE_DELAY_MS,
  DEFAULT_PHONE_ENDPOINT_ID,
  DEFAULT_RATE_LIMIT,
  DEFAULT_SECURE_ENDPOINT_ID,
  DEFAULT_WEBHOOK_RETRY,
  FAKE_ORGANIZATION_NAME,
  IDEMPOTENCY_TTL_MS,
  type ReplyResult,
  type SeedContactInput,
  type SpruceFake,
  type SpruceFakeOptions,
  type StoredMedia,
} from './server';
export { signSpruceWebhook, type FakeEndpoint } from './model';
export type { SpruceOutboxItem } from './outbox';
