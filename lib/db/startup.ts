import { readdirSync } from 'node:fs';
import pg from 'pg';
import type { AppConfig } from '../config';
import { MIGRATIONS_DIR, migrateUp } from './migrate';

/**
 * How the API and the worker get their database ready at start:
 *  - DATABASE_MIGRATION_URL set: migrate as that role (the schema owner).
 *  - production without it: never migrate (the runtime role cannot, and should not), but refuse to
 *    start against a schema with pending migrations, naming them; the one-shot `migrate` job
 *    (scripts/migrate.ts) runs them as the owner first.
 *  - development and tests: migrate with DATABASE_URL, as the embedded database's owner.
 * In production the runtime role must also be least-privileged: a role that owns the audit log or
 * may UPDATE, DELETE or TRUNCATE it could rewrite history, so the process refuses to start.
 */
export type DatabaseStartup = { action: 'migrated'; applied: string[] } | { action: 'verified' };

export class DatabaseNotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseNotReadyError';
  }
}

type StartupConfig = Pick<AppConfig, 'NODE_ENV' | 'DATABASE_URL' | 'DATABASE_MIGRATION_URL'>;

export async function prepareDatabase(config: StartupConfig): Promise<DatabaseStartup> {
  const runtimeUrl = config.DATABASE_URL;
  if (runtimeUrl === undefined) throw new DatabaseNotReadyError('DATABASE_URL is required to run on its own');
  const production = config.NODE_ENV === 'production';
  let result: DatabaseStartup;
  if (config.DATABASE_MIGRATION_URL !== undefined) {
    result = { action: 'migrated', applied: await migrateUp(config.DATABASE_MIGRATION_URL) };
  } else if (production) {
    await assertNoPendingMigrations(runtimeUrl);
    result = { action: 'verified' };
  } else {
    result = { action: 'migrated', applied: await migrateUp(runtimeUrl) };
  }
  if (production) await assertLeastPrivileged(runtimeUrl);
  return result;
}

/** Migration names (file names without extension), in the order node-pg-migrate applies them. */
export function migrationNames(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => /\.(sql|js|ts)$/.test(f) && !f.endsWith('.d.ts'))
    .map((f) => f.replace(/\.(sql|js|ts)$/, ''))
    .sort();
}

/** The migrations this release has that the database has not applied. */
export async function pendingMigrations(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>('SELECT name FROM pgmigrations');
    const applied = new Set(rows.map((r) => r.name));
    return migrationNames().filter((name) => !applied.has(name));
  } catch (err) {
    const code = (err as { code?: string }).code;
    // No history table: nothing was ever migrated.
    if (code === '42P01') return migrationNames();
    if (code === '42501') {
      throw new DatabaseNotReadyError(
        'the runtime role may not read the migration history (pgmigrations): the schema predates ' +
          'migrations/520_app_reads_migration_history.sql. Run the migrations as the schema owner ' +
          '(`docker compose run --rm migrate`, or `node dist/scripts/migrate.js` with DATABASE_MIGRATION_URL), then start again',
      );
    }
    throw err;
  } finally {
    await client.end();
  }
}

async function assertNoPendingMigrations(databaseUrl: string): Promise<void> {
  const pending = await pendingMigrations(databaseUrl);
  if (pending.length === 0) return;
  throw new DatabaseNotReadyError(
    `the database schema is behind this release: pending migrations ${pending.join(', ')}. ` +
      'Run them as the schema owner first (`docker compose run --rm migrate`, or `node dist/scripts/migrate.js` ' +
      'with DATABASE_MIGRATION_URL), then start again',
  );
}

interface TableRights {
  role: string;
  owns: boolean;
  can_update: boolean;
  can_delete: boolean;
  can_truncate: boolean;
}

/** The append-only tables: the runtime role may read and append to them, nothing more. */
const APPEND_ONLY_TABLES = ['audit_log', 'audit_anchor'] as const;

/** What the connected role may do to the audit tables beyond reading and appending (empty: nothing). */
export async function auditLogExcessRights(databaseUrl: string): Promise<{ role: string; excess: string[] }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    let role = '';
    const excess: string[] = [];
    for (const table of APPEND_ONLY_TABLES) {
      // MEMBER, not USAGE: a member of the owning role can SET ROLE to it even without inheriting.
      const { rows } = await client.query<TableRights>(
        `SELECT current_user AS role,
                pg_has_role(current_user, c.relowner, 'MEMBER') AS owns,
                has_any_column_privilege(current_user, c.oid, 'UPDATE') AS can_update,
                has_table_privilege(current_user, c.oid, 'DELETE') AS can_delete,
                has_table_privilege(current_user, c.oid, 'TRUNCATE') AS can_truncate
           FROM pg_class c
          WHERE c.oid = to_regclass($1)`,
        [`public.${table}`],
      );
      const rights = rows[0];
      if (rights === undefined) {
        throw new DatabaseNotReadyError(`there is no ${table} table: run the migrations as the schema owner first`);
      }
      role = rights.role;
      if (rights.owns) excess.push(`owns ${table}`);
      for (const [right, held] of [
        ['UPDATE', rights.can_update],
        ['DELETE', rights.can_delete],
        ['TRUNCATE', rights.can_truncate],
      ] as const) {
        if (held) excess.push(`may ${right} ${table}`);
      }
    }
    return { role, excess };
  } finally {
    await client.end();
  }
}

async function assertLeastPrivileged(databaseUrl: string): Promise<void> {
  const { role, excess } = await auditLogExcessRights(databaseUrl);
  if (excess.length === 0) return;
  throw new DatabaseNotReadyError(
    `refusing to start: the runtime role "${role}" ${excess.join(', ')}, so it could rewrite the audit trail. ` +
      'DATABASE_URL must log in as a role that owns nothing and holds only labloop_app ' +
      '(deploy/postgres-init/10-labloop.sh); migrations run as the owner through DATABASE_MIGRATION_URL or the migrate job',
  );
}
