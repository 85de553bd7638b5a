import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { buildApp } from '../../api/app';
import type { StaffSessionCaller } from '../../api/auth/privileged';
import { CODEC_BODY_LIMIT_BYTES } from '../../api/routes/codec';
import { EncryptionCodec, generateCodecKey, parseCodecKeys } from '../../lib/temporal/encryption-codec';
import { TEST_TOKENS, testApiDeps } from '../support/api-app';
import { TEST_CODEC_KEYS } from '../support/temporal';
import { createTestDatabase, type TestDatabase } from '../support/database';
import type { ApiDeps } from '../../api/deps';

/**
 * The codec endpoint for the Temporal Web UI and CLI, in the codec-server protocol: a round trip
 * over real HTTP, payloads the worker's codec wrote, authentication (operator token, administrator
 * session), CORS limited to the UI origin, the namespace check, limits and error messages.
 */

const UI_ORIGIN = 'http://127.0.0.1:8233';
const OPS = { authorization: `Bearer ${TEST_TOKENS.ops}` };
/** A session cookie the fake session layer below understands: `session=<staffId>:<role>`. */
const sessionCookie = (staffId: string, role: StaffSessionCaller['role']) => ({ cookie: `session=${staffId}:${role}` });

interface CodecJson {
  payloads: { metadata: Record<string, string>; data: string }[];
}

const toJson = (payloads: Payload[]): CodecJson => ({
  payloads: payloads.map((p) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? []).toString('base64'),
  })),
});
const fromJson = (json: CodecJson): Payload[] =>
  json.payloads.map((p) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data, 'base64'),
  }));

const PHI = { name: 'Ottoline Quillfeather', phone: '+16175550187', potassium: '6.91' };

describe('codec endpoint', () => {
  let app: FastifyInstance;
  let url: string;
  const workerCodec = new EncryptionCodec(parseCodecKeys(TEST_CODEC_KEYS));
  let db: TestDatabase;
  let deps: ApiDeps;
  const staffSession: ApiDeps['staffSession'] = (request) => {
    const match = /(?:^|;\s*)session=([^:;]+):([a-z]+)/.exec(request.headers.cookie ?? '');
    return Promise.resolve(
      match === null
        ? undefined
        : { staffId: match[1], practiceId: '195900', role: match[2] as StaffSessionCaller['role'] },
    );
  };

  before(async () => {
    // A real database: every decode is audited as a PHI read, and the audit append must succeed.
    db = await createTestDatabase('codec_endpoint');
    deps = testApiDeps({ pool: db.pool, staffSession });
    ({ app } = await buildApp(deps));
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app?.close();
    await deps.temporal.connection.close();
    await db?.close();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: path,
      payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });

  it('decodes over HTTP exactly what the worker encrypted', async () => {
    const original = [defaultPayloadConverter.toPayload(PHI), defaultPayloadConverter.toPayload([1, 'two'])];
    const encoded = toJson(await workerCodec.encode(original));
    for (const value of Object.values(PHI)) assert.ok(!JSON.stringify(encoded).includes(value));
    const response = await fetch(`${url}/codec/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...OPS },
      body: JSON.stringify(encoded),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const decoded = fromJson((await response.json()) as CodecJson);
    assert.deepEqual(
      decoded.map((p) => defaultPayloadConverter.fromPayload(p)),
      [PHI, [1, 'two']],
    );
  });

  it('has no encode: an operator token cannot make a payload the worker would accept', async () => {
    for (const headers of [OPS, {}]) {
      const response = await post('/codec/encode', toJson([defaultPayloadConverter.toPayload(PHI)]), headers);
      assert.equal(response.statusCode, 404, JSON.stringify(headers));
    }
  });

  it("decodes what the worker's codec wrote, and passes unencrypted payloads through", async () => {
    const fromWorker = await workerCodec.encode([defaultPayloadConverter.toPayload(PHI)]);
    const plain = defaultPayloadConverter.toPayload('not secret');
    const response = await post('/codec/decode', toJson([...fromWorker, plain]), OPS);
    assert.equal(response.statusCode, 200, response.body);
    const decoded = fromJson(response.json<CodecJson>());
    assert.deepEqual(
      decoded.map((p) => defaultPayloadConverter.fromPayload(p)),
      [PHI, 'not secret'],
    );
  });

  it('answers 401 without credentials, with an unknown token, and with an ingest token', async () => {
    const body = toJson(await workerCodec.encode([defaultPayloadConverter.toPayload(PHI)]));
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer nope' },
      { authorization: `Bearer ${TEST_TOKENS.ingest}` },
      { authorization: 'Basic abc' },
    ];
    for (const headers of attempts) {
      const response = await post('/codec/decode', body, headers);
      assert.equal(response.statusCode, 401, `decode with ${JSON.stringify(headers)}`);
      assert.match(response.headers['www-authenticate'] as string, /^Bearer/);
      assert.ok(!response.body.includes(PHI.name));
    }
    // The admin token is for the audit export, not for decrypting payloads.
    assert.equal((await post('/codec/decode', body, { authorization: `Bearer ${TEST_TOKENS.admin}` })).statusCode, 401);
  });

  it('accepts a signed-in administrator (the UI sends the session cookie) and refuses other roles with 403', async () => {
    const body = toJson(await workerCodec.encode([defaultPayloadConverter.toPayload(PHI)]));
    const admin = await post('/codec/decode', body, {
      ...sessionCookie('admin-1', 'administrator'),
      origin: UI_ORIGIN,
    });
    assert.equal(admin.statusCode, 200, admin.body);
    assert.equal(admin.headers['access-control-allow-origin'], UI_ORIGIN);
    assert.equal(admin.headers['access-control-allow-credentials'], 'true');
    for (const role of ['provider', 'staff'] as const) {
      const refused = await post('/codec/decode', body, sessionCookie('someone', role));
      assert.equal(refused.statusCode, 403, role);
      assert.match(refused.json<{ message: string }>().message, new RegExp(`role ${role} may not decrypt`));
    }
  });

  it('lets the configured UI origin preflight and call, with credentials; refuses every other origin', async () => {
    const preflight = (origin: string) =>
      app.inject({
        method: 'OPTIONS',
        url: '/codec/decode',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace,authorization',
        },
      });
    const ok = await preflight(UI_ORIGIN);
    assert.equal(ok.statusCode, 204);
    assert.equal(ok.headers['access-control-allow-origin'], UI_ORIGIN);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    assert.match(String(ok.headers['access-control-allow-methods']), /POST/);
    const allowedHeaders = String(ok.headers['access-control-allow-headers']).toLowerCase();
    for (const h of ['content-type', 'x-namespace', 'authorization']) assert.ok(allowedHeaders.includes(h), h);

    for (const origin of ['http://127.0.0.1:8234', 'https://evil.example', 'null', 'http://localhost:8233']) {
      const refused = await preflight(origin);
      assert.equal(refused.statusCode, 403, origin);
      assert.equal(refused.headers['access-control-allow-origin'], undefined, origin);
      const call = await post('/codec/decode', { payloads: [] }, { ...OPS, origin });
      assert.equal(call.statusCode, 403, `POST from ${origin}`);
      assert.equal(call.headers['access-control-allow-origin'], undefined);
    }
    // Without an Origin header (CLI, scripts) CORS does not apply.
    assert.equal((await post('/codec/decode', { payloads: [] }, OPS)).statusCode, 200);
  });

  it('serves only its own namespace', async () => {
    const response = await post('/codec/decode', { payloads: [] }, { ...OPS, 'x-namespace': 'someone-else' });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, /X-Namespace: this codec serves namespace \\"default\\" only/);
  });

  it('names the problem for tampered payloads, unknown keys and malformed bodies, never the content', async () => {
    const [encoded] = await workerCodec.encode([defaultPayloadConverter.toPayload(PHI)]);
    assert.ok(encoded !== undefined);
    const data = Buffer.from(encoded.data ?? []);
    data[20] = (data[20] ?? 0) ^ 1;
    const tampered = await post('/codec/decode', toJson([{ ...encoded, data }]), OPS);
    assert.equal(tampered.statusCode, 400);
    assert.match(tampered.body, /failed authentication with key/);

    const [foreign] = await new EncryptionCodec(parseCodecKeys(generateCodecKey('retired-2019'))).encode([
      defaultPayloadConverter.toPayload(PHI),
    ]);
    const unknown = await post('/codec/decode', toJson([foreign]), OPS);
    assert.equal(unknown.statusCode, 400);
    assert.match(unknown.body, /no codec key with ID \\"retired-2019\\"/);
    for (const r of [tampered, unknown]) assert.ok(!r.body.includes(PHI.name));

    const notBase64 = await post('/codec/decode', { payloads: [{ metadata: {}, data: 'not base64!' }] }, OPS);
    assert.equal(notBase64.statusCode, 400);
    assert.match(notBase64.body, /payloads\.0\.data: must be base64/);
    const noPayloads = await post('/codec/decode', { other: 1 }, OPS);
    assert.equal(noPayloads.statusCode, 400);
    assert.match(noPayloads.body, /payloads/);
  });

  it(`refuses bodies over ${CODEC_BODY_LIMIT_BYTES} bytes with 413, and anonymous ones before reading them`, async () => {
    const big = { payloads: [{ metadata: {}, data: 'A'.repeat(CODEC_BODY_LIMIT_BYTES) }] };
    assert.equal((await post('/codec/decode', big, OPS)).statusCode, 413);
    assert.equal((await post('/codec/decode', big)).statusCode, 401);
  });

  it('audits every decode as a PHI read (who, how many payloads)', async () => {
    const before = await db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM audit_log WHERE action = 'phi-access'`,
    );
    const encoded = await workerCodec.encode([defaultPayloadConverter.toPayload(PHI)]);
    const response = await post('/codec/decode', toJson(encoded), OPS);
    assert.equal(response.statusCode, 200);
    const { rows } = await db.pool.query<{ actor_id: string; outcome: string; details: Record<string, unknown> }>(
      `SELECT actor_id, outcome, details FROM audit_log WHERE action = 'phi-access' ORDER BY seq`,
    );
    assert.equal(rows.length, Number(before.rows[0]?.n ?? 0) + 1);
    const last = rows.at(-1);
    assert.equal(last?.actor_id, 'token:ops-client');
    assert.equal(last?.outcome, 'decoded');
    assert.equal(last?.details.payloads, 1);
    assert.ok(!JSON.stringify(rows).includes(PHI.name), 'the audit row carries no PHI');
  });
});
