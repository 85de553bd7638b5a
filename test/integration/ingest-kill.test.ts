import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { buildApp } from '../../api/app';
import { resultIdentity, workflowIdForResult } from '../../lib/ingest/handoff';
import { parseHl7ForPractice } from '../../api/ingest/hl7-ingest';
import { sendMllp } from '../../api/mllp/client';
import { startMllpServer } from '../../api/mllp/server';
import { identifyMllpSender } from '../../api/mllp/sender-identity';
import { testSenders } from '../support/senders';
import { createLogger } from '../../lib/logger';
import { loadPracticeRegistry } from '../../lib/practices';
import { createDataConverter } from '../../lib/temporal/data-converter';
import { getStatusQuery, LAB_RESULT_WORKFLOW_TYPE } from '../../workflows/definitions';
import { TEST_CODEC_KEYS } from '../support/temporal';
import {
  API_TOKEN,
  AUTH,
  fhirFixture,
  hl7Fixture,
  ingestRows,
  PRACTICE_ID,
  signalCount,
  startIngestHarness,
  type IngestHarness,
} from './ingest-harness';

/**
 * The API crash test. The real API (buildApp, real PostgreSQL, real Temporal client) runs in a child
 * process; it is killed with SIGKILL after the hand-off's signal-with-start reached Temporal and
 * before the `handed-off` bookkeeping (the worst moment: the result is with its workflow, the sender
 * has no ACK, our table says "received"). The sender then resends, as it must without an ACK, to a
 * fresh API: over HTTPS and MLLP for HL7, and FHIR. Each time: one workflow, one applied version,
 * and the resend is acknowledged (AA / 202).
 *
 * This file is also the child: run with LABLOOP_INGEST_KILL_CHILD=1 it serves the API and MLLP,
 * prints `READY <api url> <mllp port>`, and at the bookkeeping prints `SIGNALLED` and hangs.
 */

const CHILD_FLAG = 'LABLOOP_INGEST_KILL_CHILD';
/** The child needs a few seconds to start tsx and connect; 60 s means it is stuck. */
const CHILD_TIMEOUT_MS = 60_000;
/** A child the parent forgot must not outlive the test run. */
const CHILD_SELF_DESTRUCT_MS = 120_000;
const HANDED_OFF_UPDATE = /^\s*UPDATE ingest_message SET status = 'handed-off'/;

async function runChild(): Promise<void> {
  setTimeout(() => process.exit(2), CHILD_SELF_DESTRUCT_MS).unref();
  const env = process.env;
  const real = new pg.Pool({ connectionString: env.KILL_CHILD_DATABASE_URL, max: 4 });
  // The pool as the API sees it, with one seam: the bookkeeping after the hand-off never completes.
  const pool = new Proxy(real, {
    get(target, property) {
      if (property === 'query') {
        return (...args: unknown[]) => {
          if (typeof args[0] === 'string' && HANDED_OFF_UPDATE.test(args[0])) {
            process.stdout.write('SIGNALLED\n');
            return new Promise<never>(() => undefined);
          }
          return (target.query as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const connection = await Connection.connect({ address: env.KILL_CHILD_TEMPORAL_ADDRESS ?? '' });
  const temporal = new Client({
    connection,
    namespace: env.KILL_CHILD_TEMPORAL_NAMESPACE ?? 'default',
    dataConverter: createDataConverter(TEST_CODEC_KEYS),
  });
  const practices = loadPracticeRegistry('config/practices.sandbox.json');
  const senders = testSenders(practices, ['ingest-test']);
  const { app, ingestHl7 } = await buildApp({
    pool,
    temporal,
    practices,
    senders,
    logger: createLogger('silent', 'ingest-kill-child'),
    taskQueue: env.KILL_CHILD_TASK_QUEUE ?? '',
    idSecret: env.KILL_CHILD_ID_SECRET ?? '',
    publicBaseUrl: 'http://127.0.0.1:3000',
    apiTokens: new Map([[API_TOKEN, 'ingest-test']]),
    twilioAuthToken: 'twilio-test-auth-token-0000',
    now: () => new Date(),
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const mllp = await startMllpServer({
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: 1024 * 1024,
    idleTimeoutMs: CHILD_SELF_DESTRUCT_MS,
    identify: (peer) => identifyMllpSender(senders, peer),
    onMessage: async (text, from) => (await ingestHl7(text, from)).ack,
  });
  process.stdout.write(`READY ${url} ${mllp.port}\n`);
}

interface Child {
  apiUrl: string;
  mllpPort: number;
  /** Resolves once the child reached the bookkeeping; the caller's request is then in flight. */
  signalled: Promise<void>;
  kill(): Promise<void>;
}

function startChild(h: IngestHarness): Promise<Child> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // the child is a plain script, not a test file
  const child = spawn(process.execPath, ['--import', 'tsx', __filename], {
    env: {
      ...env,
      [CHILD_FLAG]: '1',
      LABLOOP_CODEC_KEYS: TEST_CODEC_KEYS,
      KILL_CHILD_DATABASE_URL: h.db.url,
      KILL_CHILD_TEMPORAL_ADDRESS: h.temporal.address,
      KILL_CHILD_TEMPORAL_NAMESPACE: h.temporal.env.namespace ?? 'default',
      KILL_CHILD_TASK_QUEUE: h.taskQueue,
      KILL_CHILD_ID_SECRET: h.idSecret,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  const waitFor = (pattern: RegExp, what: string) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child never ${what}:\n${stderr}`)), CHILD_TIMEOUT_MS);
      const check = () => {
        const match = pattern.exec(out);
        if (match !== null) {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          resolve(match);
        }
      };
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        check();
      };
      child.stdout.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`child exited before it ${what}:\n${stderr}`));
      });
      check();
    });
  return waitFor(/READY (\S+) (\d+)\n/, 'was ready').then((ready) => ({
    apiUrl: ready[1] ?? '',
    mllpPort: Number(ready[2]),
    signalled: waitFor(/SIGNALLED\n/, 'reached the bookkeeping').then(() => undefined),
    async kill() {
      child.kill('SIGKILL');
      const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
      assert.equal(signal, 'SIGKILL', 'the child was killed, not finished');
    },
  }));
}

if (process.env[CHILD_FLAG] === '1') {
  runChild().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  void describe('ingest: the API killed between the hand-off and its bookkeeping', () => {
    let h: IngestHarness;
    before(async () => {
      h = await startIngestHarness({ label: 'ingest_kill' });
    });
    after(async () => {
      await h?.close();
    });

    const tag = () => randomBytes(4).toString('hex').toUpperCase();

    /** Sends with `send` to a child, kills it once the signal is in, and returns what the sender saw. */
    async function sendAndKill(send: (child: Child) => Promise<unknown>): Promise<unknown> {
      const child = await startChild(h);
      let answered: unknown;
      const sending = send(child).then(
        (value) => (answered = value),
        (err: unknown) => (answered = err),
      );
      await child.signalled;
      await child.kill();
      await sending;
      return answered;
    }

    /** The state the kill must leave: the workflow has the result, our table still says "received". */
    async function assertKilledMidway(workflowId: string, messageId: string | RegExp): Promise<void> {
      assert.equal(await signalCount(h.client, workflowId), 1, 'the signal-with-start reached Temporal');
      const rows = (await ingestRows(h)).filter((r) =>
        typeof messageId === 'string' ? r.message_id === messageId : messageId.test(r.message_id),
      );
      assert.deepEqual(
        rows.map((r) => r.status),
        ['received'],
        'the bookkeeping never ran',
      );
    }

    /** After the resend: one workflow for the result, one version applied, the row handed off. */
    async function assertOnce(workflowId: string, messageId: string | RegExp): Promise<void> {
      const view = await h.client.workflow.getHandle(workflowId).query(getStatusQuery);
      assert.equal(view.version, 1, 'the resend was not applied as a second version');
      const query = `TaskQueue = "${h.taskQueue}" AND WorkflowType = "${LAB_RESULT_WORKFLOW_TYPE}" AND WorkflowId = "${workflowId}"`;
      assert.equal((await h.client.workflow.count(query)).count, 1, 'one workflow');
      const rows = (await ingestRows(h)).filter((r) =>
        typeof messageId === 'string' ? r.message_id === messageId : messageId.test(r.message_id),
      );
      assert.deepEqual(
        rows.map((r) => r.status),
        ['handed-off'],
      );
    }

    const hl7WorkflowId = (message: string): string => {
      const parsed = parseHl7ForPractice(message, h.practices);
      assert.ok(parsed.ok);
      const [result] = parsed.results;
      assert.ok(result !== undefined);
      return workflowIdForResult(h.idSecret, resultIdentity(result));
    };

    void it('HL7 over HTTPS: the resend gets AA (202), one workflow, one version', async () => {
      const t = tag();
      const controlId = `KILL-H-${t}`;
      const message = hl7Fixture('cbc-normal-final', { controlId, tag: t });
      const seen = await sendAndKill((child) =>
        fetch(`${child.apiUrl}/v1/hl7`, {
          method: 'POST',
          headers: { ...AUTH, 'content-type': 'application/hl7-v2' },
          body: message,
        }),
      );
      assert.ok(seen instanceof Error, 'the sender got no answer from the killed API');
      const workflowId = hl7WorkflowId(message);
      await assertKilledMidway(workflowId, controlId);

      const resend = await h.built.app.inject({
        method: 'POST',
        url: '/v1/hl7',
        headers: { ...AUTH, 'content-type': 'application/hl7-v2', accept: 'application/json' },
        payload: message,
      });
      assert.equal(resend.statusCode, 202, resend.body);
      const ack = resend.json<{ ack: string; results: { workflowId: string }[] }>();
      assert.equal(ack.ack, 'AA');
      assert.deepEqual(
        ack.results.map((r) => r.workflowId),
        [workflowId],
      );
      await assertOnce(workflowId, controlId);
    });

    void it('HL7 over MLLP: the resend gets AA, one workflow, one version', async () => {
      const t = tag();
      const controlId = `KILL-M-${t}`;
      const message = hl7Fixture('critical-potassium-hh', { controlId, tag: t });
      const seen = await sendAndKill((child) =>
        sendMllp({ host: '127.0.0.1', port: child.mllpPort, message, timeoutMs: CHILD_TIMEOUT_MS }),
      );
      assert.ok(seen instanceof Error, 'the sender got no ACK from the killed API');
      const workflowId = hl7WorkflowId(message);
      await assertKilledMidway(workflowId, controlId);

      const mllp = await startMllpServer({
        host: '127.0.0.1',
        port: 0,
        maxFrameBytes: 1024 * 1024,
        idleTimeoutMs: 10_000,
        identify: (peer) => identifyMllpSender(h.senders, peer),
        onMessage: async (text, from) => (await h.built.ingestHl7(text, from)).ack,
      });
      try {
        const ack = await sendMllp({ host: '127.0.0.1', port: mllp.port, message, timeoutMs: 10_000 });
        assert.match(ack, new RegExp(`\\rMSA\\|AA\\|${controlId}`));
      } finally {
        await mllp.close();
      }
      await assertOnce(workflowId, controlId);
    });

    void it('FHIR: the resend gets 202, one workflow, one version', async () => {
      const t = tag();
      const body = JSON.stringify(fhirFixture('diagnostic-report-contained')).replace(/FIL-/g, `FIL-${t}-`);
      const seen = await sendAndKill((child) =>
        fetch(`${child.apiUrl}/v1/fhir?practice=${PRACTICE_ID}`, {
          method: 'POST',
          headers: { ...AUTH, 'content-type': 'application/fhir+json' },
          body,
        }),
      );
      assert.ok(seen instanceof Error, 'the client got no answer from the killed API');
      const workflowId = workflowIdForResult(h.idSecret, {
        practiceId: PRACTICE_ID,
        issuer: 'urn:oid:2.16.840.1.113883.3.9999.2',
        resultId: `FIL-${t}-88001`,
      });
      const rows = (await ingestRows(h)).filter((r) => r.workflow_ids.includes(workflowId));
      const messageId = rows[0]?.message_id ?? '';
      assert.match(messageId, /^sha256:/);
      await assertKilledMidway(workflowId, messageId);

      const resend = await h.built.app.inject({
        method: 'POST',
        url: `/v1/fhir?practice=${PRACTICE_ID}`,
        headers: { ...AUTH, 'content-type': 'application/fhir+json' },
        payload: body,
      });
      assert.equal(resend.statusCode, 202, resend.body);
      assert.deepEqual(
        resend.json<{ results: { workflowId: string }[] }>().results.map((r) => r.workflowId),
        [workflowId],
      );
      await assertOnce(workflowId, messageId);
    });
  });
}
