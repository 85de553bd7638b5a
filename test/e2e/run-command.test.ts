import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/tools';
import { eventually } from '../support/stack';

/**
 * `npm start`'s launcher as a user runs it: a child process on embedded defaults that prints its
 * URLs, serves them, runs the demo end to end, and stops cleanly on Ctrl-C (SIGINT).
 */
describe('the run command (scripts/dev.ts)', () => {
  let child: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'labloop-run-'));
  // As root, the embedded PostgreSQL runs as the `postgres` user, which must reach its data directory.
  chmodSync(dataDir, 0o755);

  before(async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, LABLOOP_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    // It must stand on its own: no shared servers from the test runner.
    delete env.TEMPORAL_ADDRESS;
    delete env.DATABASE_URL;
    child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await eventually(
      () => {
        if (child.exitCode !== null) throw new Error(`the launcher exited with ${child.exitCode}:\n${output}`);
        return output.includes('labloop is running') ? true : undefined;
      },
      180_000,
      () => `the launcher to start; output so far:\n${output}`,
    );
  });

  after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const url = (label: string): string => {
    const match = new RegExp(`^\\s+${label}\\s+(?:POST )?(\\S+)`, 'm').exec(output);
    assert.ok(match?.[1], `the launcher printed the ${label} URL`);
    return match[1];
  };

  it('prints and serves the API, the Temporal UI and the sandbox outboxes', async () => {
    assert.equal((await fetch(`${url('API')}/healthz`)).status, 200);
    assert.equal((await fetch(`${url('API')}/readyz`)).status, 200);
    assert.equal((await fetch(url('Temporal Web UI'))).status, 200);
    for (const label of ['Sandbox Twilio', 'Sandbox Spruce', 'Sandbox athena']) {
      const response = await fetch(url(label));
      assert.equal(response.status, 200, label);
      assert.match(response.headers.get('content-type') ?? '', /html/);
    }
  });

  it('runs the seeded demo through it', () => {
    const demo = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, LABLOOP_DATA_DIR: dataDir },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(demo.status, 0, demo.stdout + demo.stderr);
    assert.match(demo.stdout, /normal-signed\.hl7 over HTTPS → HTTP 202, ACK AA/);
    assert.match(demo.stdout, /abnormal-unsigned\.hl7 over MLLP → MSA\|AA\|DEMO-A-0001/);
    assert.match(demo.stdout, /critical-unsigned\.hl7 over HTTPS → HTTP 202, ACK AA/);
    const state = JSON.parse(readFileSync(path.join(dataDir, 'sandbox-running.json'), 'utf8')) as {
      urls: { api: string };
    };
    assert.equal(state.urls.api, url('API'));
  });

  it('stops cleanly on Ctrl-C', async () => {
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 0, output.slice(-2000));
    assert.match(output, /\[labloop\] stopped/);
  });
});
