import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { ANCHOR_EVERY_N_APPENDS, insertAnchor } from './anchor';
import { GENESIS_HASH, SQL_ISO_MS, computeRowHash, toSafeNumber } from './record';
import { AUDIT_ACTIONS, AUDIT_ACTOR_TYPES, type AuditRecord, type JsonValue } from './types';

/**
 * The sealer: chains the committed, still unsealed audit rows (migrations/630_audit_sealed_appends.sql)
 * onto the tail in batches, in entry_id order. Only one sealer runs at a time (the chain lock, taken
 * with pg_try_advisory_xact_lock: a caller that finds it taken returns at once instead of queueing,
 * because the holder is sealing its row too). Appenders call it after their INSERT (group commit);
 * the worker's anchoring loop calls it on every tick for rows nobody sealed (an appender in a
 * transaction that committed after the last seal).
 */

/** Rows per seal transaction: one page of hashes in memory, one UPDATE. */
export const SEAL_BATCH_SIZE = 500;

export interface SealedRow {
  entryId: string;
  seq: number;
  rowHash: string;
}

export interface SealOutcome {
  /** False when another sealer held the chain lock (it will seal what is waiting). */
  locked: boolean;
  sealed: SealedRow[];
}

const PendingRow = z.object({
  entry_id: z.string(),
  occurred_at: z.string(),
  recorded_at: z.string(),
  practice_id: z.string().nullable(),
  workflow_id: z.string().nullable(),
  result_ref: z.string().nullable(),
  patient_id: z.string().nullable(),
  actor_type: z.enum(AUDIT_ACTOR_TYPES),
  actor_id: z.string(),
  action: z.enum(AUDIT_ACTIONS),
  channel: z.string().nullable(),
  template: z.string().nullable(),
  variant: z.string().nullable(),
  outcome: z.string(),
  details: z.string(),
  idempotency_key: z.string().nullable(),
});

/** Read exactly as the verifier reads a row (lib/audit/record.ts AUDIT_RECORD_SELECT), minus the chain. */
const PENDING_SELECT = `entry_id::text AS entry_id,
  to_char(occurred_at AT TIME ZONE 'UTC', ${SQL_ISO_MS}) AS occurred_at,
  to_char(recorded_at AT TIME ZONE 'UTC', ${SQL_ISO_MS}) AS recorded_at,
  practice_id, workflow_id, result_ref, patient_id, actor_type, actor_id, action,
  channel, template, variant, outcome, details::text AS details, idempotency_key`;

const TRY_LOCK = 'SELECT pg_try_advisory_xact_lock(audit_log_chain_lock_key()) AS locked';

/**
 * Seal one batch inside `client`'s open transaction, if the chain lock is free. The lock is then
 * held until that transaction ends. Returns what was sealed (empty when nothing was waiting).
 */
export async function sealBatchInTransaction(client: PoolClient, batchSize = SEAL_BATCH_SIZE): Promise<SealOutcome> {
  const lock = await client.query<{ locked: boolean }>(TRY_LOCK);
  if (lock.rows[0]?.locked !== true) return { locked: false, sealed: [] };
  return { locked: true, sealed: await sealLocked(client, batchSize) };
}

async function sealLocked(client: PoolClient, batchSize: number): Promise<SealedRow[]> {
  // A statement after the lock was granted: its snapshot sees the previous sealer's commit.
  const { rows } = await client.query<{ kind: string; tail_seq: string | null; tail_hash: string | null }>(
    `(SELECT 'tail' AS kind, seq::text AS tail_seq, row_hash AS tail_hash, NULL::json AS entry
        FROM audit_log WHERE seq IS NOT NULL ORDER BY audit_log.seq DESC LIMIT 1)
     UNION ALL
     (SELECT 'entry', NULL, NULL, row_to_json(p) FROM (
        SELECT ${PENDING_SELECT} FROM audit_log WHERE seq IS NULL ORDER BY audit_log.entry_id LIMIT $1) AS p)`,
    [batchSize],
  );
  const tail = rows.find((r) => r.kind === 'tail');
  // In entry_id order (a UNION keeps no order of its own): an appender's rows chain in its order.
  const pending = rows
    .filter((r) => r.kind === 'entry')
    .map((r) => PendingRow.parse((r as { entry?: unknown }).entry))
    .sort((a, b) => (BigInt(a.entry_id) < BigInt(b.entry_id) ? -1 : 1));
  if (pending.length === 0) return [];
  let seq = tail?.tail_seq == null ? 0n : BigInt(tail.tail_seq);
  let prev = tail?.tail_hash ?? GENESIS_HASH;
  const sealed: (SealedRow & { prevHash: string })[] = [];
  for (const p of pending) {
    seq += 1n;
    const { entry_id: entryId, details, ...fields } = p;
    const record: AuditRecord = {
      ...fields,
      seq: seq.toString(),
      details: JSON.parse(details) as { [key: string]: JsonValue },
      prev_hash: prev,
    };
    const rowHash = computeRowHash(record);
    sealed.push({ entryId, seq: toSafeNumber(seq.toString()), rowHash, prevHash: prev });
    prev = rowHash;
  }
  await client.query('SELECT audit_log_seal($1::bigint[], $2::bigint[], $3::text[], $4::text[])', [
    sealed.map((s) => s.entryId),
    sealed.map((s) => String(s.seq)),
    sealed.map((s) => s.prevHash),
    sealed.map((s) => s.rowHash),
  ]);
  // Every Nth row is anchored in the database in the same transaction, as the appender used to.
  for (const s of sealed)
    if (s.seq % ANCHOR_EVERY_N_APPENDS === 0) await insertAnchor(client, { seq: s.seq, rowHash: s.rowHash }, 'append');
  return sealed.map(({ prevHash: _p, ...s }) => s);
}

/**
 * Seal everything waiting, batch after batch, unless another sealer holds the lock. After its last
 * commit it looks once more (a fresh snapshot): a row committed while it held the lock, whose
 * appender then found the lock taken, is sealed here rather than waiting for the next caller.
 */
export async function sealAuditLog(pool: Pool, batchSize = SEAL_BATCH_SIZE): Promise<SealOutcome> {
  const all: SealedRow[] = [];
  let lockedOnce = false;
  for (;;) {
    const outcome = await sealOneTransaction(pool, batchSize);
    if (!outcome.locked) return { locked: lockedOnce, sealed: all };
    lockedOnce = true;
    all.push(...outcome.sealed);
    if (outcome.sealed.length === batchSize) continue;
    const waiting = await pool.query<{ waiting: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM audit_log WHERE seq IS NULL) AS waiting',
    );
    if (waiting.rows[0]?.waiting !== true) return { locked: true, sealed: all };
  }
}

/** One seal transaction (one batch), unless another sealer holds the lock. */
export async function sealOneTransaction(pool: Pool, batchSize = SEAL_BATCH_SIZE): Promise<SealOutcome> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const results = (await client.query(`BEGIN; ${TRY_LOCK}`)) as unknown as { rows: { locked?: boolean }[] }[];
    if (results[1]?.rows[0]?.locked !== true) {
      await client.query('ROLLBACK');
      return { locked: false, sealed: [] };
    }
    const sealed = await sealLocked(client, batchSize);
    await client.query('COMMIT');
    return { locked: true, sealed };
  } catch (error) {
    await client.query('ROLLBACK').catch((e: unknown) => {
      broken = e instanceof Error ? e : new Error(String(e));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
