import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { workflowIdForResult } from '../../lib/ingest/handoff';
import {
  AUTH,
  fhirFixture,
  ingestRows,
  PRACTICE_ID,
  signalCount,
  startIngestHarness,
  unreachableTemporalClient,
  workflowExists,
  workflowIdsOnQueue,
  type IngestHarness,
} from './ingest-harness';

/**
 * `POST /v1/fhir` end to end (real Temporal dev server, real worker and workflow, PostgreSQL):
 * DiagnosticReports with contained Observations and Bundles of referenced ones become workflow
 * starts/signals keyed like every other source; a retransmission is recognised; every bad input is a
 * FHIR OperationOutcome naming the path, with nothing recorded and nothing started.
 */

const tag = () => randomBytes(4).toString('hex').toUpperCase();
/** identifier.system of the report in diagnostic-report-contained.json: the issuer of its ID. */
const REPORT_SYSTEM = 'urn:oid:2.16.840.1.113883.3.9999.2';
/** Report identifiers without a system are the authenticated sender's (the harness token is "ingest-test"). */
const BARE_ISSUER = 'fhir-client:ingest-test';

interface Accepted {
  results: { workflowId: string; statusUrl: string }[];
  duplicate: boolean;
}
interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: { severity: string; code: string; diagnostics: string; expression?: string[] }[];
}

/** A fixture with its result identifiers made unique to one test. */
function uniqueFixture(name: string, t: string): string {
  return JSON.stringify(fhirFixture(name))
    .replace(/FIL-/g, `FIL-${t}-`)
    .replace(/"dr-8002"/g, `"dr-8002-${t}"`);
}

void describe('FHIR R4 ingest route, end to end', () => {
  let h: IngestHarness;
  before(async () => {
    h = await startIngestHarness({ label: 'fhir_route' });
  });
  after(async () => {
    await h?.close();
  });

  const post = (
    payload: string,
    options: { contentType?: string; practice?: string | null; headers?: Record<string, string> } = {},
  ) => {
    const practice = options.practice === undefined ? PRACTICE_ID : options.practice;
    return h.built.app.inject({
      method: 'POST',
      url: practice === null ? '/v1/fhir' : `/v1/fhir?practice=${encodeURIComponent(practice)}`,
      headers: { ...AUTH, 'content-type': options.contentType ?? 'application/fhir+json', ...options.headers },
      payload,
    });
  };

  /** Asserts an OperationOutcome response, that nothing was recorded or started, and returns it. */
  async function refusedWithNothingStarted(
    send: () => Promise<{ statusCode: number; body: string; headers: Record<string, unknown> }>,
    status: number,
  ): Promise<OperationOutcome> {
    const rowsBefore = (await ingestRows(h)).length;
    const workflowsBefore = await workflowIdsOnQueue(h.client, h.taskQueue);
    const response = await send();
    assert.equal(response.statusCode, status, response.body);
    assert.match(String(response.headers['content-type']), /application\/fhir\+json/);
    const outcome = JSON.parse(response.body) as OperationOutcome;
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.ok(outcome.issue.length > 0);
    assert.equal((await ingestRows(h)).length, rowsBefore, 'nothing recorded');
    assert.deepEqual(await workflowIdsOnQueue(h.client, h.taskQueue), workflowsBefore, 'nothing started');
    return outcome;
  }

  void it('accepts a DiagnosticReport with contained Observations: 202, Location, the workflow exists; a retransmission starts nothing new', async () => {
    const t = tag();
    const body = uniqueFixture('diagnostic-report-contained', t);
    const response = await post(body);
    assert.equal(response.statusCode, 202, response.body);
    const accepted = response.json<Accepted>();
    const workflowId = workflowIdForResult(h.idSecret, {
      practiceId: PRACTICE_ID,
      issuer: REPORT_SYSTEM,
      resultId: `FIL-${t}-88001`,
    });
    assert.deepEqual(
      accepted.results.map((r) => r.workflowId),
      [workflowId],
    );
    assert.equal(accepted.duplicate, false);
    assert.equal(response.headers.location, accepted.results[0]?.statusUrl);
    assert.match(accepted.results[0]?.statusUrl ?? '', new RegExp(`/v1/results/${workflowId}$`));
    assert.equal(await workflowExists(h.client, workflowId), true);

    const again = await post(body, { contentType: 'application/fhir+json; charset=utf-8' });
    assert.equal(again.statusCode, 202);
    assert.equal(again.json<Accepted>().duplicate, true);
    assert.equal(await signalCount(h.client, workflowId), 1, 'a retransmission signals nothing');
    const rows = (await ingestRows(h)).filter((r) => r.workflow_ids.includes(workflowId));
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.source, 'fhir');
    assert.match(rows[0]?.message_id ?? '', /^sha256:[0-9a-f]{64}$/);
  });

  void it('accepts Bundles (searchset, and transaction with urn:uuid references) as application/json: one workflow per report', async () => {
    const t = tag();
    const searchset = await post(uniqueFixture('bundle-searchset', t), { contentType: 'application/json' });
    assert.equal(searchset.statusCode, 202, searchset.body);
    assert.equal(searchset.json<Accepted>().results.length, 1);

    const transaction = await post(uniqueFixture('bundle-transaction-urn', t));
    assert.equal(transaction.statusCode, 202, transaction.body);
    const ids = transaction.json<Accepted>().results.map((r) => r.workflowId);
    assert.deepEqual(ids, [
      workflowIdForResult(h.idSecret, { practiceId: PRACTICE_ID, issuer: BARE_ISSUER, resultId: `FIL-${t}-88006` }),
      workflowIdForResult(h.idSecret, { practiceId: PRACTICE_ID, issuer: BARE_ISSUER, resultId: `FIL-${t}-88005` }),
    ]);
    for (const id of [...ids, searchset.json<Accepted>().results[0]?.workflowId ?? '']) {
      assert.equal(await workflowExists(h.client, id), true, id);
    }
  });

  void it('a corrected version of the same report signals the same workflow', async () => {
    const t = tag();
    const first = (await post(uniqueFixture('diagnostic-report-contained', t))).json<Accepted>();
    const report = JSON.parse(uniqueFixture('diagnostic-report-contained', t)) as {
      meta: { versionId: string };
      status: string;
    };
    report.meta.versionId = '4';
    report.status = 'amended';
    const second = await post(JSON.stringify(report));
    assert.equal(second.statusCode, 202);
    assert.deepEqual(
      second.json<Accepted>().results.map((r) => r.workflowId),
      first.results.map((r) => r.workflowId),
    );
    assert.equal(await signalCount(h.client, first.results[0]?.workflowId ?? ''), 2);
  });

  void it('400 naming every invalid path in a Bundle (bad values, unresolvable references)', async () => {
    const bad = await refusedWithNothingStarted(() => post(JSON.stringify(fhirFixture('bad-bundle'))), 400);
    const expressions = bad.issue.flatMap((i) => i.expression ?? []);
    assert.ok(expressions.includes('entry[1].resource.valueQuantity.value'), expressions.join(', '));
    assert.ok(bad.issue.every((i) => i.severity === 'error'));

    const refs = await refusedWithNothingStarted(() => post(JSON.stringify(fhirFixture('bad-references'))), 400);
    const refPaths = refs.issue.flatMap((i) => i.expression ?? []);
    assert.ok(refPaths.includes('entry[0].resource.subject'), refPaths.join(', '));
    assert.ok(refPaths.includes('entry[0].resource.result[1]'), refPaths.join(', '));
  });

  void it('400 for a body that is not JSON, or not a DiagnosticReport or Bundle', async () => {
    const notJson = await refusedWithNothingStarted(() => post('{"resourceType": "Bundle", '), 400);
    assert.match(notJson.issue[0]?.diagnostics ?? '', /not valid JSON/);
    const patient = await refusedWithNothingStarted(
      () => post(JSON.stringify({ resourceType: 'Patient', id: 'p1' })),
      400,
    );
    assert.deepEqual(patient.issue[0]?.expression, ['resourceType']);
    const noReports = await refusedWithNothingStarted(
      () => post(JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [] })),
      400,
    );
    assert.deepEqual(noReports.issue[0]?.expression, ['entry']);
  });

  void it('400 when the practice is not named, 422 when it is not one we serve', async () => {
    const t = tag();
    const missing = await refusedWithNothingStarted(
      () => post(uniqueFixture('diagnostic-report-contained', t), { practice: null }),
      400,
    );
    assert.deepEqual(missing.issue[0]?.expression, ['practice']);
    assert.equal(missing.issue[0]?.code, 'required');
    const unknown = await refusedWithNothingStarted(
      () => post(uniqueFixture('diagnostic-report-contained', t), { practice: 'nowhere-clinic' }),
      422,
    );
    assert.match(unknown.issue[0]?.diagnostics ?? '', /nowhere-clinic.*not configured/);
  });

  void it('415 for another content type, 413 for an oversize body, 401 without a valid token', async () => {
    const t = tag();
    const wrongType = await refusedWithNothingStarted(
      () => post(uniqueFixture('diagnostic-report-contained', t), { contentType: 'text/plain' }),
      415,
    );
    assert.equal(wrongType.issue[0]?.code, 'not-supported');
    assert.match(wrongType.issue[0]?.diagnostics ?? '', /application\/fhir\+json.*text\/plain/);

    const report = JSON.parse(uniqueFixture('diagnostic-report-contained', t)) as Record<string, unknown>;
    report.conclusion = 'x'.repeat(1024 * 1024);
    const oversize = await refusedWithNothingStarted(() => post(JSON.stringify(report)), 413);
    assert.equal(oversize.issue[0]?.code, 'too-long');

    const rowsBefore = (await ingestRows(h)).length;
    const noToken = await h.built.app.inject({
      method: 'POST',
      url: `/v1/fhir?practice=${PRACTICE_ID}`,
      headers: { 'content-type': 'application/fhir+json' },
      payload: uniqueFixture('diagnostic-report-contained', t),
    });
    assert.equal(noToken.statusCode, 401);
    const badToken = await post(uniqueFixture('diagnostic-report-contained', t), {
      headers: { authorization: 'Bearer wrong' },
    });
    assert.equal(badToken.statusCode, 401);
    assert.equal((await ingestRows(h)).length, rowsBefore);
  });

  void it('503 (transient, Retry-After) while Temporal is unreachable, nothing recorded as handed off; the resend is handed off once', async () => {
    const down = await h.buildApi({ temporal: await unreachableTemporalClient(), temporalDeadlineMs: 500 });
    const t = tag();
    const body = uniqueFixture('diagnostic-report-contained', t);
    const refused = await down.app.inject({
      method: 'POST',
      url: `/v1/fhir?practice=${PRACTICE_ID}`,
      headers: { ...AUTH, 'content-type': 'application/fhir+json' },
      payload: body,
    });
    assert.equal(refused.statusCode, 503, refused.body);
    assert.ok(Number(refused.headers['retry-after']) > 0);
    assert.equal(refused.json<OperationOutcome>().issue[0]?.code, 'transient');
    const workflowId = workflowIdForResult(h.idSecret, {
      practiceId: PRACTICE_ID,
      issuer: REPORT_SYSTEM,
      resultId: `FIL-${t}-88001`,
    });
    assert.ok((await ingestRows(h)).every((r) => !r.workflow_ids.includes(workflowId) || r.status !== 'handed-off'));
    assert.equal(await workflowExists(h.client, workflowId), false);

    const resent = await post(body);
    assert.equal(resent.statusCode, 202);
    assert.equal(resent.json<Accepted>().duplicate, false);
    assert.equal(await signalCount(h.client, workflowId), 1);
  });
});
