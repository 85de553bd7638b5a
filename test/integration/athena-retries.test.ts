import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  AthenaError,
  type AthenaAttempt,
  type AthenaClient,
  type AthenaClientOptions,
  type CreatePatientCaseInput,
} from '../../lib/clients/athena';
import { backoffDelayMs, parseRetryAfterMs } from '../../lib/clients/athena/backoff';
import type { AthenaFake } from '../../sandbox/fakes/athena';
import { athenaClientOfFake, startAthenaTestFake } from '../support/athena';

/**
 * Retries, backoff and the never-blindly-retry-a-write rule, against injected failures in the athena
 * fake over real HTTP.
 */

const PRACTICE = '195900';
const DEPARTMENT = '1';

function expectAthenaError(kind: AthenaError['kind'], check?: (error: AthenaError) => void) {
  return (error: unknown) => {
    assert.ok(error instanceof AthenaError, `expected AthenaError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    check?.(error);
    return true;
  };
}

void describe('athena client retries and error classification', () => {
  let fake: AthenaFake;
  let patientId: string;
  let attempts: AthenaAttempt[] = [];

  const client = (overrides: Partial<AthenaClientOptions> = {}) =>
    athenaClientOfFake(fake, {
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 40,
      timeoutMs: 2_000,
      onAttempt: (attempt) => attempts.push(attempt),
      ...overrides,
    });

  const apiRequests = (since: number) =>
    fake.control
      .requests()
      .slice(since)
      .filter((r) => r.path.startsWith('/v1/'));

  /** The test patient's cases that carry `marker`: how a caller finds out whether an ambiguous write landed. */
  const casesMarked = (athena: Pick<AthenaClient, 'findPatientCases'>, marker: string) =>
    athena.findPatientCases({ practiceId: PRACTICE, patientId, departmentId: DEPARTMENT, marker });

  const caseInput = (marker: string): CreatePatientCaseInput => ({
    practiceId: PRACTICE,
    patientId,
    departmentId: DEPARTMENT,
    subject: `Call patient about a lab result [${marker}]`,
    internalNote: `labloop ref ${marker}`,
    priority: 1,
    outboundOnly: true,
    callbackNumber: '+16175550123',
    documentSource: 'PORTAL',
    documentSubclass: 'PATIENTCASE_LABS',
  });

  before(async () => {
    fake = await startAthenaTestFake();
    patientId = fake.control.addPatient({
      practiceId: PRACTICE,
      firstName: 'Retry',
      lastName: 'Patient',
      dob: '1980-05-06',
    }).patientId;
  });
  after(() => fake.close());
  beforeEach(() => {
    attempts = [];
    fake.control.clearFailures();
  });

  void it('retries 5xx on a read with backoff, then succeeds', async () => {
    const athena = client();
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    fake.control.failNext(2, { status: 503 });
    const since = fake.control.requests().length;
    const patient = await athena.getPatient({ practiceId: PRACTICE, patientId });
    assert.equal(patient.patientId, patientId);
    assert.deepEqual(
      apiRequests(since).map((r) => r.status),
      [503, 503, 200],
    );
    assert.deepEqual(
      attempts.slice(-3).map((a) => a.outcome),
      ['retry', 'retry', 'ok'],
    );
  });

  void it('honours Retry-After on a 429', async () => {
    const athena = client();
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    fake.control.failNext(1, { status: 429, retryAfterSeconds: 1 });
    const started = Date.now();
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 950, `waited ${elapsed} ms, Retry-After asked for 1000 ms`);
  });

  void it('retries a 429 without Retry-After using its own backoff', async () => {
    const athena = client();
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    fake.control.failNext(3, { status: 429 });
    const since = fake.control.requests().length;
    const started = Date.now();
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    assert.ok(Date.now() - started < 900, 'backoff ceilings are 5, 10, 20 ms here');
    assert.deepEqual(
      apiRequests(since).map((r) => r.status),
      [429, 429, 429, 200],
    );
  });

  void it('gives up after maxAttempts with a retryable error', async () => {
    const athena = client({ maxAttempts: 3 });
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    fake.control.failNext(10, { status: 500 });
    const since = fake.control.requests().length;
    await assert.rejects(
      athena.getPatient({ practiceId: PRACTICE, patientId }),
      expectAthenaError('retryable', (error) => {
        assert.equal(error.status, 500);
        assert.equal(error.attempts, 3);
        assert.equal(error.operation, 'getPatient');
        assert.ok(!error.message.includes(patientId), 'error messages carry no patient identifiers');
      }),
    );
    assert.equal(apiRequests(since).length, 3);
  });

  void it('does not sleep through a Retry-After longer than it will wait: retryable with the wait attached', async () => {
    const athena = client();
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    fake.control.failNext(1, { status: 429, retryAfterSeconds: 120 });
    const started = Date.now();
    await assert.rejects(
      athena.getPatient({ practiceId: PRACTICE, patientId }),
      expectAthenaError('retryable', (error) => assert.equal(error.retryAfterMs, 120_000)),
    );
    assert.ok(Date.now() - started < 1000);
  });

  void it('a read that hangs times out and is retried', async () => {
    const athena = client({ timeoutMs: 150 });
    await athena.getPatient({ practiceId: PRACTICE, patientId });
    fake.control.hangNext(1);
    const since = fake.control.requests().length;
    const patient = await athena.getPatient({ practiceId: PRACTICE, patientId });
    assert.equal(patient.patientId, patientId);
    assert.deepEqual(
      apiRequests(since).map((r) => r.status),
      ['hung', 200],
    );
  });

  void it('a whole outage fails retryable after bounded attempts', async () => {
    const athena = client({ maxAttempts: 2 });
    fake.control.setOutage(true);
    try {
      await assert.rejects(athena.getPatient({ practiceId: PRACTICE, patientId }), expectAthenaError('retryable'));
    } finally {
      fake.control.setOutage(false);
    }
  });

  void it('404 is not-found and 400 is permanent, neither retried', async () => {
    const athena = client();
    const since = fake.control.requests().length;
    await assert.rejects(
      athena.getPatient({ practiceId: PRACTICE, patientId: '999999' }),
      expectAthenaError('not-found', (error) => assert.equal(error.status, 404)),
    );
    await assert.rejects(
      athena.getPatient({ practiceId: '1', patientId }),
      expectAthenaError('not-found'),
      'unknown practice',
    );
    fake.control.failNext(1, { status: 400 });
    await assert.rejects(athena.getPatient({ practiceId: PRACTICE, patientId }), expectAthenaError('permanent'));
    assert.equal(apiRequests(since).length, 3);
  });

  void it('bad IDs are refused before any request, naming the field', async () => {
    const athena = client();
    const since = fake.control.requests().length;
    await assert.rejects(
      athena.getPatient({ practiceId: PRACTICE, patientId: '../etc' }),
      expectAthenaError('permanent', (error) => assert.match(error.message, /patientId/)),
    );
    await assert.rejects(
      athena.createPatientCase({ ...caseInput('x'), subject: ' ' }),
      expectAthenaError('permanent', (error) => assert.match(error.message, /subject/)),
    );
    assert.equal(fake.control.requests().length, since);
  });

  void describe('non-idempotent writes (athena has no idempotency keys)', () => {
    void it('a 500 after the case was created is ambiguous, not retried, and findPatientCases finds the case', async () => {
      const athena = client();
      await athena.getPatient({ practiceId: PRACTICE, patientId });
      const marker = 'LL-7f3a9c2e';
      fake.control.failNext(1, { status: 500, when: 'after', method: 'POST', pathIncludes: '/documents/patientcase' });
      const casesBefore = fake.control.patientCases().length;
      await assert.rejects(
        athena.createPatientCase(caseInput(marker)),
        expectAthenaError('ambiguous', (error) => {
          assert.equal(error.status, 500);
          assert.equal(error.attempts, 1);
        }),
      );
      assert.equal(fake.control.patientCases().length - casesBefore, 1, 'the write landed exactly once');
      const found = await casesMarked(athena, marker);
      assert.equal(found.length, 1);
      assert.equal(found[0]?.outboundOnly, true);
      assert.equal(found[0]?.priority, '1');
      assert.match(found[0]?.subject ?? '', new RegExp(marker));
    });

    void it('a 500 before processing is also ambiguous (the client cannot tell) and reconciliation finds nothing', async () => {
      const athena = client();
      const marker = 'LL-00c0ffee';
      fake.control.failNext(1, { status: 500, when: 'before', method: 'POST', pathIncludes: '/documents/patientcase' });
      await assert.rejects(athena.createPatientCase(caseInput(marker)), expectAthenaError('ambiguous'));
      const found = await casesMarked(athena, marker);
      assert.deepEqual(found, []);
    });

    void it('a timeout after the write landed is ambiguous', async () => {
      const athena = client({ timeoutMs: 150 });
      await athena.getPatient({ practiceId: PRACTICE, patientId });
      const marker = 'LL-51de0001';
      fake.control.hangNext(1, { when: 'after', method: 'POST', pathIncludes: '/documents/patientcase' });
      await assert.rejects(
        athena.createPatientCase(caseInput(marker)),
        expectAthenaError('ambiguous', (error) => assert.match(error.detail ?? '', /timed out/)),
      );
      const found = await casesMarked(athena, marker);
      assert.equal(found.length, 1);
    });

    void it('a 429 on a write is retried (refused at the door) and creates exactly one case', async () => {
      const athena = client();
      const marker = 'LL-429429aa';
      fake.control.failNext(2, { status: 429, method: 'POST', pathIncludes: '/documents/patientcase' });
      const { patientCaseId } = await athena.createPatientCase(caseInput(marker));
      const found = await casesMarked(athena, marker);
      assert.deepEqual(
        found.map((c) => c.patientCaseId),
        [patientCaseId],
      );
    });

    void it('a 401 on a write is refreshed and resent once (athena did not process it)', async () => {
      const athena = client();
      await athena.getPatient({ practiceId: PRACTICE, patientId });
      fake.control.revokeTokens();
      const notesBefore = fake.control.actionNotes().length;
      const labResultId = fake.control.addLabResult({
        practiceId: PRACTICE,
        patientId,
        resultstatus: 'Final',
      }).labResultId;
      await athena.addLabResultActionNote({ practiceId: PRACTICE, labResultId, note: 'Patient notified via portal' });
      assert.equal(fake.control.actionNotes().length - notesBefore, 1);
    });

    void it('an action note hit by a 502 is ambiguous and written once', async () => {
      const athena = client();
      const labResultId = fake.control.addLabResult({
        practiceId: PRACTICE,
        patientId,
        resultstatus: 'Final',
      }).labResultId;
      fake.control.failNext(1, { status: 502, when: 'after', pathIncludes: '/actions' });
      await assert.rejects(
        athena.addLabResultActionNote({ practiceId: PRACTICE, labResultId, note: 'Patient notified' }),
        expectAthenaError('ambiguous'),
      );
      assert.equal(fake.control.actionNotes().filter((n) => n.labResultId === labResultId).length, 1);
    });

    void it('an appended patient note is not retried, a replacing one is', async () => {
      const athena = client();
      const labResultId = fake.control.addLabResult({
        practiceId: PRACTICE,
        patientId,
        resultstatus: 'Final',
      }).labResultId;
      const ref = { practiceId: PRACTICE, patientId, labResultId };
      fake.control.failNext(1, { status: 500, when: 'after', method: 'PUT' });
      await assert.rejects(
        athena.updateLabResultPatientNote({ ...ref, note: 'append me' }),
        expectAthenaError('ambiguous'),
      );
      fake.control.failNext(1, { status: 500, when: 'after', method: 'PUT' });
      await athena.updateLabResultPatientNote({ ...ref, note: 'replace me', replace: true });
      const notes = fake.control.patientNotes().filter((n) => n.labResultId === labResultId);
      assert.deepEqual(
        notes.map((n) => [n.note, n.replace]),
        [
          ['append me', false],
          ['replace me', true],
          ['replace me', true],
        ],
      );
      assert.equal(fake.control.labResult(labResultId).patientNote, 'replace me');
    });

    void it('connection refused (nothing sent) is retryable, not ambiguous', async () => {
      const other = await startAthenaTestFake();
      other.control.addPatient({ practiceId: PRACTICE, patientId, firstName: 'A', lastName: 'B', dob: '1990-01-01' });
      const athena = athenaClientOfFake(other, { maxAttempts: 2 });
      await athena.getPatient({ practiceId: PRACTICE, patientId });
      await other.close();
      // Let the client's pool see the server's FIN, so the next request must open a new connection:
      // a request written onto a socket the server is closing is (rightly) ambiguous instead.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await assert.rejects(
        athena.createPatientCase(caseInput('LL-refused1')),
        expectAthenaError('retryable', (error) => {
          assert.equal(error.attempts, 2);
          assert.match(error.detail ?? '', /ECONNREFUSED/);
        }),
      );
    });
  });

  void it('paces requests with the token bucket', async () => {
    const athena = client({ requestsPerSecond: 20 });
    const started = Date.now();
    // 1 token request + 29 API requests: 20 go at once, the other 10 at 20/s.
    await Promise.all(Array.from({ length: 29 }, () => athena.getPatient({ practiceId: PRACTICE, patientId })));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 400, `30 requests at 20/s with a burst of 20 took only ${elapsed} ms`);
    assert.ok(elapsed < 3000, `pacing took ${elapsed} ms`);
  });

  void it('backoff is full jitter under an exponential, capped ceiling', () => {
    const policy = { baseDelayMs: 250, maxDelayMs: 8000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((retry) => backoffDelayMs(retry, policy, () => 0.999999)),
      [249, 499, 999, 1999, 3999, 7999, 7999, 7999],
    );
    assert.equal(
      backoffDelayMs(3, policy, () => 0),
      0,
    );
    assert.equal(parseRetryAfterMs('7', 0), 7000);
    assert.equal(
      parseRetryAfterMs('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')),
      10_000,
    );
    assert.equal(parseRetryAfterMs('soon', 0), undefined);
    assert.equal(parseRetryAfterMs(null, 0), undefined);
  });
});
