import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { AuditEventInput, AuditSink, JsonValue } from '../audit/types';
import type { Channel } from '../../domain/vocabulary';
import { resultRefOf } from '../../workflows/definitions';

/**
 * Intent-first sending: nothing lost, nothing sent twice (within what providers let us know).
 *
 *  1. The intent row is written under its unique key (workflow, result version, step) and audited
 *     (`send-intent`) BEFORE the provider is called.
 *  2. The attempt is counted durably (attempts + 1, committed), then the provider is called while
 *     the row is locked, so two attempts never call the provider at the same time.
 *  3. After the provider accepted, the send is audited (`send`, outcome `sent`) and its message ID
 *     recorded. A retried activity that finds a recorded ID does not send again.
 *
 * A process that dies between the provider call and the recording (step 3) leaves the row at
 * `intent` with attempts > 0. The next attempt then asks `reconcile` whether the earlier call
 * landed: `found` records that message (outcome `reconciled`), `not-found` sends, and `unknown`
 * (the provider cannot be asked) sends anyway, audited as `ambiguous`. So each crash in that window
 * costs at most one duplicate, and only when the provider cannot be queried; every case is audited.
 * Providers with idempotency keys (Spruce) or idempotent writes (athena replace) need no reconcile.
 */

export interface OutboxKey {
  workflowId: string;
  resultVersion: number;
  step: string;
}

/** The outbox sends on every channel the workflow uses. */
export type OutboxChannel = Channel;

export interface OutboxMeta {
  channel: OutboxChannel;
  practiceId: string;
  patientId?: string;
  template: string;
  /** The template's form (e.g. an SMS "personal" or "generic"), recorded on the send's audit rows. */
  variant?: string;
  /** The audit action of the send itself: `send` (default), `page` or `call-task`. */
  auditAction?: 'send' | 'page' | 'call-task';
}

export interface SendOnceDeps {
  pool: Pool;
  audit: AuditSink;
  now: () => Date;
}

/** What a provider call returns: its message ID, and the thread it went to when there is one. */
export interface ProviderReceipt {
  providerMessageId: string;
  threadId?: string;
}

/** What reconciliation learned about an earlier attempt whose outcome was not recorded. */
export type ReconcileResult =
  | { kind: 'found'; providerMessageId: string }
  | { kind: 'not-found' }
  /** The provider could not be asked; `reason` is a PHI-free code for the audit. */
  | { kind: 'unknown'; reason: string };

export interface OutboxOutcome {
  providerMessageId: string;
  threadId?: string;
  /** True when this call found an earlier send (recorded or reconciled) and did not send again. */
  alreadySent: boolean;
  reconciled: boolean;
  attempts: number;
  /** When the provider accepted the send (the first time, for an earlier send). */
  sentAt: Date;
  /** When the intent was recorded (before the first provider call): nothing of this send is older. */
  intentAt: Date;
}

export function outboxIdempotencyKey(key: OutboxKey): string {
  return `${key.workflowId}:v${key.resultVersion}:${key.step}`;
}

interface OutboxRow {
  id: string;
  status: string;
  provider_message_id: string | null;
  provider_thread_id: string | null;
  attempts: number;
  created_at: Date;
  sent_at: Date | null;
}

/** An audit event decided inside the outbox transaction, appended after it commits. */
interface PendingAudit {
  outcome: string;
  /** Suffix of the idempotency key: the same decision always gets the same audit row. */
  suffix: string;
  details: Record<string, JsonValue>;
}

/** Identifiers and codes of a send error, never its message (vendor text can quote a phone number). */
export function describeSendError(err: unknown): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = { error: err instanceof Error ? err.name : 'unknown' };
  if (typeof err === 'object' && err !== null) {
    for (const field of ['kind', 'code', 'status', 'httpStatus', 'type', 'networkCode'] as const) {
      const value = (err as Record<string, unknown>)[field];
      if (typeof value === 'string' || typeof value === 'number') out[field] = value;
    }
  }
  return out;
}

/**
 * Send at most once per key. `send` calls the provider; `reconcile` (optional) looks for an earlier
 * attempt's message at the provider, given when the intent was recorded. `send` gets the connection
 * that holds the row lock (inside its open transaction), for a last check right before the call
 * (SMS consent) without taking a second connection.
 *
 * Connections: the row lock is held on one connection while the provider is called; audit events
 * decided under it are stored in the row (`audit_pending`, same transaction) and appended only after
 * that connection is released, so a send never waits for a second connection while holding one (with
 * many activities at once, that would starve the pool).
 */
export async function sendOnce(
  deps: SendOnceDeps,
  key: OutboxKey,
  meta: OutboxMeta,
  send: (db: PoolClient) => Promise<ProviderReceipt>,
  reconcile?: (intentCreatedAt: Date) => Promise<ReconcileResult>,
): Promise<OutboxOutcome> {
  const idempotencyKey = outboxIdempotencyKey(key);
  const resultRef = resultRefOf(key.workflowId);
  const auditEvent = (stage: 'intent' | 'outcome', pending: PendingAudit): AuditEventInput => ({
    occurredAt: deps.now().toISOString(),
    practiceId: meta.practiceId,
    workflowId: key.workflowId,
    ...(resultRef !== undefined ? { resultRef } : {}),
    ...(meta.patientId !== undefined ? { patientId: meta.patientId } : {}),
    actor: { type: 'system', id: 'worker' },
    action: stage === 'intent' ? 'send-intent' : (meta.auditAction ?? 'send'),
    channel: meta.channel,
    template: meta.template,
    ...(meta.variant !== undefined ? { variant: meta.variant } : {}),
    outcome: pending.outcome,
    details: { step: key.step, resultVersion: key.resultVersion, ...pending.details },
    idempotencyKey: `outbox:${idempotencyKey}:${pending.suffix}`,
  });
  /** Append what an earlier transaction decided (this attempt's, or a crashed one's), then clear it. */
  const flushPendingAudits = async (): Promise<void> => {
    const { rows } = await deps.pool.query<{ audit_pending: PendingAudit[] | null }>(
      `SELECT audit_pending FROM outbox WHERE idempotency_key = $1`,
      [idempotencyKey],
    );
    const pending = rows[0]?.audit_pending ?? [];
    if (pending.length === 0) return;
    for (const item of pending) await deps.audit.append(auditEvent('outcome', item));
    // Only what was appended is cleared: a concurrent attempt's newer entries stay for its own flush.
    await deps.pool.query(
      `UPDATE outbox SET audit_pending = NULL WHERE idempotency_key = $1 AND audit_pending = $2::jsonb`,
      [idempotencyKey, JSON.stringify(pending)],
    );
  };

  await deps.pool.query(
    `INSERT INTO outbox (idempotency_key, workflow_id, result_version, step, channel, practice_id, patient_id, template, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'intent') ON CONFLICT (idempotency_key) DO NOTHING`,
    [
      idempotencyKey,
      key.workflowId,
      key.resultVersion,
      key.step,
      meta.channel,
      meta.practiceId,
      meta.patientId ?? null,
      meta.template,
    ],
  );
  // Idempotent by key: a crash between the insert and this append is repaired by the next attempt.
  await deps.audit.append(auditEvent('intent', { outcome: 'recorded', suffix: 'intent', details: {} }));
  await flushPendingAudits();

  let outcome: OutboxOutcome | undefined;
  let failure: { error: unknown } | undefined;
  const client = await deps.pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<OutboxRow>(
      `SELECT id, status, provider_message_id, provider_thread_id, attempts, created_at, sent_at
       FROM outbox WHERE idempotency_key = $1 FOR UPDATE`,
      [idempotencyKey],
    );
    const row = rows[0];
    if (row === undefined) throw new Error('outbox intent row vanished');
    const queueAudit = (pending: PendingAudit) =>
      client.query(
        `UPDATE outbox SET audit_pending = COALESCE(audit_pending, '[]'::jsonb) || $2::jsonb WHERE id = $1`,
        [row.id, JSON.stringify([pending])],
      );
    const record = async (receipt: ProviderReceipt, audit: PendingAudit): Promise<Date> => {
      await queueAudit(audit);
      const { rows: updated } = await client.query<{ sent_at: Date }>(
        `UPDATE outbox SET status = 'sent', provider_message_id = $2, provider_thread_id = COALESCE($3, provider_thread_id),
           sent_at = now(), updated_at = now() WHERE id = $1 RETURNING sent_at`,
        [row.id, receipt.providerMessageId, receipt.threadId ?? null],
      );
      return updated[0]?.sent_at ?? deps.now();
    };

    if (row.provider_message_id !== null) {
      await client.query('COMMIT');
      outcome = {
        providerMessageId: row.provider_message_id,
        ...(row.provider_thread_id !== null ? { threadId: row.provider_thread_id } : {}),
        alreadySent: true,
        reconciled: false,
        attempts: row.attempts,
        sentAt: row.sent_at ?? row.created_at,
        intentAt: row.created_at,
      };
    } else {
      // `failed` means the provider answered with an error (nothing was sent). `intent`/`ambiguous`
      // after an attempt means we cannot know whether it landed: ask the provider first.
      let afterReconcile: string | undefined;
      if (row.attempts > 0 && row.status !== 'failed' && reconcile !== undefined) {
        const found = await reconcile(row.created_at);
        afterReconcile = found.kind;
        if (found.kind === 'found') {
          const sentAt = await record(
            { providerMessageId: found.providerMessageId },
            {
              outcome: 'reconciled',
              suffix: 'reconciled',
              details: {
                providerMessageId: found.providerMessageId,
                attempts: row.attempts,
                previousStatus: row.status,
              },
            },
          );
          await client.query('COMMIT');
          outcome = {
            providerMessageId: found.providerMessageId,
            alreadySent: true,
            reconciled: true,
            attempts: row.attempts,
            sentAt,
            intentAt: row.created_at,
          };
        } else if (found.kind === 'unknown') {
          // The bound: without an answer we send again, so this crash may cost one duplicate. Said so.
          await queueAudit({
            outcome: 'ambiguous',
            suffix: `ambiguous:${row.attempts}`,
            details: { reason: found.reason, attempts: row.attempts, previousStatus: row.status },
          });
        }
      }

      if (outcome === undefined) {
        // Count the attempt durably before calling out, so a crash mid-call is visible to the next attempt.
        await client.query(`UPDATE outbox SET attempts = attempts + 1, updated_at = now() WHERE id = $1`, [row.id]);
        await client.query('COMMIT');
        const attempt = row.attempts + 1;
        await client.query('BEGIN');
        await client.query('SELECT 1 FROM outbox WHERE id = $1 FOR UPDATE', [row.id]);
        let receipt: ProviderReceipt | undefined;
        try {
          receipt = await send(client);
        } catch (err) {
          const status = isAmbiguous(err) ? 'ambiguous' : 'failed';
          await queueAudit({
            outcome: status,
            suffix: `error:${attempt}`,
            details: { attempt, ...describeSendError(err) },
          });
          await client.query(`UPDATE outbox SET status = $2, updated_at = now() WHERE id = $1`, [row.id, status]);
          await client.query('COMMIT');
          failure = { error: err };
        }
        if (receipt !== undefined) {
          const sentAt = await record(receipt, {
            outcome: 'sent',
            suffix: 'sent',
            details: {
              providerMessageId: receipt.providerMessageId,
              attempt,
              ...(afterReconcile !== undefined ? { afterReconcile } : {}),
            },
          });
          await client.query('COMMIT');
          outcome = {
            ...receipt,
            alreadySent: false,
            reconciled: false,
            attempts: attempt,
            sentAt,
            intentAt: row.created_at,
          };
        }
      }
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  if (failure !== undefined) {
    // The provider's error is what the caller must see; a failed audit flush is repaired next attempt.
    await flushPendingAudits().catch(() => undefined);
    throw failure.error;
  }
  await flushPendingAudits();
  if (outcome === undefined) throw new Error('outbox send ended without an outcome');
  return outcome;
}

/** A send error that may have happened after the provider accepted the request (e.g. a timeout). */
function isAmbiguous(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { ambiguous?: unknown; kind?: unknown };
  return e.ambiguous === true || e.kind === 'ambiguous';
}

/**
 * Provider message IDs already recorded among `candidates`, on one channel or any of several
 * (reconciliation and the replay of parked reports skip them).
 */
export async function recordedProviderIds(
  pool: Pick<Pool, 'query'>,
  channel: OutboxChannel | readonly OutboxChannel[],
  candidates: string[],
): Promise<Set<string>> {
  if (candidates.length === 0) return new Set();
  const channels = typeof channel === 'string' ? [channel] : [...channel];
  const { rows } = await pool.query<{ provider_message_id: string }>(
    `SELECT provider_message_id FROM outbox WHERE channel = ANY($1::text[]) AND provider_message_id = ANY($2::text[])`,
    [channels, candidates],
  );
  return new Set(rows.map((r) => r.provider_message_id));
}

/**
 * Give a send recorded only as pending (PENDING_ID_PREFIX) the provider message ID a parked report
 * carries, and its thread when it has none. True when the send took it.
 */
export async function adoptPendingMessageId(
  pool: Pick<Pool, 'query'>,
  idempotencyKey: string,
  providerMessageId: string,
  threadId: string | undefined,
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE outbox SET provider_message_id = $2, provider_thread_id = COALESCE(provider_thread_id, $3), updated_at = now()
     WHERE idempotency_key = $1 AND provider_message_id LIKE '${PENDING_ID_PREFIX}%'`,
    [idempotencyKey, providerMessageId, threadId ?? null],
  );
  return rowCount === 1;
}

/** The patients whose sends on `channel` went into the provider thread `threadId` (a Spruce conversation). */
export async function patientsOfThread(
  pool: Pick<Pool, 'query'>,
  channel: OutboxChannel,
  threadId: string,
): Promise<{ practiceId: string; patientId: string }[]> {
  const { rows } = await pool.query<{ practice_id: string; patient_id: string }>(
    `SELECT DISTINCT practice_id, patient_id FROM outbox
     WHERE channel = $1 AND provider_thread_id = $2 AND patient_id IS NOT NULL ORDER BY 1, 2`,
    [channel, threadId],
  );
  return rows.map((r) => ({ practiceId: r.practice_id, patientId: r.patient_id }));
}

/** What a workflow's sends say about its result versions (for a later run under the same workflow ID). */
export interface SendVersions {
  /** The highest version any send was recorded for. */
  lastVersion?: number;
  /** The highest version the patient was told about (a sent notice on a patient channel, not the invitation). */
  notifiedVersion?: number;
}

export async function sendVersionsOf(pool: Pick<Pool, 'query'>, workflowId: string): Promise<SendVersions> {
  const { rows } = await pool.query<{ last_version: number | null; notified_version: number | null }>(
    `SELECT MAX(result_version) AS last_version,
            MAX(result_version) FILTER (
              WHERE status = 'sent' AND channel IN ('sms', 'spruce', 'portal') AND template <> 'consent-invitation'
            ) AS notified_version
       FROM outbox WHERE workflow_id = $1`,
    [workflowId],
  );
  const row = rows[0];
  return {
    ...(row?.last_version != null ? { lastVersion: row.last_version } : {}),
    ...(row?.notified_version != null ? { notifiedVersion: row.notified_version } : {}),
  };
}

/**
 * Delivery progress by rank: a status only replaces one of lower rank, so a late `sent` callback
 * arriving after `delivered` (Twilio does not promise order) cannot move a message backwards.
 */
const DELIVERY_RANK: Record<string, number> = {
  queued: 1,
  sent: 2,
  delivered: 3,
  undelivered: 3,
  failed: 3,
  read: 4,
};

export interface DeliveryStatusRecord {
  workflowId: string;
  practiceId: string;
  patientId?: string;
  /** The opaque result reference in the workflow ID, the send's template and its variant, for the audit row. */
  resultRef?: string;
  template: string;
  variant?: string;
  /** False when the status was stale (lower rank than what is recorded) and was not applied. */
  applied: boolean;
}

/** Record a delivery status reported by a provider callback against the outbox row. */
export async function recordDeliveryStatus(
  pool: Pool,
  channel: OutboxChannel,
  providerMessageId: string,
  status: string,
  errorCode?: string,
): Promise<DeliveryStatusRecord | undefined> {
  const rank = DELIVERY_RANK[status] ?? 0;
  const { rows } = await pool.query<{
    workflow_id: string;
    practice_id: string;
    patient_id: string | null;
    template: string;
    variant: string | null;
    applied: boolean;
  }>(
    // The variant is not an outbox column: it is on the send's intent audit row (sendOnce's key).
    `WITH target AS (
       SELECT id, idempotency_key, workflow_id, practice_id, patient_id, template, delivery_status FROM outbox WHERE channel = $1 AND provider_message_id = $2 FOR UPDATE
     ), updated AS (
       UPDATE outbox o SET delivery_status = $3, error_code = COALESCE($4, o.error_code), updated_at = now()
       FROM target t
       WHERE o.id = t.id AND $5 >= COALESCE((SELECT r.rank FROM (VALUES ${rankValues()}) AS r(status, rank) WHERE r.status = t.delivery_status), 0)
       RETURNING o.id
     )
     SELECT t.workflow_id, t.practice_id, t.patient_id, t.template,
            (SELECT a.variant FROM audit_log a WHERE a.idempotency_key = 'outbox:' || t.idempotency_key || ':intent') AS variant,
            EXISTS (SELECT 1 FROM updated) AS applied
       FROM target t`,
    [channel, providerMessageId, status, errorCode ?? null, rank],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  const resultRef = resultRefOf(row.workflow_id);
  return {
    workflowId: row.workflow_id,
    practiceId: row.practice_id,
    ...(row.patient_id !== null ? { patientId: row.patient_id } : {}),
    ...(resultRef !== undefined ? { resultRef } : {}),
    template: row.template,
    ...(row.variant !== null ? { variant: row.variant } : {}),
    applied: row.applied,
  };
}

function rankValues(): string {
  return Object.entries(DELIVERY_RANK)
    .map(([status, rank]) => `('${status}', ${rank})`)
    .join(', ');
}

/**
 * A Spruce item whose request id we never learned (the answer to the post was lost and the retry was
 * refused as a duplicate) is matched by its conversation instead: the oldest send into that thread
 * still waiting for its real ID takes it. Returns the workflow, or undefined when nothing waits.
 */
export async function adoptThreadMessageId(
  pool: Pool,
  channel: OutboxChannel,
  threadId: string,
  providerMessageId: string,
): Promise<{ workflowId: string } | undefined> {
  const { rows } = await pool.query<{ workflow_id: string }>(
    `UPDATE outbox SET provider_message_id = $3, updated_at = now()
     WHERE id = (
       SELECT id FROM outbox WHERE channel = $1 AND provider_thread_id = $2 AND provider_message_id LIKE '${PENDING_ID_PREFIX}%'
       ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED
     )
     RETURNING workflow_id`,
    [channel, threadId, providerMessageId],
  );
  const row = rows[0];
  return row === undefined ? undefined : { workflowId: row.workflow_id };
}

/**
 * Placeholder provider ID for a send the provider confirmed only as "already done" (Spruce 422): the
 * real ID arrives with the webhook and replaces it (adoptThreadMessageId).
 */
export const PENDING_ID_PREFIX = 'pending:';

/**
 * The reference a page carries in its text (`Ref LLP-…`): a digest of its outbox key, PHI-free. A
 * page is a new note conversation each time, so when its create's answer was lost and the retry was
 * refused as a duplicate (Spruce 422), neither its conversation nor its request id is known; the
 * webhook of its message finds the pending send by this reference instead (adoptPageByReference).
 */
export function pageReference(idempotencyKey: string): string {
  return `LLP-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 12)}`;
}

const PAGE_REFERENCE_PATTERN = /\bRef (LLP-[0-9a-f]{12})\b/g;

/** The first page reference in a Spruce item's text, if any. */
export function pageReferenceIn(text: string): string | undefined {
  return [...text.matchAll(PAGE_REFERENCE_PATTERN)][0]?.[1];
}

/**
 * Give a page recorded only as pending its real request id (and conversation), found by the
 * reference in the item's text. Returns the workflow, or undefined when no pending page has it.
 */
export async function adoptPageByReference(
  pool: Pool,
  text: string,
  providerMessageId: string,
  threadId: string,
): Promise<{ workflowId: string } | undefined> {
  const references = new Set([...text.matchAll(PAGE_REFERENCE_PATTERN)].map((m) => m[1]));
  if (references.size === 0) return undefined;
  const { rows: pending } = await pool.query<{ id: string; idempotency_key: string }>(
    `SELECT id, idempotency_key FROM outbox
     WHERE channel = 'page' AND provider_message_id = '${PENDING_ID_PREFIX}' || idempotency_key`,
  );
  const match = pending.find((r) => references.has(pageReference(r.idempotency_key)));
  if (match === undefined) return undefined;
  const { rows } = await pool.query<{ workflow_id: string }>(
    `UPDATE outbox SET provider_message_id = $2, provider_thread_id = COALESCE(provider_thread_id, $3), updated_at = now()
     WHERE id = $1 AND provider_message_id LIKE '${PENDING_ID_PREFIX}%' RETURNING workflow_id`,
    [match.id, providerMessageId, threadId],
  );
  return rows[0] === undefined ? undefined : { workflowId: rows[0].workflow_id };
}
