import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../sandbox/servers/free-port';
import { startDevServer, type DevServer } from '../../sandbox/servers/temporal-dev-server';
import { PROJECT_ROOT } from '../../lib/tools';
import { LAB_RESULT_WORKFLOW_TYPE, SEARCH_ATTRIBUTES, TASK_QUEUE } from '../../workflows/definitions';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { installQuietRuntime, TEST_CODEC_KEYS, testDataConverter } from '../support/temporal';
import { eventually } from '../support/stack';
import { normalResult, testPolicy } from '../workflows/support/fixtures';

/**
 * The production worker entry (worker/main.ts) as its own process, on a Temporal dev server of
 * this file's own (it polls the production task queue) and a fresh database: its port answers
 * `/livez` and `/readyz` (connected and polling), and SIGTERM drains it within its deadline.
 *
 * An activity is held in flight by a table lock: the result workflow's first activity reads the
 * outbox, and this test holds `outbox` in ACCESS EXCLUSIVE mode, so the activity waits on
 * PostgreSQL for as long as the test wants.
 */

/** WORKER_SHUTDOWN_GRACE_SECONDS for these processes: short, so the overrun case is quick. */
const GRACE_S = 2;
/** worker/ops.ts: the SDK gives up 5 s after the grace time, the process exits 5 s after that. */
const EXIT_DEADLINE_MS = (GRACE_S + 5 + 5) * 1000;
/** Starting includes bundling the workflows when the runner did not prebuild them. */
const START_TIMEOUT_MS = 180_000;

interface RunningWorker {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; at: number }>;
}

describe('the worker process: health port and graceful SIGTERM', () => {
  let db: TestDatabase;
  let server: DevServer;
  let client: Client;
  const workers: RunningWorker[] = [];

  before(async () => {
    installQuietRuntime();
    db = await createTestDatabase('worker_shutdown');
    server = await startDevServer({ headless: true, searchAttributes: SEARCH_ATTRIBUTES });
    client = new Client({
      connection: await Connection.connect({ address: server.address }),
      dataConverter: testDataConverter(),
    });
  });
  after(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await client?.connection.close();
    await server?.stop();
    await db?.close();
  });

  /** What worker/main.ts and api/server.ts need to start (vendors point nowhere: nothing is sent). */
  function processEnv(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: server.namespace,
      LABLOOP_CODEC_KEYS: TEST_CODEC_KEYS,
      LABLOOP_ID_SECRET: randomBytes(32).toString('hex'),
      PUBLIC_BASE_URL: 'http://127.0.0.1:9',
      // `sandbox` is the token name config/senders.sandbox.json (the default sender registry) gives its HL7 sender.
      LABLOOP_API_TOKENS: `sandbox:${randomBytes(32).toString('hex')}`,
      TWILIO_ACCOUNT_SID: `AC${randomBytes(16).toString('hex')}`,
      TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
      TWILIO_MESSAGING_SERVICE_SID: `MG${randomBytes(16).toString('hex')}`,
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9',
      SPRUCE_API_TOKEN: randomBytes(12).toString('hex'),
      SPRUCE_API_BASE_URL: 'http://127.0.0.1:9',
      SPRUCE_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
      ATHENA_BASE_URL: 'http://127.0.0.1:9',
      ATHENA_CLIENT_ID: 'shutdown-test',
      ATHENA_CLIENT_SECRET: randomBytes(12).toString('hex'),
      ATHENA_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
      ...(process.env.LABLOOP_WORKFLOW_BUNDLE ? { LABLOOP_WORKFLOW_BUNDLE: process.env.LABLOOP_WORKFLOW_BUNDLE } : {}),
    };
  }

  async function startWorker(): Promise<RunningWorker> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...processEnv(),
      WORKER_HTTP_PORT: String(port),
      WORKER_TEMPORAL_METRICS_PORT: String(await freePort()),
      WORKER_SHUTDOWN_GRACE_SECONDS: String(GRACE_S),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { cwd: PROJECT_ROOT, env });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
      child.once('exit', (code) => resolve({ code, at: Date.now() })),
    );
    const running = { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
    workers.push(running);
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`the worker exited (${child.exitCode}): ${output}`);
        const response = await fetch(`${running.url}/readyz`);
        return response.status === 200 ? true : undefined;
      },
      START_TIMEOUT_MS,
      () => `the worker ready: ${output.slice(-2000)}`,
    );
    return running;
  }

  /** Hold the outbox table (and with it the workflow's first activity) until release(). */
  async function lockOutbox(): Promise<{ release: () => Promise<void> }> {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE');
    return {
      async release() {
        await holder.query('ROLLBACK');
        await holder.end();
      },
    };
  }

  /** Start a result workflow and wait until its first activity waits on the lock. */
  async function activityInFlight(): Promise<void> {
    const workflowId = `lab-result-195900-${randomBytes(10).toString('hex')}`;
    await client.workflow.start(LAB_RESULT_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: TASK_QUEUE,
      args: [{ result: normalResult(), receivedAt: new Date().toISOString(), policy: testPolicy() }],
    });
    await eventually(
      async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'labloop-worker' AND wait_event_type = 'Lock'`,
        );
        return (rows[0]?.n ?? 0) > 0 ? true : undefined;
      },
      60_000,
      'an activity of the worker waiting on the outbox lock',
    );
  }

  it('is live and ready (connected and polling), and serves /metrics on loopback', async () => {
    const worker = await startWorker();
    const live = await fetch(`${worker.url}/livez`);
    assert.equal(live.status, 200);
    const ready = (await (await fetch(`${worker.url}/readyz`)).json()) as { checks: Record<string, string> };
    assert.deepEqual(ready.checks, { temporal: 'ok', polling: 'ok', shutdown: 'no' });
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    assert.match(metrics, /^labloop_temporal_runtime_metrics_up 1$/m, 'the SDK exporter is proxied');
    assert.match(metrics, /^temporal_/m);
    assert.equal((await fetch(`${worker.url}/nothing-here`)).status, 404);
    worker.child.kill('SIGTERM');
    const { code } = await worker.exited;
    assert.equal(code, 0, worker.output());
  });

  it('SIGTERM: readiness flips at once, the in-flight activity finishes, and the process exits 0', async () => {
    const worker = await startWorker();
    const lock = await lockOutbox();
    let released = false;
    try {
      await activityInFlight();
      const signalledAt = Date.now();
      worker.child.kill('SIGTERM');
      const draining = await eventually(
        async () => {
          const response = await fetch(`${worker.url}/readyz`);
          const body = (await response.json()) as { checks: Record<string, string> };
          return response.status === 503 ? body : undefined;
        },
        5_000,
        'readiness 503 after SIGTERM',
      );
      assert.equal(draining.checks.shutdown, 'started');
      assert.equal(worker.child.exitCode, null, 'still draining while the activity runs');
      await lock.release();
      released = true;
      const { code, at } = await worker.exited;
      assert.equal(code, 0, worker.output());
      assert.ok(at - signalledAt < EXIT_DEADLINE_MS, `exited ${at - signalledAt} ms after SIGTERM`);
      assert.match(worker.output(), /shutdown requested/);
      assert.match(worker.output(), /workers drained and stopped/);
    } finally {
      if (!released) await lock.release();
    }
  });

  it('SIGTERM with an activity that never finishes: the process still exits within its deadline', async () => {
    const worker = await startWorker();
    const lock = await lockOutbox();
    try {
      await activityInFlight();
      const signalledAt = Date.now();
      worker.child.kill('SIGTERM');
      const { code, at } = await worker.exited;
      assert.notEqual(code, 0, 'an abandoned activity is not a clean exit');
      const took = at - signalledAt;
      assert.ok(took >= GRACE_S * 1000, `it waited the grace time first (${took} ms)`);
      // The deadline timer fires at EXIT_DEADLINE_MS; a loaded machine may run it a little late.
      assert.ok(took < EXIT_DEADLINE_MS + 5_000, `exited ${took} ms after SIGTERM`);
    } finally {
      await lock.release();
    }
  });

  it('the API process: SIGTERM lets it stop accepting and exit 0, well inside its deadline', async () => {
    const port = await freePort();
    const env = { ...processEnv(), API_PORT: String(port), MLLP_PORT: String(await freePort()) };
    const child = spawn(process.execPath, ['--import', 'tsx', 'api/server.ts'], { cwd: PROJECT_ROOT, env });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
      child.once('exit', (code) => resolve({ code, at: Date.now() })),
    );
    workers.push({ child, url: `http://127.0.0.1:${port}`, output: () => output, exited });
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`the API exited (${child.exitCode}): ${output}`);
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined;
      },
      START_TIMEOUT_MS,
      () => `the API ready: ${output.slice(-2000)}`,
    );
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const { code, at } = await exited;
    assert.equal(code, 0, output);
    assert.ok(at - signalledAt < 20_000, `exited ${at - signalledAt} ms after SIGTERM`);
    assert.match(output, /shutdown requested/);
    assert.match(output, /API stopped/);
  });
});
