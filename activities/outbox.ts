import type { Pool } from 'pg';

/**
 * Intent-first sending. The intent row is written (under its unique key) before the provider is
 * called and the provider's message ID after, inside one transaction holding the row lock, so two
 * attempts never call the provider at the same time. If a process dies between the call and the
 * second write, the row stays at `intent` with attempts > 0: the next attempt asks `reconcile`
 * whether the earlier call landed before sending again, which bounds duplicates to what the
 * provider cannot tell us about.
 */
export interface OutboxKey {
  workflowId: string;
  resultVersion: number;
  step: string;
}

export interface OutboxMeta {
  channel: 'sms' | 'spruce' | 'portal' | 'call' | 'page';
  practiceId: string;
  patientId?: string;
  template: string;
}

export interface OutboxOutcome {
  providerMessageId: string;
  /** True when this call found an earlier send (recorded or reconciled) and did not send again. */
  alreadySent: boolean;
  reconciled: boolean;
  attempts: number;
}

export function outboxIdempotencyKey(key: OutboxKey): string {
  return `${key.workflowId}:v${key.resultVersion}:${key.step}`;
}

interface OutboxRow {
  id: string;
  status: string;
  provider_message_id: string | null;
  attempts: number;
  created_at: Date;
}

export async function sendOnce(
  pool: Pool,
  key: OutboxKey,
  meta: OutboxMeta,
  send: () => Promise<{ providerMessageId: string }>,
  reconcile?: (intentCreatedAt: Date) => Promise<string | undefined>,
): Promise<OutboxOutcome> {
  const idempotencyKey = outboxIdempotencyKey(key);
  const client = await pool.connect();
  try {
    await client.query(
      `INSERT INTO outbox (idempotency_key, workflow_id, result_version, step, channel, practice_id, patient_id, template, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'intent') ON CONFLICT (idempotency_key) DO NOTHING`,
      [idempotencyKey, key.workflowId, key.resultVersion, key.step, meta.channel, meta.practiceId, meta.patientId ?? null, meta.template],
    );
    await client.query('BEGIN');
    const { rows } = await client.query<OutboxRow>(
      'SELECT id, status, provider_message_id, attempts, created_at FROM outbox WHERE idempotency_key = $1 FOR UPDATE',
      [idempotencyKey],
    );
    const row = rows[0];
    if (row === undefined) throw new Error('outbox intent row vanished');
    if (row.provider_message_id !== null) {
      await client.query('COMMIT');
      return { providerMessageId: row.provider_message_id, alreadySent: true, reconciled: false, attempts: row.attempts };
    }
    // `failed` means the provider answered with an error (nothing sent); `intent`/`ambiguous` after an
    // attempt means we cannot know, so ask the provider first.
    if (row.attempts > 0 && row.status !== 'failed' && reconcile !== undefined) {
      const found = await reconcile(row.created_at);
      if (found !== undefined) {
        await client.query(
          `UPDATE outbox SET status = 'sent', provider_message_id = $2, sent_at = now(), updated_at = now() WHERE id = $1`,
          [row.id, found],
        );
        await client.query('COMMIT');
        return { providerMessageId: found, alreadySent: true, reconciled: true, attempts: row.attempts };
      }
    }
    // Count the attempt durably before calling out, so a crash mid-call is visible to the next attempt.
    await client.query(`UPDATE outbox SET attempts = attempts + 1, updated_at = now() WHERE id = $1`, [row.id]);
    await client.query('COMMIT');
    await client.query('BEGIN');
    await client.query('SELECT 1 FROM outbox WHERE id = $1 FOR UPDATE', [row.id]);
    try {
      const { providerMessageId } = await send();
      await client.query(
        `UPDATE outbox SET status = 'sent', provider_message_id = $2, sent_at = now(), updated_at = now() WHERE id = $1`,
        [row.id, providerMessageId],
      );
      await client.query('COMMIT');
      return { providerMessageId, alreadySent: false, reconciled: false, attempts: row.attempts + 1 };
    } catch (err) {
      const status = isAmbiguous(err) ? 'ambiguous' : 'failed';
      await client.query(`UPDATE outbox SET status = $2, updated_at = now() WHERE id = $1`, [row.id, status]);
      await client.query('COMMIT');
      throw err;
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** A send error that may have happened after the provider accepted the request (e.g. a timeout). */
function isAmbiguous(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { ambiguous?: unknown }).ambiguous === true;
}

/** Record a delivery status reported by a provider callback against the outbox row. */
export async function recordDeliveryStatus(
  pool: Pool,
  channel: OutboxMeta['channel'],
  providerMessageId: string,
  status: string,
  errorCode?: string,
): Promise<{ workflowId: string } | undefined> {
  const { rows } = await pool.query<{ workflow_id: string }>(
    `UPDATE outbox SET delivery_status = $3, error_code = COALESCE($4, error_code), updated_at = now()
     WHERE channel = $1 AND provider_message_id = $2 RETURNING workflow_id`,
    [channel, providerMessageId, status, errorCode ?? null],
  );
  const row = rows[0];
  return row === undefined ? undefined : { workflowId: row.workflow_id };
}
