import type { Pool, PoolClient } from 'pg';

/**
 * Serialises work on one athena lab result across workers (webhook events and feed polls may
 * inflate the same document at once). Inflating under the lock means the versions reach the
 * lab-result workflow in the order athena produced them: a slower, older read can no longer
 * overtake a newer one.
 *
 * A session-level advisory lock on a connection of its own, not a transaction: every statement the
 * holder runs commits at once, so the hand-off's records (the ingest log row, the result's identity
 * and links) are durable before it signals Temporal, exactly as on the HL7 and FHIR paths. Were they
 * inside a transaction, a signal that landed before a failed commit would leave a workflow no row
 * points to, and another source could claim the result meanwhile. The lock goes with the connection:
 * released explicitly at the end, or by PostgreSQL when a crashed worker's connection drops; a
 * connection whose unlock failed is destroyed, never returned to the pool still holding it.
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
  let broken: Error | undefined;
  let locked = false;
  try {
    await client.query(`SET lock_timeout = ${RESULT_LOCK_TIMEOUT_MS}`);
    await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [ATHENA_RESULT_LOCK_CLASS, key]);
    locked = true;
    await client.query('RESET lock_timeout');
    return await fn(client);
  } finally {
    try {
      if (locked) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [ATHENA_RESULT_LOCK_CLASS, key]);
      else await client.query('RESET lock_timeout');
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
    } finally {
      client.release(broken);
    }
  }
}
