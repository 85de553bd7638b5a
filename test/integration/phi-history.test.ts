import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Connection } from '@temporalio/client';
import { METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { LabloopActivities } from '../../domain/activity-contract';
import { createHandoff } from '../../lib/ingest/handoff';
import type { LabResult } from '../../domain/lab-result';
import { loadPracticeRegistry } from '../../lib/practices';
import { ENCRYPTED_ENCODING, EncryptionCodec, parseCodecKeys } from '../../lib/temporal/encryption-codec';
import { createLabloopWorker } from '../../worker/create-worker';
import {
  annotateUpdate,
  deliveryStatusSignal,
  getResultDetailQuery,
  LAB_RESULT_WORKFLOW_ID_PATTERN,
  signOffUpdate,
  smsTaskQueueFor,
} from '../../workflows/definitions';
import { createTestDatabase, type TestDatabase } from '../support/database';
import {
  createDevServerEnv,
  TEST_CODEC_KEYS,
  testDataConverter,
  workflowBundle,
  type DevServerEnv,
} from '../support/temporal';
import { FakeWorld, permanent } from '../workflows/support/fake-world';

/**
 * What the Temporal server stores must carry no PHI. Real workflows run on a real dev server with
 * results full of distinctive PHI, are signalled, updated and queried, and one of them fails with
 * PHI in the error message. Then everything the server holds is read back with a connection that
 * has no codec (raw gRPC): each history, the workflow descriptions (search attributes, memo), the
 * visibility listing and a raw query answer. Every byte is searched, as proto JSON, as binary, as
 * UTF-8 and base64-decoded, for every PHI string. As a control, the same histories decoded with
 * the codec must contain the PHI, so the search is known to be able to find it.
 */

const run = randomBytes(4).toString('hex');
const PRACTICE = '195900';

const OTTOLINE: LabResult = {
  source: 'hl7',
  practiceId: PRACTICE,
  resultId: `ACC-PHI-${run}`,
  messageId: `MSG-PHI-${run}-1`,
  status: 'final',
  rawStatus: 'F',
  panelName: 'Comprehensive metabolic panel',
  panelCode: '24323-8',
  patient: {
    id: 'MRN-Q7781',
    firstName: 'Ottoline',
    lastName: 'Quillfeather',
    birthDate: '1957-08-19',
    mobilePhone: '+16175550187',
    postalCode: '02143',
    language: 'en',
  },
  orderingProvider: { id: 'prov-1', name: 'Dr. Avery Chen' },
  observations: [
    { code: '2823-3', name: 'Potassium', value: '4.873', units: 'mmol/L', referenceRange: '3.5-5.1', flag: 'N' },
    { code: '2345-7', name: 'Glucose', value: '98.37', units: 'mg/dL', referenceRange: '70-99', flag: 'N' },
  ],
  comments: ['Patient reports fasting since Tuesday evening'],
};
const NOTE_TO_PATIENT = 'Ottoline, everything looks fine; keep eating bananas.';
const ANNOTATION = 'Called Ottoline Quillfeather about the marmalade diet';

const BARTHOLOMEW: LabResult = {
  ...OTTOLINE,
  resultId: `ACC-PHI-${run}-2`,
  messageId: `MSG-PHI-${run}-2`,
  patient: {
    id: 'MRN-OV5521',
    firstName: 'Bartholomew',
    lastName: 'Ostrander-Vance',
    birthDate: '1949-02-27',
    mobilePhone: '+17815550163',
  },
};
/** The failing activity quotes PHI in its message, as a careless error might. */
const FAILURE_MESSAGE = 'cannot reach Bartholomew Ostrander-Vance at +17815550163 (born 1949-02-27)';

/** Everything that must never be readable on the server, in the forms it could appear in. */
const PHI_STRINGS = [
  'Ottoline',
  'Quillfeather',
  'Bartholomew',
  'Ostrander',
  '1957-08-19',
  '19570819',
  '08/19/1957',
  '1949-02-27',
  '+16175550187',
  '6175550187',
  '617-555-0187',
  '+17815550163',
  '7815550163',
  'MRN-Q7781',
  'MRN-OV5521',
  'Potassium',
  'Glucose',
  'Comprehensive metabolic panel',
  '4.873',
  '4.912',
  '98.37',
  'fasting since Tuesday',
  'bananas',
  'marmalade',
  'Avery Chen',
];
/** What the inputs certainly put into history (the control: decoded, these must be found). */
const MUST_BE_IN_DECODED_HISTORY = [
  'Quillfeather',
  '1957-08-19',
  '+16175550187',
  'Potassium',
  '4.873',
  '4.912',
  'fasting since Tuesday',
  'bananas',
  'Ostrander-Vance',
];

/** A raw artifact read from the server, and where it came from (for failure messages). */
interface Artifact {
  label: string;
  message: object;
  encode: () => Uint8Array;
}

/** Every string and every byte string inside a protobuf message object. */
function* leaves(value: unknown, path = ''): Generator<{ path: string; value: string | Uint8Array }> {
  if (value === null || value === undefined) return;
  if (typeof value === 'string') yield { path, value };
  else if (value instanceof Uint8Array) yield { path, value };
  else if (Array.isArray(value)) for (const [i, item] of value.entries()) yield* leaves(item, `${path}[${i}]`);
  else if (typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) yield* leaves(item, path === '' ? key : `${path}.${key}`);
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]{8,}={0,2}$/;

/** Where a PHI string shows up in an artifact, in any of the forms searched; empty when nowhere. */
function findPhi(artifact: Artifact): string[] {
  const found: string[] = [];
  const check = (form: string, text: string) => {
    for (const phi of PHI_STRINGS) if (text.includes(phi)) found.push(`${artifact.label}: "${phi}" in ${form}`);
  };
  check('proto JSON', JSON.stringify(artifact.message));
  check('binary proto', Buffer.from(artifact.encode()).toString('latin1'));
  for (const leaf of leaves(artifact.message)) {
    if (typeof leaf.value === 'string') {
      check(`string ${leaf.path}`, leaf.value);
      if (BASE64.test(leaf.value))
        check(`base64 string ${leaf.path}`, Buffer.from(leaf.value, 'base64').toString('utf8'));
    } else {
      const bytes = Buffer.from(leaf.value);
      check(`bytes ${leaf.path} as UTF-8`, bytes.toString('utf8'));
      const asText = bytes.toString('latin1');
      if (BASE64.test(asText))
        check(`bytes ${leaf.path} base64-decoded`, Buffer.from(asText, 'base64').toString('utf8'));
    }
  }
  return found;
}

const isPayload = (value: unknown): value is Payload =>
  typeof value === 'object' && value !== null && 'metadata' in value && 'data' in value;

/**
 * Every payload inside a message (history events, describe answers) with its path, except search
 * attributes: the server must index those, so they are plain by design (and checked separately).
 */
function* payloads(value: unknown, path = ''): Generator<{ path: string; payload: Payload }> {
  if (value === null || value === undefined || typeof value !== 'object' || value instanceof Uint8Array) return;
  if (isPayload(value)) {
    yield { path, payload: value };
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key === 'searchAttributes') continue;
    yield* payloads(item, path === '' ? key : `${path}.${key}`);
  }
}

/**
 * Marker bookkeeping the SDK's core writes itself, outside the data converter: a local activity's
 * sequence number, attempt and timings, a patch ID (`patch-data`: a labloop-… ID from
 * workflows/patches.ts). No input reaches it (the local activity's result sits next to it in
 * `details.result`, encrypted), and the PHI search above covers it anyway.
 */
const SDK_MARKER_METADATA = /markerRecordedEventAttributes\.details\.(data|patch_data|patch-data|core_patch)\b/;

const encodingOf = (p: Payload) => Buffer.from(p.metadata?.[METADATA_ENCODING_KEY] ?? []).toString('utf8');

/** Every Failure inside a message (an event's failure, and each cause under it). */
function* failures(value: unknown): Generator<temporal.api.failure.v1.IFailure> {
  if (value === null || value === undefined || typeof value !== 'object' || value instanceof Uint8Array) return;
  for (const [key, item] of Object.entries(value)) {
    if ((key === 'failure' || key === 'cause') && item !== null && typeof item === 'object') {
      yield item as temporal.api.failure.v1.IFailure;
    }
    yield* failures(item);
  }
}

async function rawHistory(connection: Connection, namespace: string, workflowId: string) {
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await connection.workflowService.getWorkflowExecutionHistory({
      namespace,
      execution: { workflowId },
      nextPageToken,
    });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken !== undefined && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken !== undefined);
  return temporal.api.history.v1.History.create({ events });
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

describe('PHI in Temporal: the server holds none', () => {
  let server: DevServerEnv;
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let namespace: string;
  const artifacts: Artifact[] = [];
  const histories = new Map<string, temporal.api.history.v1.History>();
  let ottolineId: string;
  let bartholomewId: string;
  let detail: Awaited<ReturnType<typeof queryDetail>> | undefined;

  async function queryDetail(workflowId: string) {
    return env.client.workflow.getHandle(workflowId).query(getResultDetailQuery);
  }

  before(async () => {
    [server, db] = await Promise.all([createDevServerEnv(), createTestDatabase('phi_history')]);
    env = server.env;
    namespace = env.namespace ?? 'default';

    const world = new FakeWorld({ smsConsent: true, spruceSecure: true });
    const mentionsBartholomew = (input: unknown) => JSON.stringify(input ?? null).includes(BARTHOLOMEW.patient.id);
    for (const name of Object.keys(world.activities()) as (keyof LabloopActivities)[]) {
      world.faults[name] = ({ input }) => {
        if (mentionsBartholomew(input)) throw permanent('PhiTestFailure', FAILURE_MESSAGE);
      };
    }
    const taskQueue = `phi-history-${run}`;
    const activities = world.activities();
    const worker = await createLabloopWorker({
      connection: env.nativeConnection,
      namespace,
      codecKeys: TEST_CODEC_KEYS,
      activities,
      taskQueue,
      workflowBundle: await workflowBundle(),
    });
    const smsWorker = await Worker.create({
      connection: env.nativeConnection,
      namespace,
      taskQueue: smsTaskQueueFor(taskQueue),
      activities,
      dataConverter: testDataConverter(),
    });

    const handOff = createHandoff({
      pool: db.pool,
      temporal: env.client,
      practices: loadPracticeRegistry('config/practices.sandbox.json'),
      taskQueue,
      idSecret: 'phi-history-id-secret-0123456789',
      now: () => new Date(),
    });
    const ingest = async (result: LabResult) => {
      const outcome = await handOff({
        source: 'hl7',
        practiceId: PRACTICE,
        sender: 'PHI-HISTORY',
        authenticatedSender: { id: 'phi-history-test', channel: 'bearer-token' },
        messageId: result.messageId,
        content: `PID|1||${result.patient.id}||${result.patient.lastName}^${result.patient.firstName}`,
        results: [result],
      });
      assert.equal(outcome.kind, 'accepted');
      return outcome.kind === 'accepted' ? outcome.workflowIds[0] : '';
    };

    await smsWorker.runUntil(
      worker.runUntil(async () => {
        ottolineId = await ingest(OTTOLINE);
        bartholomewId = await ingest(BARTHOLOMEW);
        const ottoline = env.client.workflow.getHandle(ottolineId);
        // The failing one: wait until its activity failure is on record.
        await eventually('the failing activity to be recorded', async () => {
          const history = await rawHistory(env.connection, namespace, bartholomewId);
          return history.events.some(
            (e) => e.activityTaskFailedEventAttributes !== null && e.activityTaskFailedEventAttributes !== undefined,
          )
            ? true
            : undefined;
        });

        await ottoline.executeUpdate(signOffUpdate, {
          args: [
            {
              providerId: 'prov-1',
              practiceId: PRACTICE,
              via: 'review-app',
              expectedVersion: 1,
              noteToPatient: NOTE_TO_PATIENT,
            },
          ],
        });
        // A correction: a new version with a changed value.
        await ingest({
          ...OTTOLINE,
          messageId: `MSG-PHI-${run}-3`,
          status: 'corrected',
          observations: OTTOLINE.observations.map((o) => (o.name === 'Potassium' ? { ...o, value: '4.912' } : o)),
        });
        await ottoline
          .executeUpdate(annotateUpdate, { args: [{ providerId: 'prov-1', practiceId: PRACTICE, text: ANNOTATION }] })
          .catch(() => undefined); // annotation is best effort here; its input is searched if it was accepted
        const sms = await eventually('the SMS send (or a hold)', () => Promise.resolve(world.sms()[0]), 5_000).catch(
          () => undefined,
        );
        await ottoline.signal(deliveryStatusSignal, {
          channel: 'sms',
          providerMessageId: sms?.input.workflowId === ottolineId ? 'SM' + '1'.repeat(32) : 'SM' + '2'.repeat(32),
          status: 'delivered',
          at: new Date().toISOString(),
        });
        detail = await queryDetail(ottolineId);

        // Let in-flight work settle before reading everything back.
        let calls = -1;
        while (calls !== world.calls.length || world.inFlight > 0) {
          calls = world.calls.length;
          await delay(300);
        }

        for (const workflowId of [ottolineId, bartholomewId]) {
          const history = await rawHistory(env.connection, namespace, workflowId);
          histories.set(workflowId, history);
          artifacts.push({
            label: `history of ${workflowId}`,
            message: history,
            encode: () => temporal.api.history.v1.History.encode(history).finish(),
          });
          const described = await env.connection.workflowService.describeWorkflowExecution({
            namespace,
            execution: { workflowId },
          });
          artifacts.push({
            label: `description of ${workflowId}`,
            message: described,
            encode: () => temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse.encode(described).finish(),
          });
        }
        const queried = await env.connection.workflowService.queryWorkflow({
          namespace,
          execution: { workflowId: ottolineId },
          query: { queryType: 'getResultDetail' },
        });
        artifacts.push({
          label: 'raw getResultDetail answer',
          message: queried,
          encode: () => temporal.api.workflowservice.v1.QueryWorkflowResponse.encode(queried).finish(),
        });
        const listed = await env.connection.workflowService.listWorkflowExecutions({
          namespace,
          query: `TaskQueue = '${taskQueue}'`,
        });
        artifacts.push({
          label: 'visibility listing',
          message: listed,
          encode: () => temporal.api.workflowservice.v1.ListWorkflowExecutionsResponse.encode(listed).finish(),
        });

        for (const workflowId of [ottolineId, bartholomewId]) {
          await env.client.workflow
            .getHandle(workflowId)
            .terminate('test over')
            .catch(() => undefined);
        }
      }),
    );
  });

  after(async () => {
    await server?.teardown();
    await db?.close();
  });

  it('ran the scenario: the query (through the codec) returns the PHI, so the workflows really carried it', () => {
    assert.equal(detail?.result.patient.lastName, 'Quillfeather');
    assert.ok(artifacts.length >= 6);
  });

  it('control: the search finds PHI in a plain payload, in bytes and in base64 text', () => {
    const plain = Buffer.from(JSON.stringify({ patient: { lastName: 'Quillfeather' } }));
    const asBytes = { payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: plain }] };
    const asBase64 = { data: plain.toString('base64') };
    for (const message of [asBytes, asBase64]) {
      const found = findPhi({ label: 'control', message, encode: () => new Uint8Array() });
      assert.ok(
        found.some((f) => f.includes('Quillfeather')),
        JSON.stringify(found),
      );
    }
  });

  it('workflow IDs are opaque', () => {
    for (const id of [ottolineId, bartholomewId]) {
      assert.match(id, LAB_RESULT_WORKFLOW_ID_PATTERN);
      for (const phi of [...PHI_STRINGS, OTTOLINE.resultId, BARTHOLOMEW.resultId])
        assert.ok(!id.includes(phi), `${id} contains ${phi}`);
    }
  });

  it('no PHI string appears anywhere in what the server returns without a codec', () => {
    const found = artifacts.flatMap(findPhi);
    assert.deepEqual(found, [], 'PHI readable on the Temporal server');
  });

  it('every payload in history is encrypted (binary/encrypted), and decoding them with the codec finds the PHI', async () => {
    const codec = new EncryptionCodec(parseCodecKeys(TEST_CODEC_KEYS));
    let decodedText = '';
    let count = 0;
    const plain: string[] = [];
    for (const history of histories.values()) {
      for (const { path, payload } of payloads(history)) {
        if (SDK_MARKER_METADATA.test(path)) continue;
        count += 1;
        if (encodingOf(payload) !== ENCRYPTED_ENCODING) plain.push(`${path} (${encodingOf(payload)})`);
        const [decoded] = await codec.decode([payload]);
        decodedText += Buffer.from(decoded?.data ?? []).toString('utf8') + '\n';
      }
    }
    assert.deepEqual(plain, [], 'payloads stored without encryption');
    assert.ok(count > 10, `only ${count} payloads in history`);
    for (const phi of MUST_BE_IN_DECODED_HISTORY)
      assert.ok(decodedText.includes(phi), `control: "${phi}" not found in decoded history`);
  });

  it('failure messages and stack traces are encrypted, not stored as text', () => {
    const all = [...histories.values()].flatMap((h) => [...failures(h)]);
    assert.ok(all.length > 0, 'the scenario produced no failure to check');
    for (const failure of all) {
      assert.equal(failure.message, 'Encoded failure');
      assert.equal(failure.stackTrace ?? '', '');
      assert.ok(
        failure.encodedAttributes !== null && failure.encodedAttributes !== undefined,
        'encodedAttributes present',
      );
      assert.equal(encodingOf(failure.encodedAttributes), ENCRYPTED_ENCODING);
    }
  });

  it('search attributes hold only labloop codes, and the memo (if any) is encrypted', () => {
    for (const artifact of artifacts.filter((a) => a.label.startsWith('description of'))) {
      const info = (artifact.message as temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse)
        .workflowExecutionInfo;
      const fields = info?.searchAttributes?.indexedFields ?? {};
      for (const [name, payload] of Object.entries(fields)) {
        assert.match(name, /^(Labloop|Temporal|BuildIds|BinaryChecksums)/, `unexpected search attribute ${name}`);
        if (!name.startsWith('Labloop')) continue; // the SDK's own (build IDs): no input data
        const value = Buffer.from(payload.data ?? []).toString('utf8');
        // Visible by design: short codes, practice IDs and timestamps only.
        assert.match(value, /^("[A-Za-z0-9_:.+-]*"|\[("[A-Za-z0-9_:.+-]*",?)*\]|\d+)$/, `${name} = ${value}`);
      }
      assert.ok(
        Object.keys(fields).some((n) => n.startsWith('Labloop')),
        'labloop search attributes are set',
      );
      for (const payload of Object.values(info?.memo?.fields ?? {})) {
        assert.equal(encodingOf(payload), ENCRYPTED_ENCODING, 'memo payloads are encrypted');
      }
    }
  });
});
