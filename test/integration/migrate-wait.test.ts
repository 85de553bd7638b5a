import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { freePort } from '../../sandbox/servers/free-port';
import { PROJECT_ROOT } from '../../lib/tools';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * The compose `migrate` job starts once PostgreSQL reports healthy, has no restart policy, and the
 * API and the worker wait for it to succeed: so scripts/migrate.ts itself must wait out a server
 * that is not quite there. Against the embedded PostgreSQL: a port that starts listening late, a
 * database created late, and a server that never comes (a bounded wait, then a clear failure).
 */
const LATE_MS = 3_000;
/** Starting tsx and migrating a fresh database takes a few seconds; a minute means it hung. */
const RUN_TIMEOUT_MS = 60_000;

interface Run {
  code: number | null;
  output: string;
  ms: number;
}

function runMigrate(url: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  const started = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_MIGRATION_URL: url, ...extraEnv };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts'], { cwd: PROJECT_ROOT, env });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    }),
  );
}

describe('scripts/migrate.ts waits for PostgreSQL for a bounded time', () => {
  let base: TestDatabase;
  const extraDatabases: string[] = [];

  before(async () => {
    base = await createTestDatabase('migrate_wait');
  });
  after(async () => {
    for (const name of extraDatabases) await base.pool.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await base?.close();
  });

  /** The URL of a database on the same server, not created yet. */
  function urlOfNew(): { name: string; url: URL } {
    const name = `migrate_late_${randomBytes(4).toString('hex')}`;
    extraDatabases.push(name);
    const url = new URL(base.url);
    url.pathname = `/${name}`;
    return { name, url };
  }

  it('waits for a port that starts listening late, then migrates', async () => {
    const { name, url } = urlOfNew();
    await base.pool.query(`CREATE DATABASE ${name}`);
    const target = new URL(base.url);
    const port = await freePort();
    url.hostname = '127.0.0.1';
    url.port = String(port);
    // A TCP relay to the real server that opens only after LATE_MS: until then, connection refused.
    const relay = net.createServer((socket) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    const opening = new Promise<void>((resolve) =>
      setTimeout(() => relay.listen(port, '127.0.0.1', () => resolve()), LATE_MS),
    );
    try {
      const run = await runMigrate(url.toString());
      await opening;
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /migrations: waiting up to 120 s for PostgreSQL \(.*ECONNREFUSED/);
      assert.match(run.output, /migrations: applied /);
      assert.ok(run.ms >= LATE_MS, `it waited (${run.ms} ms)`);
      assert.ok(!run.output.includes(url.password || '\u0000'), 'the password is not printed');
    } finally {
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
    const check = new pg.Client({ connectionString: new URL(`/${name}`, base.url).toString() });
    await check.connect();
    try {
      const { rows } = await check.query<{ n: number }>('SELECT count(*)::int AS n FROM pgmigrations');
      assert.ok((rows[0]?.n ?? 0) > 0, 'migrations are recorded');
    } finally {
      await check.end();
    }
  });

  it('waits for a database its init script creates late, then migrates', async () => {
    const { name, url } = urlOfNew();
    const creating = new Promise<void>((resolve, reject) =>
      setTimeout(() => {
        base.pool.query(`CREATE DATABASE ${name}`).then(() => resolve(), reject);
      }, LATE_MS),
    );
    const run = await runMigrate(url.toString());
    await creating;
    assert.equal(run.code, 0, run.output);
    assert.match(
      run.output,
      /waiting up to 120 s for PostgreSQL \(3D000: database "migrate_late_[0-9a-f]+" does not exist/,
    );
    assert.match(run.output, /migrations: applied /);
  });

  it('gives up after the bounded wait with a message naming the reason', async () => {
    const port = await freePort();
    const run = await runMigrate(`postgresql://owner:secret-pw@127.0.0.1:${port}/labloop`, {
      LABLOOP_MIGRATE_WAIT_SECONDS: '2',
    });
    assert.equal(run.code, 1, run.output);
    assert.match(
      run.output,
      /migrations failed: PostgreSQL was not reachable within 2 s \(\d+ attempts\); last: .*ECONNREFUSED/,
    );
    assert.ok(run.ms < 30_000, `bounded (${run.ms} ms)`);
    assert.ok(!run.output.includes('secret-pw'), 'the password is not printed');
  });

  it('fails at once on what waiting cannot fix (a bad setting)', async () => {
    const run = await runMigrate(base.url, { LABLOOP_MIGRATE_WAIT_SECONDS: 'soon' });
    assert.equal(run.code, 1);
    assert.match(run.output, /LABLOOP_MIGRATE_WAIT_SECONDS: must be a whole number/);
  });
});
