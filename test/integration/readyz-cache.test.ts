import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { buildApp } from '../../api/app';
import { READINESS_CACHE_MS } from '../../api/routes/health';
import { testApiDeps } from '../support/api-app';

/**
 * /readyz is public and not rate-limited (load balancers must never be refused), so it answers from
 * a cached check: a flood of probes reaches the database and Temporal at most once per cache period.
 */
void describe('/readyz answers from a cached check', () => {
  void it('a burst of 200 probes costs one database query and one Temporal call; a later probe checks again', async () => {
    let queries = 0;
    let systemInfo = 0;
    const pool = {
      query: async () => {
        queries += 1;
        await new Promise((r) => setTimeout(r, 20));
        return { rows: [], rowCount: 1 };
      },
    } as unknown as Pool;
    const temporal = {
      workflowService: {
        getSystemInfo: () => {
          systemInfo += 1;
          return Promise.resolve({});
        },
      },
      options: { loadedDataConverter: { payloadCodecs: [] }, namespace: 'default' },
    } as unknown as Client;
    const { app } = await buildApp(testApiDeps({ pool, temporal }));
    try {
      const answers = await Promise.all(
        Array.from({ length: 200 }, () => app.inject({ method: 'GET', url: '/readyz' })),
      );
      assert.ok(answers.every((a) => a.statusCode === 200));
      assert.deepEqual(answers[0]?.json(), { status: 'ready', checks: { database: 'ok', temporal: 'ok' } });
      assert.deepEqual([queries, systemInfo], [1, 1]);
      await new Promise((r) => setTimeout(r, READINESS_CACHE_MS + 50));
      await app.inject({ method: 'GET', url: '/readyz' });
      assert.deepEqual([queries, systemInfo], [2, 2], 'the cache expires');
    } finally {
      await app.close();
    }
  });
});
