import type { Pool, PoolClient } from 'pg';
import { inTransaction } from '../db/transaction';
import { insertAnchor, ANCHOR_EVERY_N_APPENDS } from './anchor';
import { GENESIS_HASH, SQL_ISO_MS, computeRowHash, toSafeNumber } from './record';
import type { AppendResult, AuditEventInput, AuditRecord, AuditSink, JsonValue } from './types';
import { normalizeEvent, type NormalizedEvent } from './validate';

/**
 * How long an append waits for the chain lock. An append holds it for four loopback round trips
 * (lookup, tail, insert, commit: well under 10 ms), so even 100 queued appenders clear in about a
 * second; 10 s only passes when a holder is stuck, and then failing lets the caller (a Temporal
 * activity) retry instead of piling up connections behind it.
 */
export const APPEND_LOCK_TIMEOUT_MS = 10_000;
/**
 * A holder that stops talking mid-transaction (a paused or partitioned process) is cut off after
 * this long, which releases the chain lock for everyone else. 5 s is ~500x a normal append.
 */
export const APPEND_IDLE_IN_TRANSACTION_TIMEOUT_MS = 5_000;

/** The audit log's writer. Activities should depend on the narrower AuditSink. */
export interface AuditLog extends AuditSink {
  /**
   * Append one event as the next link of the chain. Validates first (AuditInputError names each bad
   * field). With an idempotencyKey that was already used, returns that row with `duplicate: true`
   * and appends nothing; the key must then belong to the same action, practice and workflow,
   * otherwise it is a caller bug and the append fails.
   */
  append(event: AuditEventInput): Promise<AppendResult>;
}

/** An idempotency key reused for a different event. */
export class AuditIdempotencyConflictError extends Error {
  constructor(key: string, existingSeq: string) {
    super(
      `audit idempotency key ${JSON.stringify(key)} was already used by seq ${existingSeq} for a different action, practice or workflow`,
    );
    this.name = 'AuditIdempotencyConflictError';
  }
}

/** An append writer over a pool. Safe to use from many workers and processes at once. */
export function createAuditLog(pool: Pool): AuditLog {
  return {
    async append(event) {
      const normalized = normalizeEvent(event);
      return inTransaction(pool, (client) => appendLocked(client, normalized), {
        begin:
          `BEGIN; SET LOCAL lock_timeout = ${APPEND_LOCK_TIMEOUT_MS}; ` +
          `SET LOCAL idle_in_transaction_session_timeout = ${APPEND_IDLE_IN_TRANSACTION_TIMEOUT_MS}`,
      });
    },
  };
}

/**
 * Append one event inside the caller's open transaction (`client` has run BEGIN), so the event
 * commits or rolls back with the caller's own writes: a consent change and its audit row are then
 * one unit. Same validation, idempotency and chain lock as `append`: the chain lock is a
 * transaction-level advisory lock, so it is held until the caller commits, and the caller must keep
 * the rest of that transaction short (a few statements on the same connection, no outside calls).
 * The lock and idle timeouts of `append` apply to the rest of the caller's transaction.
 */
export async function appendAuditInTransaction(client: PoolClient, event: AuditEventInput): Promise<AppendResult> {
  const normalized = normalizeEvent(event);
  await client.query(
    `SET LOCAL lock_timeout = ${APPEND_LOCK_TIMEOUT_MS}; ` +
      `SET LOCAL idle_in_transaction_session_timeout = ${APPEND_IDLE_IN_TRANSACTION_TIMEOUT_MS}`,
  );
  return appendLocked(client, normalized);
}

async function appendLocked(client: PoolClient, event: NormalizedEvent): Promise<AppendResult> {
  // Serialises appenders across all processes. It must be its own statement: in READ COMMITTED each
  // statement takes its snapshot when it starts, so only a statement issued after the lock is
  // granted sees the tail that the previous holder committed.
  await client.query('SELECT pg_advisory_xact_lock(audit_log_chain_lock_key())');

  if (event.idempotency_key !== null) {
    const existing = await client.query<{
      seq: string;
      row_hash: string;
      action: string;
      practice_id: string | null;
      workflow_id: string | null;
    }>(
      'SELECT seq::text AS seq, row_hash, action, practice_id, workflow_id FROM audit_log WHERE idempotency_key = $1',
      [event.idempotency_key],
    );
    const row = existing.rows[0];
    if (row !== undefined) {
      if (row.action !== event.action || row.practice_id !== event.practice_id || row.workflow_id !== event.workflow_id)
        throw new AuditIdempotencyConflictError(event.idempotency_key, row.seq);
      return { seq: toSafeNumber(row.seq), rowHash: row.row_hash, duplicate: true };
    }
  }

  // The details are hashed in the form PostgreSQL will hand back (jsonb normalises key order,
  // duplicate keys and number spelling), so the verifier, which can only see what is stored,
  // recomputes the same hash. recorded_at is taken under the lock, so it never decreases along seq.
  const tail = await client.query<{
    seq: string | null;
    row_hash: string | null;
    recorded_at: string;
    details: string;
  }>(
    `SELECT tail.seq::text AS seq, tail.row_hash,
            to_char(clock_timestamp() AT TIME ZONE 'UTC', ${SQL_ISO_MS}) AS recorded_at,
            $1::jsonb::text AS details
     FROM (SELECT 1) AS always_one_row
     LEFT JOIN (SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS tail ON true`,
    [JSON.stringify(event.details)],
  );
  const t = tail.rows[0];
  if (t === undefined) throw new Error('audit tail query returned no row');
  const seq = t.seq === null ? 1n : BigInt(t.seq) + 1n;
  const record: AuditRecord = {
    ...event,
    seq: seq.toString(),
    recorded_at: t.recorded_at,
    details: JSON.parse(t.details) as { [key: string]: JsonValue },
    prev_hash: t.row_hash ?? GENESIS_HASH,
  };
  const rowHash = computeRowHash(record);
  await client.query(
    `INSERT INTO audit_log (seq, occurred_at, recorded_at, practice_id, workflow_id, result_ref, patient_id,
       actor_type, actor_id, action, channel, template, variant, outcome, details, idempotency_key, prev_hash, row_hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $17, $18)`,
    [
      record.seq,
      record.occurred_at,
      record.recorded_at,
      record.practice_id,
      record.workflow_id,
      record.result_ref,
      record.patient_id,
      record.actor_type,
      record.actor_id,
      record.action,
      record.channel,
      record.template,
      record.variant,
      record.outcome,
      t.details,
      record.idempotency_key,
      record.prev_hash,
      rowHash,
    ],
  );
  // Anchors (lib/audit/anchor.ts) make rows cut off the end detectable; a periodic one covers the rest.
  if (seq % BigInt(ANCHOR_EVERY_N_APPENDS) === 0n) await insertAnchor(client, { seq: record.seq, rowHash }, 'append');
  return { seq: toSafeNumber(record.seq), rowHash, duplicate: false };
}

/** Re-exported for callers that imported it from here. */
export { toSafeNumber };
