import type { Pool, PoolClient } from 'pg';
import { toSafeNumber } from './record';
import { sealBatchInTransaction, sealOneTransaction, type SealOutcome } from './seal';
import type { AppendResult, AuditEventInput, AuditSink } from './types';
import { normalizeEvent, type NormalizedEvent } from './validate';

/**
 * How long `append` waits for its row to be sealed into the chain (lib/audit/seal.ts). A seal takes
 * a few milliseconds per batch, so this only passes when no sealer can make progress (the database
 * is failing); the row is stored and will be sealed, and a retry with the same idempotency key
 * returns it instead of appending again.
 */
export const APPEND_SEAL_TIMEOUT_MS = 10_000;
/**
 * A caller's transaction that stops talking while it holds the chain lock (appendAuditInTransaction
 * sealed in it) is cut off after this long, which releases the lock for everyone else.
 */
export const APPEND_IDLE_IN_TRANSACTION_TIMEOUT_MS = 5_000;

/** The audit log's writer. Activities should depend on the narrower AuditSink. */
export interface AuditLog extends AuditSink {
  /**
   * Append one event and return it once it is sealed into the chain. Validates first
   * (AuditInputError names each bad field). With an idempotencyKey that was already used, returns
   * that row with `duplicate: true` and appends nothing; the key must then belong to the same
   * action, practice and workflow, otherwise it is a caller bug and the append fails.
   */
  append(event: AuditEventInput): Promise<AppendResult>;
}

/** What appendAuditInTransaction knows before the caller commits. */
export interface PendingAppend {
  /** The row's entry id (not its chain position). */
  entryId: number;
  /** Set when the row was sealed inside the caller's transaction (it usually is). */
  seq?: number;
  rowHash?: string;
  duplicate: boolean;
}

/** An idempotency key reused for a different event. */
export class AuditIdempotencyConflictError extends Error {
  constructor(key: string, existing: string) {
    super(
      `audit idempotency key ${JSON.stringify(key)} was already used by ${existing} for a different action, practice or workflow`,
    );
    this.name = 'AuditIdempotencyConflictError';
  }
}

/** Appended before the caller's time-out could elapse, but the chain did not take it in time. */
export class AuditSealTimeoutError extends Error {
  constructor(entryId: string) {
    super(
      `audit entry ${entryId} was stored but not sealed into the chain within ${APPEND_SEAL_TIMEOUT_MS} ms; it will be sealed later`,
    );
    this.name = 'AuditSealTimeoutError';
  }
}

/**
 * An append writer over a pool. Safe to use from many workers and processes at once, and none of
 * them waits on a lock: each append is one INSERT of an unsealed row, then a seal attempt (group
 * commit: whoever finds the chain lock free seals every waiting row, the others' included).
 */
export function createAuditLog(pool: Pool): AuditLog {
  return {
    async append(event) {
      const normalized = normalizeEvent(event);
      const inserted = await insertEntry(pool, normalized);
      return awaitSealed(pool, inserted.entryId, inserted.duplicate);
    },
  };
}

/**
 * Append one event inside the caller's open transaction (`client` has run BEGIN), so the event
 * commits or rolls back with the caller's own writes: a consent change and its audit row are then
 * one unit. Same validation and idempotency as `append`. The row is sealed in the same transaction
 * when the chain lock is free (it is held until the caller commits, so keep the rest of the
 * transaction short: a few statements, no outside calls); otherwise the next seal takes it after
 * the caller commits (the holder's, any later append's, or the worker's periodic one).
 */
export async function appendAuditInTransaction(client: PoolClient, event: AuditEventInput): Promise<PendingAppend> {
  const normalized = normalizeEvent(event);
  await client.query(`SET LOCAL idle_in_transaction_session_timeout = ${APPEND_IDLE_IN_TRANSACTION_TIMEOUT_MS}`);
  const inserted = await insertEntry(client, normalized);
  const { sealed } = await sealBatchInTransaction(client);
  const own = sealed.find((s) => s.entryId === inserted.entryId);
  if (own !== undefined)
    return { entryId: toSafeNumber(own.entryId), seq: own.seq, rowHash: own.rowHash, duplicate: inserted.duplicate };
  const row = await readEntry(client, inserted.entryId);
  return {
    entryId: toSafeNumber(inserted.entryId),
    ...(row?.seq != null && row.row_hash != null ? { seq: toSafeNumber(row.seq), rowHash: row.row_hash } : {}),
    duplicate: inserted.duplicate,
  };
}

/** One INSERT, no lock, nothing read first; a used idempotency key returns the existing entry. */
async function insertEntry(
  db: Pool | PoolClient,
  event: NormalizedEvent,
): Promise<{ entryId: string; duplicate: boolean }> {
  const { rows } = await db.query<{ entry_id: string }>(
    `INSERT INTO audit_log (occurred_at, recorded_at, practice_id, workflow_id, result_ref, patient_id,
       actor_type, actor_id, action, channel, template, variant, outcome, details, idempotency_key)
     VALUES ($1, date_trunc('milliseconds', clock_timestamp()), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
       $13::jsonb, $14)
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING entry_id::text AS entry_id`,
    [
      event.occurred_at,
      event.practice_id,
      event.workflow_id,
      event.result_ref,
      event.patient_id,
      event.actor_type,
      event.actor_id,
      event.action,
      event.channel,
      event.template,
      event.variant,
      event.outcome,
      JSON.stringify(event.details),
      event.idempotency_key,
    ],
  );
  const fresh = rows[0];
  if (fresh !== undefined) return { entryId: fresh.entry_id, duplicate: false };
  // Only an idempotency key can conflict (entry_id comes from the sequence).
  const key = event.idempotency_key ?? '';
  const existing = await db.query<{
    entry_id: string;
    seq: string | null;
    action: string;
    practice_id: string | null;
    workflow_id: string | null;
  }>(
    'SELECT entry_id::text AS entry_id, seq::text AS seq, action, practice_id, workflow_id FROM audit_log WHERE idempotency_key = $1',
    [key],
  );
  const row = existing.rows[0];
  if (row === undefined) throw new Error(`audit idempotency key ${JSON.stringify(key)} conflicted but has no row`);
  if (row.action !== event.action || row.practice_id !== event.practice_id || row.workflow_id !== event.workflow_id)
    throw new AuditIdempotencyConflictError(key, row.seq === null ? `entry ${row.entry_id}` : `seq ${row.seq}`);
  return { entryId: row.entry_id, duplicate: true };
}

async function readEntry(db: Pool | PoolClient, entryId: string) {
  const { rows } = await db.query<{ seq: string | null; row_hash: string | null }>(
    'SELECT seq::text AS seq, row_hash FROM audit_log WHERE entry_id = $1',
    [entryId],
  );
  return rows[0];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One seal transaction in flight per pool (that is, per process): the appenders of a process share
 * it instead of each trying the chain lock. One whose row came too late for it takes the next.
 */
const sealsInFlight = new WeakMap<Pool, Promise<SealOutcome>>();

function sharedSeal(pool: Pool): Promise<SealOutcome> {
  const running = sealsInFlight.get(pool);
  if (running !== undefined) return running;
  const next = sealOneTransaction(pool).finally(() => sealsInFlight.delete(pool));
  sealsInFlight.set(pool, next);
  return next;
}

/**
 * Seal (or let the current sealer seal) until the entry has its place in the chain. When another
 * process holds the chain lock it is sealing this row too, or will right after its commit: poll with
 * a short, growing pause.
 */
async function awaitSealed(pool: Pool, entryId: string, duplicate: boolean): Promise<AppendResult> {
  const deadline = Date.now() + APPEND_SEAL_TIMEOUT_MS;
  for (let pause = 1; ;) {
    const outcome = await sharedSeal(pool);
    const own = outcome.sealed.find((s) => s.entryId === entryId);
    if (own !== undefined) return { seq: own.seq, rowHash: own.rowHash, duplicate };
    const row = await readEntry(pool, entryId);
    if (row?.seq != null && row.row_hash != null)
      return { seq: toSafeNumber(row.seq), rowHash: row.row_hash, duplicate };
    if (Date.now() > deadline) throw new AuditSealTimeoutError(entryId);
    if (!outcome.locked) {
      await sleep(pause);
      pause = Math.min(pause * 2, 20);
    }
  }
}

/** Re-exported for callers that imported it from here. */
export { toSafeNumber };
