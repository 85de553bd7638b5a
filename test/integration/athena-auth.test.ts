import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { AthenaError, createAthenaClient, type AthenaClientOptions } from '../../lib/clients/athena';
import type { AthenaFake } from '../../sandbox/fakes/athena';
import {
  ATHENA_TEST_CLIENT_ID,
  ATHENA_TEST_CLIENT_SECRET,
  athenaClientOfFake,
  startAthenaTestFake,
} from '../support/athena';

/**
 * OAuth client credentials against the athena fake over real HTTP: one token shared and cached,
 * refreshed before expiry, fetched once under concurrency, and a 401 answered by exactly one refresh.
 */

const PRACTICE = '195900';
const TTL_SECONDS = 120;

void describe('athena client OAuth', () => {
  let fake: AthenaFake;
  let patientId: string;
  /** Shared offset for the client's clock and the fake's, so both see the same "later". */
  let clientClockOffsetMs = 0;

  const client = (overrides: Partial<AthenaClientOptions> = {}) =>
    athenaClientOfFake(fake, { now: () => Date.now() + clientClockOffsetMs, ...overrides });

  const tokenRequests = () => fake.control.requests().filter((r) => r.path === '/oauth2/v1/token');
  const apiRequests = () => fake.control.requests().filter((r) => r.path.startsWith('/v1/'));

  before(async () => {
    fake = await startAthenaTestFake({ tokenTtlSeconds: TTL_SECONDS });
    patientId = fake.control.addPatient({
      practiceId: PRACTICE,
      firstName: 'Test',
      lastName: 'Patient',
      dob: '1970-01-01',
    }).patientId;
  });
  after(() => fake.close());
  beforeEach(() => {
    clientClockOffsetMs = 0;
    fake.control.clearFailures();
  });

  void it('fetches one token and reuses it for later calls', async () => {
    const athena = client();
    const before = tokenRequests().length;
    for (let i = 0; i < 4; i += 1) await athena.getPatient({ practiceId: PRACTICE, patientId });
    assert.equal(tokenRequests().length - before, 1);
  });

  void it('refreshes the token before it expires (60 s margin, half the lifetime for short tokens)', async () => {
    const athena = client();
    const before = tokenRequests().length;
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    // 59 s into a 120 s token: still inside the refresh margin of min(60 s, 120 s / 2).
    clientClockOffsetMs = 59_000;
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    assert.equal(tokenRequests().length - before, 1);
    // 61 s: the client refreshes proactively, while the old token is still valid at the fake.
    clientClockOffsetMs = 61_000;
    const apiBefore = apiRequests().length;
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    assert.equal(tokenRequests().length - before, 2);
    assert.deepEqual(
      apiRequests()
        .slice(apiBefore)
        .map((r) => r.status),
      [200],
      'no request went out with a stale token',
    );
  });

  void it('shares one token request among concurrent callers (single flight)', async () => {
    const athena = client();
    const before = tokenRequests().length;
    const results = await Promise.all(
      Array.from({ length: 12 }, () => athena.getPatient({ practiceId: PRACTICE, patientId })),
    );
    assert.equal(results.length, 12);
    assert.equal(tokenRequests().length - before, 1);
  });

  void it('on a 401 drops the token, fetches a new one and retries once', async () => {
    const athena = client();
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    fake.control.revokeTokens();
    const tokensBefore = tokenRequests().length;
    const apiBefore = apiRequests().length;
    const patient = await athena.getPatient({ practiceId: PRACTICE, patientId });
    assert.equal(patient.patientId, patientId);
    assert.equal(tokenRequests().length - tokensBefore, 1);
    assert.deepEqual(
      apiRequests()
        .slice(apiBefore)
        .map((r) => r.status),
      [401, 200],
    );
  });

  void it('a token the fake considers expired (clock skew) is refreshed on the 401', async () => {
    const athena = client();
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    fake.control.advanceTime((TTL_SECONDS + 1) * 1000);
    const apiBefore = apiRequests().length;
    try {
      const patient = await athena.getPatient({ practiceId: PRACTICE, patientId });
      assert.equal(patient.patientId, patientId);
      assert.deepEqual(
        apiRequests()
          .slice(apiBefore)
          .map((r) => r.status),
        [401, 200],
      );
    } finally {
      fake.control.advanceTime(-(TTL_SECONDS + 1) * 1000);
    }
  });

  void it('a second 401 after the refresh is an auth error, not a loop', async () => {
    const athena = client();
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    fake.control.failNext(5, { status: 401 });
    const apiBefore = apiRequests().length;
    await assert.rejects(athena.getPatient({ practiceId: PRACTICE, patientId }), (error: unknown) => {
      assert.ok(error instanceof AthenaError);
      assert.equal(error.kind, 'auth');
      assert.equal(error.status, 401);
      return true;
    });
    assert.equal(apiRequests().length - apiBefore, 2, 'exactly one retry after the refresh');
  });

  void it('wrong client credentials are an auth error naming the token request', async () => {
    const athena = client({ clientSecret: 'not-the-secret' });
    await assert.rejects(athena.getPatient({ practiceId: PRACTICE, patientId }), (error: unknown) => {
      assert.ok(error instanceof AthenaError);
      assert.equal(error.kind, 'auth');
      assert.equal(error.operation, 'token');
      assert.equal(error.athenaError, 'invalid_client');
      return true;
    });
  });

  void it('the token request is HTTP Basic with grant_type and the v1 scope, as athena requires', async () => {
    const basic = Buffer.from(`${ATHENA_TEST_CLIENT_ID}:${ATHENA_TEST_CLIENT_SECRET}`).toString('base64');
    const withoutScope = await fetch(`${fake.url}/oauth2/v1/token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    assert.equal(withoutScope.status, 401);
    assert.equal(((await withoutScope.json()) as { error: string }).error, 'access_denied');

    const athena = client({ scope: 'system/Patient.read' });
    await assert.rejects(athena.getPatient({ practiceId: PRACTICE, patientId }), (error: unknown) => {
      assert.ok(error instanceof AthenaError);
      assert.equal(error.kind, 'auth', 'a token without the v1 scope is refused by the API');
      return true;
    });
  });

  void it('every request carries a distinct X-Request-Id', async () => {
    const athena = client();
    const before = fake.control.requests().length;
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    const ids = fake.control
      .requests()
      .slice(before)
      .map((r) => r.requestId);
    assert.ok(ids.length >= 2);
    assert.ok(ids.every((id) => typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id)));
    assert.equal(new Set(ids).size, ids.length);
  });

  void it('refuses bad options at construction, naming the option', () => {
    assert.throws(
      () =>
        createAthenaClient({
          baseUrl: 'not a url',
          clientId: ATHENA_TEST_CLIENT_ID,
          clientSecret: ATHENA_TEST_CLIENT_SECRET,
        }),
      /baseUrl/,
    );
    assert.throws(
      () => createAthenaClient({ baseUrl: fake.url, clientId: '', clientSecret: ATHENA_TEST_CLIENT_SECRET }),
      /clientId/,
    );
    assert.throws(
      () =>
        createAthenaClient({
          baseUrl: fake.url,
          clientId: ATHENA_TEST_CLIENT_ID,
          clientSecret: ATHENA_TEST_CLIENT_SECRET,
          maxAttempts: 0,
        }),
      /maxAttempts/,
    );
  });
});
