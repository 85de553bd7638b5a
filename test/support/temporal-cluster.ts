import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../sandbox/servers/embedded-postgres';
import { startTemporalCluster, type TemporalCluster } from '../../sandbox/temporal-cluster';

/**
 * The real Temporal server, closed as in production (sandbox/temporal-cluster.ts), for one test file:
 * on the run's PostgreSQL (LABLOOP_TEST_PG_ADMIN_URL) or an embedded one of its own, with databases
 * of its own and certificates and tokens generated here. Boot takes ~10-20 s, so one per file.
 */
export interface TestTemporalCluster extends TemporalCluster {
  teardown(): Promise<void>;
}

export async function createTestTemporalCluster(): Promise<TestTemporalCluster> {
  let own: EmbeddedDatabase | undefined;
  let adminUrl = process.env.LABLOOP_TEST_PG_ADMIN_URL ?? process.env.DATABASE_URL;
  if (adminUrl === undefined || adminUrl === '') {
    own = await startEmbeddedPostgres();
    adminUrl = own.adminUrl;
  }
  const url = new URL(adminUrl);
  const suffix = randomBytes(4).toString('hex');
  const names = { temporal: `temporal_${suffix}`, visibility: `temporal_visibility_${suffix}` };
  const dir = mkdtempSync(path.join(tmpdir(), 'labloop-temporal-'));
  const dropDatabases = async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      for (const db of Object.values(names)) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  };
  let cluster: TemporalCluster;
  try {
    cluster = await startTemporalCluster({
      postgres: {
        host: url.hostname,
        port: Number(url.port || 5432),
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
      },
      dir,
      databaseNames: names,
    });
  } catch (err) {
    await own?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...cluster,
    async teardown() {
      await cluster.stop();
      if (own !== undefined) await own.stop();
      else await dropDatabases();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
