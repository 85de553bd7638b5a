import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NativeConnection, Worker } from '@temporalio/worker';
import pg from 'pg';
import { createAthenaIngestActivities, type AthenaIngestGateway } from '../../activities/athena-ingest';
import { workflowIdForResult } from '../../lib/ingest/handoff';
import { createFeedCheckpointStore } from '../../lib/athena-feed';
import { createAuditLog } from '../../lib/audit';
import type { AthenaClient } from '../../lib/clients/athena';
import { ATHENA_RESULT_ID_ISSUER } from '../../lib/result-ref';
import { createDataConverter } from '../../lib/temporal/data-converter';
import { startAthenaFake, type AthenaFake } from '../../sandbox/fakes/athena';
import { ATHENA_FEED_POLL_WORKFLOW_TYPE, type AthenaFeedPollSummary } from '../../workflows/definitions';
import { installQuietRuntime, TEST_CODEC_KEYS, workflowBundle } from '../support/temporal';
import {
  ATHENA_CLIENT_ID,
  ATHENA_CLIENT_SECRET,
  athenaTestClient,
  ingestRows,
  isolatedPracticeRegistry,
  signalCount,
  startIngestHarness,
  workflowExists,
  type IngestHarness,
} from './ingest-harness';

/**
 * The poller crash test. The worker that runs the changed-feed poll (the poll workflow and its
 * activities) is a child process. It is killed with SIGKILL right after athena's destructive read
 * returned the batch and before anything was handed off (the worst moment: athena has marked the
 * records processed and will not list them again, and the batch exists only in the dead process).
 * A worker is then started again, as a restarted deployment would, and the poll that was running
 * finishes on it: Temporal retries the read once its heartbeat times out, the retry's refetch window
 * (`showprocessed*`, from the unmoved checkpoint) finds the record, and it is handed off exactly once.
 *
 * This file is also the child: run with LABLOOP_FEED_KILL_CHILD=1 it runs the poll worker, prints
 * `READY`, and after the destructive read prints `READ <labresultid>…` and hangs.
 */

const CHILD_FLAG = 'LABLOOP_FEED_KILL_CHILD';
/** The child needs a few seconds to start tsx, connect and load the bundle; 60 s means it is stuck. */
const CHILD_TIMEOUT_MS = 60_000;
/** A child the parent forgot must not outlive the test run. */
const CHILD_SELF_DESTRUCT_MS = 180_000;
/**
 * How long the interrupted poll may take to finish on the restarted worker: its read activity's
 * heartbeat timeout (90 s, workflows/athena-ingest.ts) plus the first retry interval (2 s), the
 * retry's reads and hand-off, and slack for a loaded machine.
 */
const RECOVERY_TIMEOUT_MS = 150_000;

/** The poll worker's activities, as the production worker builds them. */
function pollActivities(input: {
  pool: pg.Pool;
  athena: AthenaIngestGateway;
  practiceId: string;
  athenaPracticeId: string;
  idSecret: string;
  labResultTaskQueue: string;
}) {
  return createAthenaIngestActivities({
    pool: input.pool,
    audit: createAuditLog(input.pool),
    athena: input.athena,
    practices: isolatedPracticeRegistry(input.practiceId, input.athenaPracticeId),
    idSecret: input.idSecret,
    now: () => new Date(),
    labResultTaskQueue: input.labResultTaskQueue,
  });
}

async function runChild(): Promise<void> {
  setTimeout(() => process.exit(2), CHILD_SELF_DESTRUCT_MS).unref();
  installQuietRuntime();
  const env = process.env;
  const pool = new pg.Pool({ connectionString: env.KILL_CHILD_DATABASE_URL, max: 4 });
  const real = athenaTestClient(env.KILL_CHILD_ATHENA_URL ?? '');
  // The client as the activities see it, with one seam: once a destructive read (no
  // leaveunprocessed) has returned records, the process reports them and never goes on.
  const athena: AthenaIngestGateway = {
    getLabResult: (args) => real.getLabResult(args),
    getPatient: (args) => real.getPatient(args),
    async listChangedLabResults(args) {
      const page = await real.listChangedLabResults(args);
      if (args.leaveUnprocessed !== true && page.labResults.length > 0) {
        process.stdout.write(`READ ${page.labResults.map((r) => r.labresultid).join(',')}\n`);
        return new Promise<never>(() => undefined);
      }
      return page;
    },
  };
  const connection = await NativeConnection.connect({ address: env.KILL_CHILD_TEMPORAL_ADDRESS ?? '' });
  const worker = await Worker.create({
    connection,
    namespace: env.KILL_CHILD_TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.KILL_CHILD_POLL_TASK_QUEUE ?? '',
    activities: pollActivities({
      pool,
      athena,
      practiceId: env.KILL_CHILD_PRACTICE_ID ?? '',
      athenaPracticeId: env.KILL_CHILD_ATHENA_PRACTICE_ID ?? '',
      idSecret: env.KILL_CHILD_ID_SECRET ?? '',
      labResultTaskQueue: env.KILL_CHILD_LAB_TASK_QUEUE ?? '',
    }),
    dataConverter: createDataConverter(TEST_CODEC_KEYS),
    workflowBundle: { codePath: env.LABLOOP_WORKFLOW_BUNDLE ?? '' },
  });
  process.stdout.write('READY\n');
  await worker.run();
}

if (process.env[CHILD_FLAG] === '1') {
  runChild().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  void describe('athena changed feed: the poll worker killed between the destructive read and the hand-off', () => {
    let h: IngestHarness;
    let fake: AthenaFake;
    let athena: AthenaClient;
    let bundlePath: string;
    const athenaPracticeId = String(800_000 + Math.floor(Math.random() * 99_999));
    const practiceId = `kill-${randomBytes(3).toString('hex')}`;

    before(async () => {
      fake = await startAthenaFake({
        clientId: ATHENA_CLIENT_ID,
        clientSecret: ATHENA_CLIENT_SECRET,
        practiceIds: [athenaPracticeId],
      });
      athena = athenaTestClient(fake.url);
      h = await startIngestHarness({
        label: 'athena_ingest_kill',
        practices: isolatedPracticeRegistry(practiceId, athenaPracticeId),
      });
      await athena.subscribeLabResultChanges({ practiceId: athenaPracticeId });
      // The child loads the same workflow code as this process, prebuilt once.
      const bundle = await workflowBundle();
      bundlePath = path.join(mkdtempSync(path.join(tmpdir(), 'labloop-feed-kill-')), 'workflow-bundle.js');
      writeFileSync(bundlePath, bundle.code);
      writeFileSync(`${bundlePath}.map`, bundle.sourceMap);
    });
    after(async () => {
      await fake?.close();
      await h?.close();
    });

    /** The poll worker as a child process; resolves once it polls. */
    async function startChild(pollTaskQueue: string) {
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.NODE_TEST_CONTEXT; // the child is a plain script, not a test file
      const child = spawn(process.execPath, ['--import', 'tsx', __filename], {
        env: {
          ...env,
          [CHILD_FLAG]: '1',
          LABLOOP_CODEC_KEYS: TEST_CODEC_KEYS,
          LABLOOP_WORKFLOW_BUNDLE: bundlePath,
          KILL_CHILD_DATABASE_URL: h.db.url,
          KILL_CHILD_TEMPORAL_ADDRESS: h.temporal.address,
          KILL_CHILD_TEMPORAL_NAMESPACE: h.temporal.env.namespace ?? 'default',
          KILL_CHILD_POLL_TASK_QUEUE: pollTaskQueue,
          KILL_CHILD_LAB_TASK_QUEUE: h.taskQueue,
          KILL_CHILD_ID_SECRET: h.idSecret,
          KILL_CHILD_ATHENA_URL: fake.url,
          KILL_CHILD_PRACTICE_ID: practiceId,
          KILL_CHILD_ATHENA_PRACTICE_ID: athenaPracticeId,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = once(child, 'exit');
      const waitFor = async (pattern: RegExp, what: string): Promise<RegExpExecArray> => {
        const deadline = Date.now() + CHILD_TIMEOUT_MS;
        let gone = false;
        void exited.then(() => (gone = true));
        for (;;) {
          const match = pattern.exec(out);
          if (match !== null) return match;
          if (gone) throw new Error(`child exited before it ${what}:\n${stderr}`);
          if (Date.now() > deadline) throw new Error(`child never ${what}:\n${stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      await waitFor(/READY\n/, 'was ready');
      return {
        read: () => waitFor(/READ (\S+)\n/, 'made the destructive read'),
        async kill() {
          child.kill('SIGKILL');
          const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
          assert.equal(signal, 'SIGKILL', 'the child was killed, not finished');
        },
      };
    }

    const workflowIdOf = (labResultId: string) =>
      workflowIdForResult(h.idSecret, { practiceId, issuer: ATHENA_RESULT_ID_ISSUER, resultId: labResultId });

    void it('a restarted worker finishes the interrupted poll: the result is handed off exactly once', async () => {
      const pollTaskQueue = `${h.taskQueue}-feed`;
      const patientId = fake.control.addPatient({
        practiceId: athenaPracticeId,
        firstName: 'Odile',
        lastName: 'Fenwright',
        dob: '1968-02-19',
      }).patientId;
      const labResultId = fake.control.addLabResult({
        practiceId: athenaPracticeId,
        patientId,
        resultstatus: 'Final',
        description: 'Basic metabolic panel',
        analytes: [{ analytename: 'Sodium', value: '139', units: 'mmol/L', referencerange: '135-145' }],
      }).labResultId;
      const checkpoints = createFeedCheckpointStore(h.db.pool);
      const unprocessed = async () =>
        (await athena.listChangedLabResults({ practiceId: athenaPracticeId, leaveUnprocessed: true })).labResults.map(
          (r) => r.labresultid,
        );
      assert.deepEqual(await unprocessed(), [labResultId]);

      const child = await startChild(pollTaskQueue);
      const poll = await h.client.workflow.start(ATHENA_FEED_POLL_WORKFLOW_TYPE, {
        taskQueue: pollTaskQueue,
        workflowId: `athena-feed-poll-kill-${randomUUID()}`,
        args: [{ practiceId }],
      });
      const [, read] = await child.read();
      assert.equal(read, labResultId);
      await child.kill();

      // The worst moment, as the kill left it: athena will not list the record again, nothing reached
      // Temporal, nothing was recorded, and the checkpoint (from the poll's start) has not moved past it.
      assert.deepEqual(await unprocessed(), [], 'the destructive read marked the record processed');
      const workflowId = workflowIdOf(labResultId);
      assert.equal(await workflowExists(h.client, workflowId), false);
      assert.deepEqual(
        (await ingestRows(h)).filter((r) => r.source === 'athena'),
        [],
      );
      const checkpointAtKill = await checkpoints.get(practiceId);
      assert.ok(checkpointAtKill !== undefined, 'the first poll left its checkpoint before reading');

      // The restart: a worker with the real activities on the same task queue.
      const restarted = await Worker.create({
        connection: h.temporal.env.nativeConnection,
        namespace: h.temporal.env.namespace ?? 'default',
        taskQueue: pollTaskQueue,
        activities: pollActivities({
          pool: h.db.pool,
          athena,
          practiceId,
          athenaPracticeId,
          idSecret: h.idSecret,
          labResultTaskQueue: h.taskQueue,
        }),
        dataConverter: createDataConverter(TEST_CODEC_KEYS),
        workflowBundle: { codePath: bundlePath },
      });
      const running = restarted.run();
      try {
        let timer: NodeJS.Timeout | undefined;
        const summary = await Promise.race([
          poll.result() as Promise<AthenaFeedPollSummary>,
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error('the interrupted poll did not finish on the restarted worker')),
              RECOVERY_TIMEOUT_MS,
            );
          }),
        ]).finally(() => clearTimeout(timer));
        assert.equal(summary.handedOff, 1, JSON.stringify(summary));
        assert.equal(await workflowExists(h.client, workflowId), true);
        assert.equal(await signalCount(h.client, workflowId), 1);
        const moved = await checkpoints.get(practiceId);
        assert.ok(moved !== undefined && moved.getTime() > checkpointAtKill.getTime(), 'the checkpoint moved on');

        // The next poll re-reads the recent window and recognises what was delivered: still once.
        const next = (await h.client.workflow.execute(ATHENA_FEED_POLL_WORKFLOW_TYPE, {
          taskQueue: pollTaskQueue,
          workflowId: `athena-feed-poll-kill-${randomUUID()}`,
          args: [{ practiceId }],
        })) as AthenaFeedPollSummary;
        assert.equal(next.handedOff, 0);
        assert.equal(await signalCount(h.client, workflowId), 1, 'one workflow, one delivery');
        assert.deepEqual(
          (await ingestRows(h)).filter((r) => r.source === 'athena').map((r) => r.status),
          ['handed-off'],
        );
      } finally {
        restarted.shutdown();
        await running;
      }
    });
  });
}
