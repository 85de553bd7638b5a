import type { Pool, PoolClient } from 'pg';

/**
 * Serialises work on one athena lab result across workers (webhook events and feed polls may
 * inflate the same document at once). Inflating under the lock means the versions reach the
 * lab-result workflow in the order athena produced them: a slower, older read can no longer
 * overtake a newer one. A transaction-scoped advisory lock: released on commit, rollback or a
 * dropped connection, so a crashed worker never leaves it held.
 */

/** Namespace for our advisory locks (first key of the two-key form), so other users of advisory locks cannot collide. */
const ATHENA_RESULT_LOCK_CLASS = 30_001;
/**
 * How long to wait for the lock. The holder makes two athena reads (≤ ~55 s each in the worst retry
 * case) and one hand-off; 2 minutes outlasts that, and a timeout fails the activity, which Temporal retries.
 */
export const RESULT_LOCK_TIMEOUT_MS = 2 * 60_000;

/**
 * Runs `fn` holding the lock for `key`. `fn` gets the lock's own connection and should do its
 * database work on it: taking a second pooled connection while holding this one could exhaust the
 * pool when many results are ingested at once, each lock holder waiting for a connection none frees.
 */
export async function withResultLock<T>(pool: Pool, key: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = ${RESULT_LOCK_TIMEOUT_MS}`);
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [ATHENA_RESULT_LOCK_CLASS, key]);
    return await fn(client);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    try {
      await client.query(failed ? 'ROLLBACK' : 'COMMIT');
    } finally {
      client.release();
    }
  }
}
