import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAthenaIngestActivities } from '../../activities/athena-ingest';
import type { AthenaIngestOutcome } from '../../domain/athena-ingest-contract';
import { createAuditLog } from '../../lib/audit';
import { AthenaError, createAthenaClient, type AthenaClient } from '../../lib/clients/athena';
import { createLogger } from '../../lib/logger';
import { loadPracticeRegistry } from '../../lib/practices';
import { startAthenaFake, type AthenaFake } from '../../sandbox/fakes/athena';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * athena words its refusals freely, and its `detailedmessage` may quote what the request named: a
 * patient's name, a date of birth. That text must never reach a log line, an audit row, a dead letter
 * or a Temporal failure. AthenaError's message carries the operation, kind, HTTP status, athena's
 * error code and the request ID only; athena's wording is a non-enumerable field no serialiser sees.
 */

const CLIENT_ID = 'athena-phi-test-client';
const CLIENT_SECRET = 'athena-phi-test-secret';
const PRACTICE_ID = '195900';
const PATIENT_NAME = 'Evangeline Thistlewood';
const DOB = '07/04/1961';
const VENDOR_TEXT = `No chart could be opened for ${PATIENT_NAME} (DOB ${DOB}) in department 1.`;
const FORBIDDEN = ['Evangeline', 'Thistlewood', DOB];

/** The activity log as text (entries carry a bigint timestamp). */
function logText(entries: readonly LogEntry[]): string {
  return JSON.stringify(entries, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value));
}

function assertNoVendorText(text: string, where: string): void {
  for (const phi of FORBIDDEN) assert.ok(!text.includes(phi), `${where} must not contain ${phi}: ${text}`);
}

void describe('athena errors carry no vendor text into logs, audit rows or dead letters', () => {
  let fake: AthenaFake;
  let athena: AthenaClient;
  let db: TestDatabase;
  let patientId: string;

  before(async () => {
    fake = await startAthenaFake({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, practiceIds: [PRACTICE_ID] });
    athena = createAthenaClient({
      baseUrl: fake.url,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      retryBaseDelayMs: 1,
      retryMaxDelayMs: 5,
      maxAttempts: 2,
      requestsPerSecond: 1000,
      timeoutMs: 5_000,
    });
    db = await createTestDatabase('athena_error_phi');
    patientId = fake.control.addPatient({
      practiceId: PRACTICE_ID,
      firstName: 'Evangeline',
      lastName: 'Thistlewood',
      dob: '1961-07-04',
    }).patientId;
  });
  after(async () => {
    await fake?.close();
    await db?.close();
  });

  const failWithVendorText = (status: number, pathIncludes: string) =>
    fake.control.failNext(status >= 500 ? 2 : 1, {
      status,
      method: 'GET',
      pathIncludes,
      errorBody: { error: 'No chart for Evangeline Thistlewood', detailedmessage: VENDOR_TEXT },
    });

  void it('the error message, its JSON and a pino log of it name operation, status and request, never athena’s words', async () => {
    failWithVendorText(400, '/patients/');
    const error = await athena.getPatient({ practiceId: PRACTICE_ID, patientId }).then(
      () => assert.fail('athena refused the request'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof AthenaError);
    assert.equal(error.kind, 'permanent');
    assert.match(error.message, /^athena getPatient failed \(permanent, HTTP 400, request [0-9a-f-]{36}\)$/);
    assert.equal(error.athenaError, undefined, 'prose in the error field is not an error code');
    assertNoVendorText(error.message, 'the message');
    assertNoVendorText(JSON.stringify(error), 'the JSON form');
    assertNoVendorText(String(error.stack), 'the stack');
    const lines: string[] = [];
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    createLogger('trace', 'athena-error-phi', capture).warn({ err: error }, 'athena call failed');
    assert.equal(lines.length, 1);
    assertNoVendorText(lines.join(''), 'the log line');
    // Still there for whoever debugs this one error by hand.
    assert.match(error.vendorMessage ?? '', /No chart could be opened/);

    const coded = new AthenaError({ kind: 'auth', operation: 'token', status: 401, athenaError: 'invalid_client' });
    assert.equal(coded.message, 'athena token failed (auth, HTTP 401, athena error invalid_client)');
    const written = new AthenaError({
      kind: 'permanent',
      operation: 'createPatientCase',
      detail: 'athena answered success=false',
      vendorMessage: VENDOR_TEXT,
    });
    assertNoVendorText(`${written.message} ${JSON.stringify(written)}`, 'a refused write');
  });

  void it('the ingest path: a refused document is dead-lettered and audited, and a retried one fails, without athena’s words', async () => {
    const entries: LogEntry[] = [];
    const env = new MockActivityEnvironment(
      { activityId: 'ingest-1' },
      { logger: new DefaultLogger('TRACE', (entry) => entries.push(entry)) },
    );
    const activities = createAthenaIngestActivities({
      pool: db.pool,
      audit: createAuditLog(db.pool),
      athena,
      practices: loadPracticeRegistry('config/practices.sandbox.json'),
      idSecret: 'athena-error-phi-id-secret',
      now: () => new Date(),
      temporal: () => assert.fail('nothing is handed off'),
      labResultTaskQueue: 'athena-error-phi',
    });
    const refused = fake.control.addLabResult({
      practiceId: PRACTICE_ID,
      patientId,
      resultstatus: 'Final',
    }).labResultId;
    failWithVendorText(400, `/documents/labresult/${refused}`);
    const request = { practiceId: PRACTICE_ID, labResultId: refused, patientId, trigger: 'feed' as const };
    const outcome: AthenaIngestOutcome = await env.run(
      (r: typeof request) => activities.ingestAthenaLabResult(r),
      request,
    );
    assert.equal(outcome.kind, 'dead-lettered');
    assert.ok(outcome.kind === 'dead-lettered');
    assert.match(outcome.reason, /^athena getLabResult failed \(permanent, HTTP 400, request /);
    assertNoVendorText(outcome.reason, 'the dead-letter reason');

    const deadLetters = await db.pool.query('SELECT * FROM athena_ingest_dead_letter');
    assert.equal(deadLetters.rows.length, 1);
    assertNoVendorText(JSON.stringify(deadLetters.rows), 'the dead-letter table');
    const audit = await db.pool.query(`SELECT * FROM audit_log WHERE outcome = 'dead-lettered'`);
    assert.equal(audit.rows.length, 1, 'the dead-lettering was audited');
    assertNoVendorText(JSON.stringify(audit.rows), 'the audit row');
    const warned = entries.filter((e) => e.message === 'athena result dead-lettered');
    assert.equal(warned.length, 1, 'the dead-lettering was logged');
    assertNoVendorText(logText(entries), 'the activity log');

    // athena unavailable (5xx) with the same wording: the activity fails for Temporal to retry, and
    // the failure Temporal records (message and stack) carries none of it either.
    const flaky = fake.control.addLabResult({ practiceId: PRACTICE_ID, patientId, resultstatus: 'Final' }).labResultId;
    failWithVendorText(503, `/documents/labresult/${flaky}`);
    const failure = await env
      .run((r: typeof request) => activities.ingestAthenaLabResult(r), { ...request, labResultId: flaky })
      .then(
        () => assert.fail('the activity should fail'),
        (err: unknown) => err,
      );
    assert.ok(failure instanceof AthenaError);
    assert.equal(failure.kind, 'retryable');
    assertNoVendorText(`${failure.message}\n${String(failure.stack)}\n${JSON.stringify(failure)}`, 'the failure');
    assertNoVendorText(logText(entries), 'the activity log');
  });
});
