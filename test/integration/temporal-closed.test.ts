import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowUpdateFailedError, type ConnectionOptions } from '@temporalio/client';
import { ApplicationFailure, type Payload } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import {
  createCertificateAuthority,
  createJwtSigningKey,
  issueCertificate,
  mintTemporalToken,
} from '../../lib/temporal/credentials';
import { FAILURE_CONVERTER_PATH } from '../../lib/temporal/data-converter';
import { connectClient, connectNative } from '../../lib/temporal/connection';
import { EncryptionCodec, parseCodecKeys } from '../../lib/temporal/encryption-codec';
import { UNENCRYPTED_PAYLOAD_ERROR } from '../../lib/temporal/unencrypted-payload';
import { createLabloopWorker } from '../../worker/create-worker';
import {
  getStatusQuery,
  LAB_RESULT_WORKFLOW_TYPE,
  labResultWorkflowId,
  resultReceivedSignal,
  signOffUpdate,
  type SignOffRequest,
} from '../../workflows/definitions';
import type { labResultWorkflow } from '../../workflows/lab-result-workflow';
import { FakeWorld } from '../workflows/support/fake-world';
import { normalResult, testPolicy } from '../workflows/support/fixtures';
import { installQuietRuntime, TEST_CODEC_KEYS, workflowBundle } from '../support/temporal';
import { createTestTemporalCluster, type TestTemporalCluster } from '../support/temporal-cluster';

/**
 * The real Temporal server (go.temporal.io/server v1.32.2) on PostgreSQL, closed as production
 * closes it: the frontend requires a client certificate from labloop's Temporal CA, and the default
 * authorizer lets each identity do what its token's permissions say. Each refusal is a test; then
 * labloop's worker and API, connected through lib/temporal/connection.ts with the TEMPORAL_TLS_*
 * settings compose gives them, run the real lab-result workflow, and a plaintext signOff from a
 * client that holds labloop's certificate and token (but not its codec keys) signs nothing.
 */

const SIGN_OFF: SignOffRequest = { providerId: 'prov-1', practiceId: '195900', via: 'review-app', expectedVersion: 1 };

describe('Temporal closed: the real server with mutual TLS and an authorizer', () => {
  let cluster: TestTemporalCluster;
  const foreignDir = mkdtempSync(path.join(tmpdir(), 'labloop-foreign-ca-'));

  before(async () => {
    installQuietRuntime();
    cluster = await createTestTemporalCluster();
  });
  after(async () => {
    await cluster?.teardown();
    rmSync(foreignDir, { recursive: true, force: true });
  });

  const tlsFor = (files?: { cert: string; key: string }): ConnectionOptions['tls'] => ({
    serverNameOverride: cluster.serverName,
    serverRootCACertificate: readFileSync(cluster.ca.cert),
    ...(files !== undefined ? { clientCertPair: { crt: readFileSync(files.cert), key: readFileSync(files.key) } } : {}),
  });

  /** A refusal by the authorizer, whether at connect (its first call) or on the call itself. */
  const permissionDenied = (err: unknown): boolean => {
    const text = `${String(err)} ${String((err as { cause?: unknown }).cause)}`;
    assert.match(text, /PERMISSION_DENIED|Request unauthorized/, text);
    return true;
  };

  /** A call that needs the namespace: what every worker and client does first. */
  const describeNamespace = async (options: ConnectionOptions) => {
    const connection = await Connection.connect({ address: cluster.address, connectTimeout: 5000, ...options });
    try {
      return await connection.workflowService.describeNamespace({ namespace: cluster.namespace });
    } finally {
      await connection.close();
    }
  };

  it('refuses a client without a certificate at the TLS handshake, and a plaintext client', async () => {
    // The same call with labloop's certificate and token is served: what fails below is the missing part.
    const served = await describeNamespace({
      tls: tlsFor(cluster.identities.api),
      apiKey: cluster.identities.api.token,
    });
    assert.equal(served.namespaceInfo?.name, cluster.namespace);
    await assert.rejects(describeNamespace({ tls: tlsFor(), apiKey: cluster.identities.api.token }), (err: Error) => {
      assert.match(err.message, /Failed to connect|UNAVAILABLE|certificate|handshake/i, err.message);
      return true;
    });
    await assert.rejects(describeNamespace({ tls: false }));
  });

  it('refuses a certificate from another CA, even with a valid token', async () => {
    const foreign = createCertificateAuthority(foreignDir, 'foreign-ca', 'Someone else');
    const cert = issueCertificate(foreign, { name: 'intruder', commonName: 'labloop-worker', usage: 'client' });
    await assert.rejects(describeNamespace({ tls: tlsFor(cert), apiKey: cluster.identities.worker.token }));
  });

  it("refuses labloop's certificate without a token, with a forged token, and with a read-only one for writes", async () => {
    const cert = cluster.identities.api;
    await assert.rejects(describeNamespace({ tls: tlsFor(cert) }), permissionDenied);
    const forgedKey = createJwtSigningKey(foreignDir, cluster.jwtKey.kid);
    const forged = mintTemporalToken(forgedKey, {
      subject: 'labloop-api',
      permissions: ['temporal-system:admin'],
      ttlSeconds: 600,
    });
    await assert.rejects(describeNamespace({ tls: tlsFor(cert), apiKey: forged }), permissionDenied);
    const expired = mintTemporalToken(cluster.jwtKey, {
      subject: 'labloop-api',
      permissions: [`${cluster.namespace}:write`],
      ttlSeconds: 60,
      now: new Date(Date.now() - 3600_000),
    });
    await assert.rejects(describeNamespace({ tls: tlsFor(cert), apiKey: expired }), permissionDenied);

    // A reader (the UI's identity) reads, and may not start anything.
    const reader = mintTemporalToken(cluster.jwtKey, {
      subject: 'temporal-ui',
      permissions: [`${cluster.namespace}:read`],
      ttlSeconds: 600,
    });
    const info = await describeNamespace({ tls: tlsFor(cert), apiKey: reader });
    assert.equal(info.namespaceInfo?.name, cluster.namespace);
    const connection = await Connection.connect({ address: cluster.address, tls: tlsFor(cert), apiKey: reader });
    try {
      const client = new Client({ connection, namespace: cluster.namespace });
      await assert.rejects(
        client.workflow.start('anything', { taskQueue: 'nowhere', workflowId: `reader-${randomUUID()}` }),
        permissionDenied,
      );
    } finally {
      await connection.close();
    }
  });

  it("runs the lab-result workflow for labloop's worker and API over mTLS; a plaintext signOff with their credentials signs nothing", async () => {
    const world = new FakeWorld({ smsConsent: true });
    const taskQueue = `closed-${randomUUID()}`;
    // Exactly as worker/main.ts and the API connect: lib/temporal/connection.ts reading TEMPORAL_*
    // settings; the worker through its TOML profile, as docker-compose.yml gives it, the API named one by one.
    const native = await connectNative(cluster.profileEnv('worker'));
    const api = await connectClient(TEST_CODEC_KEYS, cluster.clientEnv('api'));
    let worker: Worker | undefined;
    try {
      worker = await createLabloopWorker({
        connection: native.connection,
        namespace: native.namespace,
        codecKeys: TEST_CODEC_KEYS,
        activities: world.activities(),
        taskQueue,
        workflowBundle: await workflowBundle(),
      });
      const running = worker.run();
      const result = normalResult();
      const policy = testPolicy();
      const workflowId = labResultWorkflowId(policy.practiceId, randomUUID().replace(/-/g, ''));
      const receivedAt = new Date().toISOString();
      await api.workflow.signalWithStart(LAB_RESULT_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [{ result, receivedAt, policy }],
        signal: resultReceivedSignal,
        signalArgs: [{ result, receivedAt }],
      });
      const handle = api.workflow.getHandle<typeof labResultWorkflow>(workflowId);
      const deadline = Date.now() + 30_000;
      let status = await handle.query(getStatusQuery).catch(() => undefined);
      while (status?.state !== 'awaiting-sign-off' || status.version !== 1) {
        if (Date.now() > deadline) throw new Error(`the workflow did not reach awaiting-sign-off: ${status?.state}`);
        await new Promise((r) => setTimeout(r, 200));
        status = await handle.query(getStatusQuery).catch(() => undefined);
      }

      // Labloop's own certificate and token, but JSON instead of the codec: refused by name.
      const codec = new EncryptionCodec(parseCodecKeys(TEST_CODEC_KEYS));
      const rogueConnection = await Connection.connect({
        address: cluster.address,
        tls: tlsFor(cluster.identities.api),
        apiKey: cluster.identities.api.token,
      });
      try {
        const rogue = new Client({
          connection: rogueConnection,
          namespace: cluster.namespace,
          // Sends plaintext; reads the (encrypted) answer only so the test can name the refusal.
          dataConverter: {
            payloadCodecs: [
              { encode: (p: Payload[]) => Promise.resolve(p), decode: (p: Payload[]) => codec.decode(p) },
            ],
            failureConverterPath: FAILURE_CONVERTER_PATH,
          },
        });
        await assert.rejects(
          rogue.workflow.getHandle(workflowId).executeUpdate(signOffUpdate, { args: [SIGN_OFF] }),
          (err) => {
            assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
            assert.ok(err.cause instanceof ApplicationFailure);
            assert.equal(err.cause.type, UNENCRYPTED_PAYLOAD_ERROR);
            return true;
          },
        );
      } finally {
        await rogueConnection.close();
      }
      const unsigned = await handle.query(getStatusQuery);
      assert.equal(unsigned.signed, false, 'the plaintext signOff signed nothing');
      assert.equal(world.patientSendAttempts().length, 0, 'and nothing went to the patient');

      const signed = await handle.executeUpdate(signOffUpdate, { args: [SIGN_OFF] });
      assert.equal(signed.signedBy, 'prov-1');
      assert.equal((await handle.query(getStatusQuery)).signed, true);
      await handle.terminate('test over');
      worker.shutdown();
      await running;
    } finally {
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await api.connection.close();
      await native.connection.close();
    }
  });
});
