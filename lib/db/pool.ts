import pg from 'pg';

/**
 * One pool per process. `pg` returns BIGINT and NUMERIC as strings by default; we keep that
 * (audit sequence numbers can exceed 2^53 in principle) and convert explicitly where needed.
 */
export function createPool(databaseUrl: string, options: { max?: number; applicationName?: string } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'labloop',
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection must not crash the process; the next checkout reconnects.
  pool.on('error', () => undefined);
  // Nor may a checked-out one (a transaction, an advisory-lock holder) when PostgreSQL goes away
  // under it, as at Ctrl-C, where the database gets the signal too: pg only listens for errors on
  // idle clients, and an unheard 'error' event kills the process. The query in flight still fails.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
