import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { PROJECT_ROOT } from '../../lib/tools';

/**
 * The Temporal SDK Runtime with its metrics exporter (lib/temporal/runtime.ts). A taken port must
 * stop the worker with the setting named: carrying on would leave the SDK on its default Runtime,
 * which logs to the console unfiltered. Each case runs in a child process (the Runtime is installed
 * once per process).
 */

function installIn(port: number): { status: number | null; output: string } {
  const script = `
    const { installTemporalRuntime } = require('./lib/temporal/runtime');
    const { createLogger } = require('./lib/logger');
    installTemporalRuntime(createLogger('silent', 'probe'), 'WARN', { metricsPort: ${port} });
    fetch('http://127.0.0.1:${port}/metrics').then((r) => { console.log('exporter', r.status); process.exit(0); },
      (e) => { console.log('no exporter', e.message); process.exit(3); });`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

async function freeThenHeld(): Promise<{ port: number; release: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { port, release: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('the Temporal SDK runtime metrics exporter', () => {
  it('serves Prometheus text on the configured loopback port', async () => {
    const held = await freeThenHeld();
    await held.release();
    const { status, output } = installIn(held.port);
    assert.equal(status, 0, output);
    assert.match(output, /exporter 200/);
  });

  it('a taken port stops the process, naming WORKER_TEMPORAL_METRICS_PORT', async () => {
    const held = await freeThenHeld();
    try {
      const { status, output } = installIn(held.port);
      assert.notEqual(status, 0);
      assert.match(output, /WORKER_TEMPORAL_METRICS_PORT/);
      assert.match(output, /Address already in use/);
    } finally {
      await held.release();
    }
  });
});
