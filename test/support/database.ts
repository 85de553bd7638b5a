import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabaseIfMissing } from '../../sandbox/servers/create-database';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../sandbox/servers/embedded-postgres';
import { migrateUp } from '../../lib/db/migrate';

/**
 * A fresh, migrated PostgreSQL database for one test file. The test runner (scripts/test.ts)
 * starts one shared server and passes LABLOOP_TEST_PG_ADMIN_URL; a file run on its own starts its
 * own embedded server. DATABASE_URL, when set, names a server to create test databases on.
 */
export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  close(): Promise<void>;
}

let ownServer: Promise<EmbeddedDatabase> | undefined;
let ownServerUsers = 0;

function adminUrlFromEnv(): string | undefined {
  return process.env.LABLOOP_TEST_PG_ADMIN_URL ?? process.env.DATABASE_URL;
}

export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const name = `${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(5).toString('hex')}`;
  let adminUrl = adminUrlFromEnv();
  let server: EmbeddedDatabase | undefined;
  if (adminUrl === undefined) {
    ownServer ??= startEmbeddedPostgres();
    ownServerUsers += 1;
    server = await ownServer;
    adminUrl = server.adminUrl;
  }
  // The random suffix makes the name new: the database is always created here.
  const url = await createDatabaseIfMissing(adminUrl, name);
  await migrateUp(url);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => undefined);
  return {
    url,
    pool,
    async close() {
      await pool.end();
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
      if (server !== undefined) {
        ownServerUsers -= 1;
        if (ownServerUsers === 0) {
          ownServer = undefined;
          await server.stop();
        }
      }
    },
  };
}
