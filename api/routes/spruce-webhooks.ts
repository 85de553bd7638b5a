import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from 'pg';
import { adoptThreadMessageId, recordDeliveryStatus, type DeliveryStatusRecord } from '../../activities/outbox';
import type { AuditSink } from '../../lib/audit/types';
import {
  ConversationItemSchema,
  SpruceWebhookEventSchema,
  verifySpruceSignature,
  type SpruceConversationItem,
} from '../../lib/clients/spruce';
import { applyConsentChange, signalPatientReply } from '../../lib/consent/apply-change';
import { phonesOfPatient, type PatientRef } from '../../lib/consent/repository';
import { classifyInboundText } from '../../lib/consent/revocation';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import { badRequest } from './bad-request';
import { auditAndSignalDeliveryStatus } from './delivery-status';

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
 *  - a patient's inbound message: `patientReply` (`text`) to the patient's open workflows, and, if it
 *    reads as a revocation ("stop texting me"), SMS consent is revoked for the patient's numbers: a
 *    revocation by any reasonable means counts, whatever channel it arrives on.
 */

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
}

export function spruceWebhookRoutes(deps: SpruceWebhookDeps): FastifyPluginAsync {
  return (app) => {
    // Encapsulated: only routes of this plugin get the raw Buffer instead of parsed JSON.
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: SPRUCE_BODY_LIMIT_BYTES },
      (_req, body, done) => done(null, body),
    );

    app.post('/webhooks/spruce', { bodyLimit: SPRUCE_BODY_LIMIT_BYTES }, async (request, reply) => {
      if (deps.secret === undefined) {
        // Nothing can be verified without the secret, so nothing is accepted.
        return reply
          .code(403)
          .send({ error: 'Forbidden', message: 'Spruce webhooks are not configured (SPRUCE_WEBHOOK_SECRET)' });
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
        return reply.code(403).send({ error: 'Forbidden', message: 'X-Spruce-Signature is missing or invalid' });
      }
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        return reply.code(400).send({ error: 'Bad Request', message: 'body is not JSON' });
      }
      const event = SpruceWebhookEventSchema.safeParse(json);
      if (!event.success) return badRequest(reply, event.error);
      const eventTime = new Date(event.data.eventTime);
      if (Number.isNaN(eventTime.getTime())) {
        return reply.code(400).send({ error: 'Bad Request', message: 'eventTime: must be an RFC 3339 timestamp' });
      }
      if (!ITEM_EVENTS.has(event.data.type)) return reply.code(200).send({ ignored: event.data.type });
      const item = ConversationItemSchema.safeParse(event.data.data.object);
      if (!item.success) return badRequest(reply, item.error, { under: 'data.object' });

      const result = await handleItemEvent(
        deps,
        event.data.type,
        eventTime,
        item.data,
        contactIdsOf(event.data.data.object),
      );
      request.log.info({ type: event.data.type, itemId: item.data.id, result }, 'Spruce webhook');
      return reply.code(200).send({ result });
    });
    return Promise.resolve();
  };
}

/** The conversation's contacts, when Spruce embedded the conversation in the item (it does for created items). */
function contactIdsOf(object: Record<string, unknown>): string[] {
  const conversation = object.conversation;
  if (typeof conversation !== 'object' || conversation === null) return [];
  const ids = (conversation as { associatedContactIds?: unknown }).associatedContactIds;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
}

type ItemResult =
  'duplicate' | 'stale' | 'delivery' | 'unmatched-delivery' | 'reply' | 'revocation' | 'unknown-patient' | 'ignored';

async function handleItemEvent(
  deps: SpruceWebhookDeps,
  type: string,
  eventTime: Date,
  item: SpruceConversationItem,
  contactIds: string[],
): Promise<ItemResult> {
  // A re-delivery carries the identical body (same eventTime); a later update of the item does not.
  const eventKey = `${type}:${item.id}:${eventTime.toISOString()}`;
  const { rows } = await deps.pool.query<{ status: string; stale: boolean }>(
    `INSERT INTO inbound_event (channel, event_key, subject_id, event_time, status)
     VALUES ('spruce', $1, $2, $3, 'received')
     ON CONFLICT (channel, event_key) DO UPDATE SET event_time = GREATEST(inbound_event.event_time, EXCLUDED.event_time)
     RETURNING status,
       EXISTS (SELECT 1 FROM inbound_event newer WHERE newer.channel = 'spruce' AND newer.subject_id = $2
               AND newer.event_key <> $1 AND newer.status = 'processed' AND newer.event_time > $3) AS stale`,
    [eventKey, item.id, eventTime],
  );
  const row = rows[0];
  if (row?.status === 'processed') return 'duplicate';
  let result: ItemResult;
  if (row?.stale === true && type === 'conversationItem.updated') {
    // A newer state of this item was already acted on: this older update must not undo it.
    result = 'stale';
  } else if (item.direction === 'inbound' && !item.isInternalNote) {
    result = await handlePatientMessage(deps, item, contactIds);
  } else if (item.requestId !== undefined && item.requestId !== '' && type === 'conversationItem.created') {
    result = await handleOurItem(deps, item);
  } else {
    result = 'ignored';
  }
  await deps.pool.query(
    `UPDATE inbound_event SET status = 'processed', kind = $2, processed_at = now() WHERE channel = 'spruce' AND event_key = $1`,
    [eventKey, result],
  );
  return result;
}

/** One of our posts (result message or page) now exists in Spruce: it was sent. */
async function handleOurItem(deps: SpruceWebhookDeps, item: SpruceConversationItem): Promise<ItemResult> {
  const requestId = item.requestId ?? '';
  let channel: 'spruce' | 'page' = 'spruce';
  let owner: DeliveryStatusRecord | undefined = await recordDeliveryStatus(deps.pool, 'spruce', requestId, 'sent');
  if (owner === undefined) {
    owner = await recordDeliveryStatus(deps.pool, 'page', requestId, 'sent');
    if (owner !== undefined) channel = 'page';
  }
  if (owner === undefined) {
    // The post's answer was lost and its retry refused as a duplicate: match it by its thread.
    for (const candidate of ['spruce', 'page'] as const) {
      if ((await adoptThreadMessageId(deps.pool, candidate, item.conversationId, requestId)) !== undefined) {
        owner = await recordDeliveryStatus(deps.pool, candidate, requestId, 'sent');
        channel = candidate;
        break;
      }
    }
  }
  if (owner === undefined) return 'unmatched-delivery';
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

/** Which patients a conversation belongs to: by its contacts, else by the sends we made into it. */
async function patientsOfConversation(
  deps: SpruceWebhookDeps,
  conversationId: string,
  contactIds: string[],
): Promise<PatientRef[]> {
  const { rows } = await deps.pool.query<{ practice_id: string; patient_id: string }>(
    `SELECT practice_id, patient_id FROM spruce_contact WHERE contact_id = ANY($1::text[])
     UNION
     SELECT practice_id, patient_id FROM outbox WHERE channel = 'spruce' AND provider_thread_id = $2 AND patient_id IS NOT NULL
     ORDER BY 1, 2`,
    [contactIds, conversationId],
  );
  return rows.map((r) => ({ practiceId: r.practice_id, patientId: r.patient_id }));
}

async function handlePatientMessage(
  deps: SpruceWebhookDeps,
  item: SpruceConversationItem,
  contactIds: string[],
): Promise<ItemResult> {
  const patients = await patientsOfConversation(deps, item.conversationId, contactIds);
  if (patients.length === 0) return 'unknown-patient';
  const classification = classifyInboundText(item.text);
  const revokes = classification.intent === 'stop';
  const at = deps.now().toISOString();
  for (const patient of patients) {
    const actor = { type: 'patient' as const, id: patient.patientId };
    if (revokes) {
      for (const phone of await phonesOfPatient(deps.pool, patient)) {
        await applyConsentChange(deps, {
          ...patient,
          phone,
          consented: false,
          source: 'free-text',
          actor,
          eventKey: `spruce:${item.id}`,
          rule: classification.rule,
          via: 'spruce',
        });
      }
    }
    await deps.audit.append({
      occurredAt: at,
      practiceId: patient.practiceId,
      patientId: patient.patientId,
      actor,
      action: 'patient-reply',
      channel: 'spruce',
      outcome: revokes ? 'stop' : 'text',
      details: { itemId: item.id, rule: classification.rule },
      idempotencyKey: `reply:spruce:${item.id}:${patient.practiceId}:${patient.patientId}`,
    });
    await signalPatientReply(deps, patient, { channel: 'spruce', kind: revokes ? 'stop' : 'text', at });
  }
  return revokes ? 'revocation' : 'reply';
}
