/**
 * Shared set-up for the ingest end-to-end tests (test/integration/{ingest,fhir-route,mllp-api,
 * athena-ingest}-*.test.ts): a real Temporal dev server, a real worker running the real workflows
 * on a task queue of its own, a fresh PostgreSQL database, and the API built with `buildApp`.
 * The lab-result workflow's own activities are recording fakes: these tests assert starts and
 * signals (what ingestion is responsible for), read from Temporal itself.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createActivities, type Activities, type ActivityDeps } from '../../activities';
import { createAthenaIngestActivities } from '../../activities/athena-ingest';
import type { AthenaIngestActivities } from '../../domain/athena-ingest-contract';
import { createAuditLog } from '../../lib/audit';
import { buildApp, type BuiltApp } from '../../api/app';
import type { ApiDeps } from '../../api/deps';
import { freePort } from '../../sandbox/servers/free-port';
import { createLogger } from '../../lib/logger';
import { createAthenaClient, type AthenaClient } from '../../lib/clients/athena';
import { loadPracticeRegistry, parsePracticeRegistry, type PracticeRegistry } from '../../lib/practices';
import { createDataConverter } from '../../lib/temporal/data-converter';
import { createLabloopWorker } from '../../worker/create-worker';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createDevServerEnv, TEST_CODEC_KEYS, workflowBundle, type DevServerEnv } from '../support/temporal';
import { testSenders } from '../support/senders';
import type { SenderRegistry } from '../../lib/senders';

export const PRACTICE_ID = '195900';
export const API_TOKEN = 'ingest-test-token-0123456789abcdef4e7a';
/** The name of API_TOKEN in the harness's LABLOOP_API_TOKENS, and so its sender's token name. */
export const API_TOKEN_NAME = 'ingest-test';
export const AUTH = { authorization: `Bearer ${API_TOKEN}` };

export interface RecordedCall {
  name: string;
  args: unknown[];
}

/**
 * The lab-result workflow's activities as the worker builds them (`createActivities`, on the test
 * database), except that nothing reaches a patient or staff member: the outward channels are
 * recorders, consent is absent and the patient has no Spruce account. Built from the real factory
 * so activities the workflow adds later are present without this file knowing them.
 */
export function labResultActivities(
  calls: RecordedCall[],
  deps: { pool: Pool; practices: PracticeRegistry },
): Activities {
  const unavailable = <T extends object>(what: string): T =>
    new Proxy({} as T, {
      get: (_target, method) => () =>
        Promise.reject(new Error(`${what}.${String(method)} is not available in ingest tests`)),
    });
  const real = createActivities({
    pool: deps.pool,
    audit: createAuditLog(deps.pool),
    sms: unavailable<ActivityDeps['sms']>('sms'),
    smsStatusCallbackUrl: 'http://127.0.0.1:3000/webhooks/twilio/status',
    spruce: unavailable<ActivityDeps['spruce']>('spruce'),
    athena: unavailable<ActivityDeps['athena']>('athena'),
    practices: deps.practices,
    now: () => new Date(),
  });
  const record =
    <R>(name: string, answer: R) =>
    (...args: unknown[]): Promise<R> => {
      calls.push({ name, args });
      return Promise.resolve(answer);
    };
  return {
    ...real,
    lookupSpruceContact: record('lookupSpruceContact', { secure: false }),
    sendGenericSms: record('sendGenericSms', { providerMessageId: `SM${'0'.repeat(32)}`, alreadySent: false }),
    sendSpruceResult: record('sendSpruceResult', {
      conversationId: 'c-test',
      messageRef: 'm-test',
      alreadySent: false,
    }),
    pageStaff: record('pageStaff', { pageRef: 'page-test', alreadySent: false, pagedAt: new Date(0).toISOString() }),
    postPortalNote: record('postPortalNote', { published: true, alreadySent: false }),
    createCallTask: record('createCallTask', { taskId: 'task-test', alreadySent: false }),
  };
}

export interface IngestHarness {
  db: TestDatabase;
  temporal: DevServerEnv;
  client: Client;
  taskQueue: string;
  idSecret: string;
  practices: PracticeRegistry;
  senders: SenderRegistry;
  built: BuiltApp;
  calls: RecordedCall[];
  /** Builds another API on the same database, e.g. with a Temporal client that cannot connect. */
  buildApi(overrides?: ApiOverrides): Promise<BuiltApp>;
  close(): Promise<void>;
}

/** What a test may change in the API it builds on the harness. */
export type ApiOverrides = Partial<Pick<ApiDeps, 'temporal' | 'temporalDeadlineMs' | 'rateLimit' | 'apiTokens'>>;

export async function startIngestHarness(options: {
  label: string;
  /** Added to the worker's activities (the athena ingest activities, for instance). */
  extraActivities?: (h: Pick<IngestHarness, 'db' | 'client' | 'idSecret' | 'practices' | 'taskQueue'>) => object;
  athenaWebhookSecret?: string;
  /** Default: config/practices.sandbox.json. */
  practices?: PracticeRegistry;
  /** Default: test/support/senders.ts's registry (API_TOKEN may send anything for any practice). */
  senders?: (practices: PracticeRegistry) => SenderRegistry;
}): Promise<IngestHarness> {
  const db = await createTestDatabase(options.label);
  let temporal: DevServerEnv | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  const built: BuiltApp[] = [];
  try {
    temporal = await createDevServerEnv();
    const client = temporal.env.client;
    const taskQueue = `${options.label}-${randomUUID()}`;
    const idSecret = randomBytes(24).toString('hex');
    const practices = options.practices ?? loadPracticeRegistry('config/practices.sandbox.json');
    const senders = options.senders?.(practices) ?? testSenders(practices, [API_TOKEN_NAME]);
    const calls: RecordedCall[] = [];
    const base = { db, client, idSecret, practices, taskQueue };
    worker = await createLabloopWorker({
      connection: temporal.env.nativeConnection,
      namespace: temporal.env.namespace ?? 'default',
      codecKeys: TEST_CODEC_KEYS,
      activities: {
        ...labResultActivities(calls, { pool: db.pool, practices }),
        ...(options.extraActivities?.(base) ?? {}),
      },
      taskQueue,
      workflowBundle: await workflowBundle(),
    });
    running = worker.run();
    const logger = createLogger('silent', options.label);
    const buildApi = async (overrides: ApiOverrides = {}) => {
      const app = await buildApp({
        pool: db.pool,
        temporal: overrides.temporal ?? client,
        practices,
        logger,
        taskQueue,
        idSecret,
        publicBaseUrl: 'http://127.0.0.1:3000',
        apiTokens: overrides.apiTokens ?? new Map([[API_TOKEN, API_TOKEN_NAME]]),
        senders,
        twilioAuthToken: 'twilio-test-auth-token-0000',
        now: () => new Date(),
        athenaWebhookSecret: options.athenaWebhookSecret,
        ...(overrides.temporalDeadlineMs !== undefined ? { temporalDeadlineMs: overrides.temporalDeadlineMs } : {}),
        ...(overrides.rateLimit !== undefined ? { rateLimit: overrides.rateLimit } : {}),
      });
      built.push(app);
      return app;
    };
    const first = await buildApi();
    const started = { temporal, worker, running };
    return {
      ...base,
      senders,
      temporal,
      built: first,
      calls,
      buildApi,
      async close() {
        for (const app of built) await app.app.close();
        started.worker.shutdown();
        await started.running;
        await started.temporal.teardown();
        await db.close();
      },
    };
  } catch (err) {
    for (const app of built) await app.app.close();
    if (worker !== undefined && running !== undefined) {
      worker.shutdown();
      await running.catch(() => undefined);
    }
    await temporal?.teardown();
    await db.close();
    throw err;
  }
}

/**
 * A Temporal client whose server is gone: every call fails once its deadline passes. Lazy, so
 * building it does not fail; the port was free a moment ago and nothing listens on it.
 */
export async function unreachableTemporalClient(): Promise<Client> {
  const port = await freePort();
  const connection = Connection.lazy({ address: `127.0.0.1:${port}`, connectTimeout: 500 });
  return new Client({ connection, dataConverter: createDataConverter(TEST_CODEC_KEYS) });
}

export async function workflowExists(client: Client, workflowId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * How many signals the workflow has received (signal-with-start counts as one). Signals that arrive
 * while a workflow task runs enter the history only when it completes, so this waits until no
 * workflow task is pending (a running workflow, otherwise it counts at once).
 */
export async function signalCount(client: Client, workflowId: string): Promise<number> {
  const handle = client.workflow.getHandle(workflowId);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const description = await handle.describe();
    const pending = description.raw.pendingWorkflowTask;
    if (description.status.name !== 'RUNNING' || pending == null || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes != null).length;
}

/** Every workflow on the task queue, from Temporal's visibility store (IDs only). */
export async function workflowIdsOnQueue(client: Client, taskQueue: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const execution of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` }))
    ids.push(execution.workflowId);
  return ids.sort();
}

/** Polls `check` every 100 ms until it returns a value that is not undefined, or fails naming `what`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface IngestRow {
  source: string;
  message_id: string;
  status: string;
  workflow_ids: string[];
}

export async function ingestRows(h: Pick<IngestHarness, 'db'>): Promise<IngestRow[]> {
  const { rows } = await h.db.pool.query<IngestRow>(
    'SELECT source, message_id, status, workflow_ids FROM ingest_message ORDER BY id',
  );
  return rows;
}

const FIXTURES = path.resolve(__dirname, '../fixtures');

/**
 * An HL7 fixture made unique to one test: MSH-4 set to a facility of the sandbox practice (or the
 * one given), MSH-10 to `controlId`, and every filler order number tagged so results do not collide.
 */
export function hl7Fixture(name: string, options: { controlId: string; facility?: string; tag: string }): string {
  const text = readFileSync(path.join(FIXTURES, 'hl7', `${name}.hl7`), 'utf8');
  return text
    .split(/(\r\n|\r|\n)/)
    .map((line) => {
      if (!line.startsWith('MSH')) return line;
      const fields = line.split('|');
      if (fields.length > 3) fields[3] = options.facility ?? 'RIVERSIDE';
      if (fields.length > 9) fields[9] = options.controlId;
      return fields.join('|');
    })
    .join('')
    .replace(/FIL-/g, `FIL-${options.tag}-`);
}

export function fhirFixture(name: string): unknown {
  return JSON.parse(readFileSync(path.join(FIXTURES, 'fhir', `${name}.json`), 'utf8')) as unknown;
}

export const ATHENA_CLIENT_ID = 'labloop-ingest-test-client';
export const ATHENA_CLIENT_SECRET = 'labloop-ingest-test-secret';
export const ATHENA_WEBHOOK_SECRET = 'athena-ingest-test-webhook-secret';

/** A real athena client for the local fake, with test-sized retry pauses and no pacing. */
/**
 * The real athena ingest activities on a harness's database, practices and lab-result task queue,
 * reading athena through `athena`. By default they signal-with-start through the worker's own client
 * (as in production); `temporal` hands them a client for a call made outside a worker, and `pool`
 * replaces the harness's pool (a deliberately small one, say).
 */
export function athenaIngestActivitiesFor(
  h: Pick<IngestHarness, 'db' | 'practices' | 'idSecret' | 'taskQueue'>,
  athena: AthenaClient,
  options: { pool?: Pool; temporal?: () => Client } = {},
): AthenaIngestActivities {
  return createAthenaIngestActivities({
    pool: options.pool ?? h.db.pool,
    audit: createAuditLog(options.pool ?? h.db.pool),
    athena,
    practices: h.practices,
    idSecret: h.idSecret,
    now: () => new Date(),
    ...(options.temporal !== undefined ? { temporal: options.temporal } : {}),
    labResultTaskQueue: h.taskQueue,
  });
}

export function athenaTestClient(baseUrl: string): AthenaClient {
  return createAthenaClient({
    baseUrl,
    clientId: ATHENA_CLIENT_ID,
    clientSecret: ATHENA_CLIENT_SECRET,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    requestsPerSecond: 1000,
    timeoutMs: 5_000,
  });
}

/**
 * The sandbox practice under another labloop ID and athena practice ID, so a test's schedule and
 * athena feed cannot meet another test's (or the sandbox's) on a shared Temporal server.
 */
export function isolatedPracticeRegistry(practiceId: string, athenaPracticeId: string): PracticeRegistry {
  const sandbox = JSON.parse(readFileSync(path.resolve(__dirname, '../../config/practices.sandbox.json'), 'utf8')) as {
    practices: { policy: Record<string, unknown>; routing: Record<string, unknown> }[];
  };
  const entry = sandbox.practices[0];
  if (entry === undefined) throw new Error('the sandbox practice registry is empty');
  return parsePracticeRegistry({
    practices: [
      {
        policy: { ...entry.policy, practiceId },
        routing: { hl7SendingFacilities: [], athenaPracticeId },
      },
    ],
  });
}
