import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabaseIfMissing } from '../../sandbox/servers/create-database';
import { DatabaseNotReadyError, migrationNames, prepareDatabase } from '../../lib/db/startup';
import { PROJECT_ROOT } from '../../lib/tools';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * What the API and the worker do with the database at start (api/server.ts, worker/main.ts), on a
 * real PostgreSQL. In production they never migrate without the owner's URL: they check that no
 * migration is pending and that the runtime role cannot rewrite the audit log, and refuse to start
 * otherwise, saying what to do.
 */
describe('database preparation at start', () => {
  let db: TestDatabase;
  const suffix = randomBytes(4).toString('hex');
  const runtimeRole = `labloop_rt_${suffix}`;
  const updaterRole = `labloop_upd_${suffix}`;
  const password = randomBytes(12).toString('hex');
  const freshName = `fresh_${suffix}`;
  let runtimeUrl: string;
  let updaterUrl: string;
  let freshUrl: string;

  const asRole = (url: string, role: string) => {
    const u = new URL(url);
    u.username = role;
    u.password = password;
    return u.toString();
  };
  const admin = async (url: string, sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  before(async () => {
    db = await createTestDatabase('db_startup');
    // As in production (deploy/postgres-init/10-labloop.sh): a login that only holds labloop_app.
    await db.pool.query(`CREATE ROLE ${runtimeRole} LOGIN PASSWORD '${password}' IN ROLE labloop_app`);
    // A runtime role someone gave too much.
    await db.pool.query(`CREATE ROLE ${updaterRole} LOGIN PASSWORD '${password}' IN ROLE labloop_app`);
    await db.pool.query(`GRANT UPDATE (outcome) ON audit_log TO ${updaterRole}`);
    await db.pool.query(`GRANT DELETE ON audit_log TO ${updaterRole}`);
    runtimeUrl = asRole(db.url, runtimeRole);
    updaterUrl = asRole(db.url, updaterRole);
    freshUrl = await createDatabaseIfMissing(db.url, freshName);
  });
  after(async () => {
    await admin(db.url, `DROP DATABASE IF EXISTS ${freshName} WITH (FORCE)`).catch(() => undefined);
    for (const role of [runtimeRole, updaterRole]) await db.pool.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    const url = db.url;
    await db.close();
    // Roles are cluster-wide; drop them from the server's maintenance database.
    const maintenance = new URL(url);
    maintenance.pathname = '/postgres';
    for (const role of [runtimeRole, updaterRole]) {
      await admin(maintenance.toString(), `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    }
  });

  it('in production, with the owner URL, migrates as the owner and accepts the least-privileged runtime role', async () => {
    const result = await prepareDatabase({
      NODE_ENV: 'production',
      DATABASE_URL: runtimeUrl,
      DATABASE_MIGRATION_URL: db.url,
    });
    assert.deepEqual(result, { action: 'migrated', applied: [] }, 'already up to date');
  });

  it('in production, without the owner URL, verifies an up-to-date schema and starts', async () => {
    assert.deepEqual(await prepareDatabase({ NODE_ENV: 'production', DATABASE_URL: runtimeUrl }), {
      action: 'verified',
    });
  });

  it('in production, without the owner URL, refuses a schema with pending migrations and names them', async () => {
    const last = migrationNames().at(-1) ?? '';
    await db.pool.query('DELETE FROM pgmigrations WHERE name = $1', [last]);
    try {
      await assert.rejects(
        prepareDatabase({ NODE_ENV: 'production', DATABASE_URL: runtimeUrl }),
        (err: Error) =>
          err instanceof DatabaseNotReadyError &&
          err.message.includes(`pending migrations ${last}.`) &&
          err.message.includes('migrate'),
      );
    } finally {
      await db.pool.query('INSERT INTO pgmigrations (name, run_on) VALUES ($1, now())', [last]);
    }
  });

  it('in production, never migrates a fresh database itself: it names every migration as pending', async () => {
    await assert.rejects(prepareDatabase({ NODE_ENV: 'production', DATABASE_URL: freshUrl }), (err: Error) =>
      err.message.includes(`pending migrations ${migrationNames().join(', ')}.`),
    );
    const client = new pg.Client({ connectionString: freshUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ t: string | null }>(`SELECT to_regclass('public.pgmigrations') AS t`);
      assert.equal(rows[0]?.t, null, 'no migration ran');
    } finally {
      await client.end();
    }
  });

  it('in production, refuses a runtime role that owns the audit log (here the owner itself)', async () => {
    await assert.rejects(
      prepareDatabase({ NODE_ENV: 'production', DATABASE_URL: db.url }),
      (err: Error) =>
        err instanceof DatabaseNotReadyError &&
        /refusing to start: the runtime role ".+" owns audit_log/.test(err.message) &&
        err.message.includes('labloop_app') &&
        err.message.includes('DATABASE_MIGRATION_URL'),
    );
  });

  it('in production, refuses a runtime role that may UPDATE or DELETE audit rows, naming each right', async () => {
    await assert.rejects(
      prepareDatabase({ NODE_ENV: 'production', DATABASE_URL: updaterUrl }),
      (err: Error) =>
        err.message.includes(`the runtime role "${updaterRole}" may UPDATE audit_log, may DELETE audit_log,`) &&
        !err.message.includes('owns audit_log'),
    );
  });

  it('in production, refuses a runtime role that may delete audit anchors', async () => {
    await db.pool.query(`GRANT DELETE ON audit_anchor TO ${updaterRole}`);
    try {
      await assert.rejects(prepareDatabase({ NODE_ENV: 'production', DATABASE_URL: updaterUrl }), (err: Error) =>
        err.message.includes('may DELETE audit_anchor'),
      );
    } finally {
      await db.pool.query(`REVOKE DELETE ON audit_anchor FROM ${updaterRole}`);
    }
  });

  it('in development, migrates with DATABASE_URL as it always did', async () => {
    const result = await prepareDatabase({ NODE_ENV: 'development', DATABASE_URL: freshUrl });
    assert.deepEqual(result, { action: 'migrated', applied: migrationNames() });
  });
});

/** The compose `migrate` job's command (scripts/migrate.ts, compiled to dist/scripts/migrate.js). */
describe('the migrate command', () => {
  let db: TestDatabase;
  const name = `migrate_cmd_${randomBytes(4).toString('hex')}`;
  let freshUrl: string;
  before(async () => {
    db = await createTestDatabase('migrate_cmd_admin');
    freshUrl = await createDatabaseIfMissing(db.url, name);
  });
  after(async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await client.end();
    await db.close();
  });

  const migrate = (env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('applies every migration as DATABASE_MIGRATION_URL, then reports the schema up to date', () => {
    const first = migrate({ DATABASE_MIGRATION_URL: freshUrl });
    assert.equal(first.status, 0, first.stdout + first.stderr);
    for (const migration of migrationNames()) assert.match(first.stdout, new RegExp(`applied ${migration}\n`));
    const second = migrate({ DATABASE_MIGRATION_URL: freshUrl, DATABASE_URL: 'postgresql://unused@127.0.0.1:1/x' });
    assert.equal(second.status, 0, second.stdout + second.stderr);
    assert.equal(second.stdout.trim(), 'migrations: up to date');
  });

  it('without a database URL exits 1 naming the setting', () => {
    const run = migrate({});
    assert.equal(run.status, 1);
    assert.match(
      run.stderr,
      /migrations failed: DATABASE_URL: missing \(set DATABASE_MIGRATION_URL to the schema owner\)/,
    );
  });
});
