import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import {
  adoptPageByReference,
  pageReferenceIn,
  adoptThreadMessageId,
  recordDeliveryStatus,
  type DeliveryStatusRecord,
} from '../../lib/outbox/outbox';
import type { AuditSink } from '../../lib/audit/types';
import {
  ConversationItemSchema,
  SpruceWebhookEventSchema,
  verifySpruceSignature,
  type ConversationContacts,
  type SpruceConversationItem,
} from '../../lib/clients/spruce';
import { markProcessed, recordSpruceItemEvent, recordUnreadableSpruceEvent } from '../../lib/inbound/events';
import { handleSpruceInboundItem, type SpruceReplyResult } from '../../lib/inbound/spruce-reply';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import type { IngestRateLimit } from '../ingest/rate-limit';
import {
  auditAndSignalDeliveryStatus,
  parkUnmatchedDelivery,
  replayUnmatchedDeliveries,
} from '../../lib/outbox/delivery-reports';

/**
 * Spruce webhooks (`POST /webhooks/spruce`).
 *
 * `X-Spruce-Signature` is checked (constant time) over the raw body exactly as received, before the
 * body is parsed: this plugin reads JSON as a Buffer for that, and only inside itself. Spruce retries
 * every 2 minutes up to 10 times and does not promise order, so every event is recorded under
 * `<type>:<item id>:<eventTime>` first (a re-delivery is acknowledged and ignored) and an update older, by
 * `eventTime`, than one already processed for the same item is ignored as stale. Spruce wants an
 * answer within 5 s: we persist, signal and answer, nothing slower.
 *
 *  - our own outbound item (its `requestId` is an outbox send): `deliveryStatus` (`sent`) to the
 *    workflow that sent it;
 *  - a patient's inbound message: the inbound-reply pipeline, through its Spruce adapter
 *    (lib/inbound/spruce-reply.ts): `patientReply` to the patient's open workflows and, for a
 *    revocation ("stop texting me"), SMS consent revoked for the patient's numbers. The consent
 *    changes, the audit rows and the signals owed commit together; the signals follow (the sweeper
 *    finishes them after a failure).
 */

/** The machine client a verified Spruce signature stands for (the per-client rate-limit key). */
export const SPRUCE_WEBHOOK_CLIENT = 'spruce';

/** Spruce events are small (one conversation item); 256 KiB leaves room for long messages. */
const SPRUCE_BODY_LIMIT_BYTES = 256 * 1024;

const ITEM_EVENTS = new Set(['conversationItem.created', 'conversationItem.updated']);

export interface SpruceWebhookDeps {
  pool: Pool;
  audit: AuditSink;
  signaller: WorkflowSignaller;
  /** The webhook endpoint's signing secret; absent: every request is refused (403). */
  secret?: string;
  now: () => Date;
  /**
   * The contacts of a conversation, through Spruce's API. Absent: a reply is matched only in threads
   * we posted into (tests without a Spruce client).
   */
  conversations?: ConversationContacts;
  /** Vendor-webhook rate limits (api/ingest/rate-limit.ts); absent: the API's global per-IP limit. */
  rateLimit?: IngestRateLimit;
}

export function spruceWebhookRoutes(deps: SpruceWebhookDeps): FastifyPluginAsync {
  return (app) => {
    // Encapsulated: only routes of this plugin get the raw Buffer instead of parsed JSON.
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: SPRUCE_BODY_LIMIT_BYTES },
      (_req, body, done) => done(null, body),
    );

    // Before the per-client limiter: only a verified request counts as Spruce's.
    const verifySignature = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      if (deps.secret === undefined) {
        // Nothing can be verified without the secret, so nothing is accepted.
        await reply
          .code(403)
          .send({ error: 'Forbidden', message: 'Spruce webhooks are not configured (SPRUCE_WEBHOOK_SECRET)' });
        return;
      }
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const signature = request.headers['x-spruce-signature'];
      if (
        !verifySpruceSignature({
          secret: deps.secret,
          rawBody: raw,
          signature: typeof signature === 'string' ? signature : undefined,
        })
      ) {
        await reply.code(403).send({ error: 'Forbidden', message: 'X-Spruce-Signature is missing or invalid' });
        return;
      }
      request.machineClient = SPRUCE_WEBHOOK_CLIENT;
    };
    const routeOptions = {
      bodyLimit: SPRUCE_BODY_LIMIT_BYTES,
      preHandler: verifySignature,
      ...deps.rateLimit,
    };

    app.post('/webhooks/spruce', routeOptions, async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        return reply.code(400).send({ error: 'Bad Request', message: 'body is not JSON' });
      }
      const event = SpruceWebhookEventSchema.safeParse(json);
      const eventTime = new Date(event.success ? event.data.eventTime : Number.NaN);
      if (!event.success || Number.isNaN(eventTime.getTime())) {
        return acceptUnreadable(deps, request, reply, json, event.success ? undefined : event.error);
      }
      if (!ITEM_EVENTS.has(event.data.type)) return reply.code(200).send({ ignored: event.data.type });
      const item = ConversationItemSchema.safeParse(event.data.data.object);
      if (!item.success) return acceptUnreadable(deps, request, reply, json, item.error);

      const result = await handleItemEvent(deps, event.data.type, eventTime, item.data);
      request.log.info({ type: event.data.type, itemId: item.data.id, result }, 'Spruce webhook');
      return reply.code(200).send({ result });
    });
    return Promise.resolve();
  };
}

type ItemResult = SpruceReplyResult | 'duplicate' | 'stale' | 'delivery' | 'parked-delivery' | 'ignored';

/**
 * A signed event we cannot read: Spruce would retry a 4xx every 2 minutes, 10 times, with the same
 * body, then drop it, so refusing would lose it for good without making it readable. It is
 * acknowledged instead, and what identifies it (type, item id, the failing field paths; never the
 * body, which holds patient text) is recorded in `inbound_event` as `unreadable` and logged, so the
 * item can be fetched again (`GET /conversationItems/{id}`) once the schema is fixed.
 */
async function acceptUnreadable(
  deps: SpruceWebhookDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  json: unknown,
  error: { issues: { path: PropertyKey[] }[] } | undefined,
): Promise<FastifyReply> {
  const envelope = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  const type = typeof envelope.type === 'string' ? envelope.type.slice(0, 64) : 'unknown';
  const data = envelope.data as { object?: { id?: unknown } } | undefined;
  const itemId = typeof data?.object?.id === 'string' ? data.object.id.slice(0, 128) : undefined;
  const fields = [...new Set((error?.issues ?? []).map((i) => i.path.map(String).join('.') || '(root)'))];
  const eventKey = `unreadable:${type}:${itemId ?? 'no-id'}:${createHash('sha256').update(JSON.stringify(json)).digest('hex').slice(0, 16)}`;
  await recordUnreadableSpruceEvent(deps.pool, eventKey, itemId);
  request.log.error({ type, itemId, fields }, 'Spruce webhook does not match the schema; acknowledged and recorded');
  return reply.code(200).send({ result: 'unreadable', fields });
}

async function handleItemEvent(
  deps: SpruceWebhookDeps,
  type: string,
  eventTime: Date,
  item: SpruceConversationItem,
): Promise<ItemResult> {
  // A re-delivery carries the identical body (same eventTime); a later update of the item does not.
  const eventKey = `${type}:${item.id}:${eventTime.toISOString()}`;
  const row = await recordSpruceItemEvent(deps.pool, eventKey, item.id, eventTime);
  if (row?.status === 'processed') return 'duplicate';
  let result: ItemResult;
  if (item.direction === 'inbound' && !item.isInternalNote) {
    result = await handleSpruceInboundItem(deps, eventKey, eventTime, item);
  } else if (row?.stale === true && type === 'conversationItem.updated') {
    // A newer state of this item was already acted on: this older update must not undo it.
    result = 'stale';
  } else if (item.requestId !== undefined && item.requestId !== '' && type === 'conversationItem.created') {
    result = await handleOurItem(deps, eventKey, item);
  } else {
    result = 'ignored';
  }
  await markProcessed(deps.pool, 'spruce', eventKey, result);
  return result;
}

/** One of our posts (result message or page) now exists in Spruce: it was sent. */
async function handleOurItem(
  deps: SpruceWebhookDeps,
  eventKey: string,
  item: SpruceConversationItem,
): Promise<ItemResult> {
  const requestId = item.requestId ?? '';
  let channel: 'spruce' | 'page' = 'spruce';
  let owner: DeliveryStatusRecord | undefined = await recordDeliveryStatus(deps.pool, 'spruce', requestId, 'sent');
  if (owner === undefined) {
    owner = await recordDeliveryStatus(deps.pool, 'page', requestId, 'sent');
    if (owner !== undefined) channel = 'page';
  }
  if (owner === undefined) {
    // The post's answer was lost and its retry refused as a duplicate (recorded as pending): a result
    // message is matched by its thread, a page (a new note conversation each time) by its reference.
    const adopted =
      (await adoptThreadMessageId(deps.pool, 'spruce', item.conversationId, requestId)) !== undefined
        ? ('spruce' as const)
        : (await adoptPageByReference(deps.pool, item.text, requestId, item.conversationId)) !== undefined
          ? ('page' as const)
          : undefined;
    if (adopted !== undefined) {
      owner = await recordDeliveryStatus(deps.pool, adopted, requestId, 'sent');
      channel = adopted;
    }
  }
  if (owner === undefined) {
    // The webhook beat the activity's write of the request id: parked, replayed when it is recorded.
    await parkUnmatchedDelivery(deps.pool, {
      provider: 'spruce',
      eventKey,
      providerMessageId: requestId,
      status: 'sent',
      threadId: item.conversationId,
      itemId: item.id,
      ...(pageReferenceIn(item.text) !== undefined ? { reference: pageReferenceIn(item.text) } : {}),
    });
    const replayed =
      (await replayUnmatchedDeliveries(deps, 'spruce', requestId)) +
      (await replayUnmatchedDeliveries(deps, 'page', requestId));
    return replayed > 0 ? 'delivery' : 'parked-delivery';
  }
  await auditAndSignalDeliveryStatus(deps, owner, {
    provider: 'spruce',
    channel,
    providerMessageId: requestId,
    status: 'sent',
    details: { providerMessageId: requestId, itemId: item.id },
    idempotencyKey: `delivery:spruce:${item.id}`,
  });
  return 'delivery';
}
