import type { Pool } from 'pg';
import type { AuditSink, JsonValue } from '../audit/types';
import { classifyDeliveryErrorCode } from '../clients/twilio/error-codes';
import type { WorkflowSignaller } from '../consent/workflow-signaller';
import type { Channel, DeliveryStatus } from '../../domain/vocabulary';
import { deliveryStatusSignal } from '../../workflows/definitions';
import {
  adoptPendingMessageId,
  recordDeliveryStatus,
  recordedProviderIds,
  type DeliveryStatusRecord,
  type OutboxChannel,
} from './outbox';
import { smsErrorTypeForCode } from '../clients/twilio/sms-error-types';
import { markDeliveryEventProcessed } from '../inbound/events';

/**
 * Provider delivery reports (Twilio status callbacks, Spruce `conversationItem.created` for our
 * posts): audited and signalled to the workflow that sent the message, and, when they arrive before
 * the outbox knows the message, parked in PostgreSQL (`unmatched_delivery_event`) and replayed the
 * moment the outbox records that provider message ID (a send's answer, a reconciliation, a Spruce
 * adoption). Nothing is dropped because it came early.
 */

export interface DeliveryReportDeps {
  pool: Pool;
  audit: AuditSink;
  signaller: WorkflowSignaller;
  now: () => Date;
}

/** A provider's report on one of our sends, once the outbox row it belongs to is known. */
export interface DeliveryStatusReport {
  /** The provider that called back (the audit actor). */
  provider: 'twilio' | 'spruce';
  channel: Channel;
  providerMessageId: string;
  status: DeliveryStatus;
  /** The provider's error code, for undelivered/failed; carried in the signal with its class. */
  errorCode?: string;
  /** The audit event's details (IDs and codes only). */
  details: Record<string, JsonValue>;
  /** One audit event per distinct callback, so re-deliveries append nothing twice. */
  idempotencyKey: string;
}

/** `errorClass` and `errorType` of the delivery-status signal for a Twilio error code. */
export function classifyReportedError(
  provider: DeliveryStatusReport['provider'],
  errorCode: string | undefined,
): { errorClass?: 'transient' | 'permanent'; errorType?: string } {
  if (errorCode === undefined || errorCode === '' || provider !== 'twilio') return {};
  const errorClass = classifyDeliveryErrorCode(errorCode);
  return errorClass === 'transient' ? { errorClass } : { errorClass, errorType: smsErrorTypeForCode(errorCode) };
}

/**
 * Audit a delivery status of a send we own, then signal it to the workflow that sent it. A stale
 * status (one the outbox did not apply because a later one is already recorded, e.g. `sent` after
 * `delivered`) is audited but not signalled.
 */
export async function auditAndSignalDeliveryStatus(
  deps: DeliveryReportDeps,
  owner: DeliveryStatusRecord,
  report: DeliveryStatusReport,
): Promise<void> {
  const at = deps.now().toISOString();
  const classified = classifyReportedError(report.provider, report.errorCode);
  await deps.audit.append({
    occurredAt: at,
    practiceId: owner.practiceId,
    workflowId: owner.workflowId,
    ...(owner.resultRef !== undefined ? { resultRef: owner.resultRef } : {}),
    ...(owner.patientId !== undefined ? { patientId: owner.patientId } : {}),
    actor: { type: 'system', id: report.provider },
    action: 'delivery-status',
    channel: report.channel,
    template: owner.template,
    ...(owner.variant !== undefined ? { variant: owner.variant } : {}),
    outcome: report.status,
    details: { ...report.details, ...classified },
    idempotencyKey: report.idempotencyKey,
  });
  if (owner.applied) {
    await deps.signaller.signal(owner.workflowId, deliveryStatusSignal, {
      channel: report.channel,
      providerMessageId: report.providerMessageId,
      status: report.status,
      ...(report.errorCode !== undefined ? { errorCode: report.errorCode } : {}),
      ...classified,
      at,
    });
  }
}

export interface UnmatchedDelivery {
  provider: 'twilio' | 'spruce';
  /** The provider event's key (the `inbound_event` key): one parked row per event. */
  eventKey: string;
  providerMessageId: string;
  status: DeliveryStatus;
  errorCode?: string;
  /** Spruce conversation and item. */
  threadId?: string;
  itemId?: string;
  /** Spruce pages: the page reference found in the item's text (pageReference). */
  reference?: string;
}

/** Keep a report whose message the outbox does not know yet; replayUnmatchedDeliveries applies it later. */
export async function parkUnmatchedDelivery(pool: Pool, event: UnmatchedDelivery): Promise<void> {
  await pool.query(
    `INSERT INTO unmatched_delivery_event (provider, event_key, provider_message_id, status, error_code, thread_id, item_id, reference)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (provider, event_key) DO NOTHING`,
    [
      event.provider,
      event.eventKey,
      event.providerMessageId,
      event.status,
      event.errorCode ?? null,
      event.threadId ?? null,
      event.itemId ?? null,
      event.reference ?? null,
    ],
  );
}

/**
 * A Spruce send recorded only as pending (its retry was refused as a duplicate, so its request id is
 * unknown) whose webhook came before it and was parked: give the send that request id, found by the
 * thread (a result message) or by the page reference (a page, which has no thread of its own yet),
 * and replay the report. Returns the real request id, or undefined when nothing parked matches.
 */
export async function adoptParkedSpruceReport(
  deps: DeliveryReportDeps,
  send: { channel: 'spruce' | 'page'; idempotencyKey: string; threadId?: string; reference?: string },
): Promise<string | undefined> {
  const by = send.channel === 'spruce' ? 'thread_id' : 'reference';
  const value = send.channel === 'spruce' ? send.threadId : send.reference;
  if (value === undefined) return undefined;
  const { rows } = await deps.pool.query<{ provider_message_id: string; thread_id: string | null }>(
    `SELECT provider_message_id, thread_id FROM unmatched_delivery_event
     WHERE provider = 'spruce' AND ${by} = $1 AND replayed_at IS NULL ORDER BY received_at, id`,
    [value],
  );
  // Reports whose message ID the outbox already holds belong to another send.
  const recorded = await recordedProviderIds(
    deps.pool,
    CHANNELS_OF.spruce,
    rows.map((r) => r.provider_message_id),
  );
  const parked = rows.find((r) => !recorded.has(r.provider_message_id));
  if (parked === undefined) return undefined;
  const adopted = await adoptPendingMessageId(
    deps.pool,
    send.idempotencyKey,
    parked.provider_message_id,
    parked.thread_id ?? undefined,
  );
  if (!adopted) return undefined;
  await replayUnmatchedDeliveries(deps, send.channel, parked.provider_message_id);
  return parked.provider_message_id;
}

/**
 * The outbox channels a provider's reports can belong to. Twilio reports on patient texts (`sms`) and
 * on SMS pages to staff (`page`, activities/staff-sms-page.ts); Spruce on result messages and pages.
 * A provider's message IDs never collide across its channels (one SID, one message).
 */
export const CHANNELS_OF: Record<UnmatchedDelivery['provider'], readonly OutboxChannel[]> = {
  twilio: ['sms', 'page'],
  spruce: ['spruce', 'page'],
};
/** The providers whose reports an outbox channel can receive (`page` goes by Spruce or by SMS). */
const PROVIDERS_OF: Partial<Record<OutboxChannel, UnmatchedDelivery['provider'][]>> = {
  sms: ['twilio'],
  spruce: ['spruce'],
  page: ['spruce', 'twilio'],
};

/**
 * Record a provider's status against whichever of its outbox channels sent `providerMessageId`.
 * Returns the owner and its channel, or undefined when no send of that provider has the ID yet.
 */
export async function recordProviderDeliveryStatus(
  pool: Pool,
  provider: UnmatchedDelivery['provider'],
  providerMessageId: string,
  status: DeliveryStatus,
  errorCode?: string,
  preferred?: OutboxChannel,
): Promise<{ owner: DeliveryStatusRecord; channel: OutboxChannel } | undefined> {
  const channels = CHANNELS_OF[provider];
  const ordered =
    preferred !== undefined && channels.includes(preferred)
      ? [preferred, ...channels.filter((c) => c !== preferred)]
      : channels;
  for (const channel of ordered) {
    const owner = await recordDeliveryStatus(pool, channel, providerMessageId, status, errorCode);
    if (owner !== undefined) return { owner, channel };
  }
  return undefined;
}

interface ParkedRow {
  id: string;
  provider: UnmatchedDelivery['provider'];
  event_key: string;
  provider_message_id: string;
  status: DeliveryStatus;
  error_code: string | null;
  item_id: string | null;
}

/**
 * Apply the parked reports about `providerMessageId` now that the outbox knows it: record the status,
 * audit it under the key the live webhook would have used, signal the workflow, mark the webhook
 * event processed. Safe to run twice (audit keys are idempotent, the workflow ranks statuses).
 * Returns how many reports were replayed.
 */
export async function replayUnmatchedDeliveries(
  deps: DeliveryReportDeps,
  channel: OutboxChannel,
  providerMessageId: string,
): Promise<number> {
  const providers = PROVIDERS_OF[channel];
  if (providers === undefined) return 0;
  const { rows } = await deps.pool.query<ParkedRow>(
    `SELECT id, provider, event_key, provider_message_id, status, error_code, item_id FROM unmatched_delivery_event
     WHERE provider = ANY($1::text[]) AND provider_message_id = $2 AND replayed_at IS NULL ORDER BY received_at, id`,
    [providers, providerMessageId],
  );
  let replayed = 0;
  for (const row of rows) {
    const found = await recordProviderDeliveryStatus(
      deps.pool,
      row.provider,
      row.provider_message_id,
      row.status,
      row.error_code ?? undefined,
      channel,
    );
    if (found === undefined) continue;
    const { owner, channel: ownChannel } = found;
    const errorCode = row.error_code ?? undefined;
    await auditAndSignalDeliveryStatus(deps, owner, {
      provider: row.provider,
      channel: ownChannel,
      providerMessageId: row.provider_message_id,
      status: row.status,
      ...(errorCode !== undefined ? { errorCode } : {}),
      details: {
        providerMessageId: row.provider_message_id,
        applied: owner.applied,
        replayed: true,
        ...(row.item_id !== null ? { itemId: row.item_id } : {}),
        ...(errorCode !== undefined ? { errorCode } : {}),
      },
      idempotencyKey: auditKeyOf(row),
    });
    await deps.pool.query(`UPDATE unmatched_delivery_event SET replayed_at = now() WHERE id = $1`, [row.id]);
    await markDeliveryEventProcessed(deps.pool, row.provider === 'twilio' ? 'sms' : 'spruce', row.event_key);
    replayed += 1;
  }
  return replayed;
}

/** The audit key the live webhook uses for the same report (api/routes/*-webhooks.ts). */
function auditKeyOf(row: ParkedRow): string {
  if (row.provider === 'twilio') return `delivery:sms:${row.event_key.slice('status:'.length)}`;
  return `delivery:spruce:${row.item_id ?? row.event_key}`;
}
