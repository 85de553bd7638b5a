import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../sandbox/servers/temporal-dev-server';
import { PROJECT_ROOT, temporalCli } from '../../lib/tools';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';

/**
 * The compose job `temporal-setup` runs deploy/temporal/setup-namespace.sh in temporalio/admin-tools.
 * Here the same script runs with the project's own Temporal CLI against a dev server started bare
 * (no namespace but "default", no search attributes), so a wrong command or flag fails here and not
 * on the first production deployment. It must also be safe to run again.
 */
describe('deploy/temporal/setup-namespace.sh', () => {
  let server: DevServer;
  const namespace = 'labloop-compose-setup';
  const script = path.join(PROJECT_ROOT, 'deploy/temporal/setup-namespace.sh');

  before(async () => {
    server = await startDevServer({ headless: true });
  });
  after(async () => {
    await server?.stop();
  });

  const runScript = () => {
    const cli = temporalCli();
    assert.ok(cli.kind !== 'download', 'the Temporal CLI is installed (npm run setup)');
    // The script calls `temporal`; the pinned binary is named that, so its folder goes first on PATH.
    return spawnSync('sh', [script], {
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        PATH: `${path.dirname(cli.path)}:${process.env.PATH ?? ''}`,
        HOME: process.env.HOME,
        TEMPORAL_ADDRESS: server.address,
        LABLOOP_NAMESPACE: namespace,
      },
    });
  };

  it('creates the namespace and registers every labloop search attribute', async () => {
    const first = runScript();
    assert.equal(first.status, 0, first.stdout + first.stderr);
    const connection = await Connection.connect({ address: server.address });
    try {
      const described = await connection.workflowService.describeNamespace({ namespace });
      assert.equal(described.namespaceInfo?.name, namespace);
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      for (const key of SEARCH_ATTRIBUTES) {
        assert.ok(Object.keys(customAttributes ?? {}).includes(key.name), `${key.name} registered`);
      }
    } finally {
      await connection.close();
    }
  });

  it('is idempotent: a second run changes nothing and succeeds', () => {
    const second = runScript();
    assert.equal(second.status, 0, second.stdout + second.stderr);
    for (const key of SEARCH_ATTRIBUTES) assert.match(second.stdout, new RegExp(`${key.name}: already registered`));
  });
});
