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
  return pool;
}

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
