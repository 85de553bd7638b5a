import type { Pool, PoolClient } from 'pg';

/**
 * Run `work` in one transaction on one connection: committed if it resolves, rolled back if it
 * throws. `begin` replaces the plain BEGIN, for a transaction that sets its own limits in the same
 * round trip (`BEGIN; SET LOCAL …`).
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
  options: { begin?: string } = {},
): Promise<T> {
  const client = await pool.connect();
  // A connection whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
  let broken: Error | undefined;
  try {
    await client.query(options.begin ?? 'BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
