import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  ATHENA_RETRYABLE_ERROR_TYPE,
  createAthenaActivities,
  markerFor,
  PATIENT_CASE_CALLBACK_NUMBER_TYPE,
  PORTAL_PUBLICATION_MAX_WAIT_MS,
} from '../../activities/athena';
import type { CallTaskRequest, PortalNoteRequest } from '../../domain/activity-contract';
import { ActivityErrorType } from '../../domain/activity-error-types';
import { outboxIdempotencyKey } from '../../lib/outbox/outbox';
import { createAuditLog } from '../../lib/audit';
import { CallTaskError, completeCallTask, getCallTask, listOpenCallTasks } from '../../lib/call-tasks';
import { createAthenaClient } from '../../lib/clients/athena';
import { loadPracticeRegistry, parsePracticeRegistry } from '../../lib/practices';
import { startAthenaFake, type AthenaFake } from '../../sandbox/fakes/athena';
import { athenaClientOfFake, startAthenaTestFake } from '../support/athena';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { failureOf } from '../support/activity-failure';

/**
 * The athena activities through the real athena client against the athena fake over HTTP, with a
 * real PostgreSQL: the portal note written on the lab-result document and its publication read back;
 * results that are not athena's answered "not published" with the reason audited; outbound-call tasks
 * as a local task plus an athena patient case (outbound-only, priority, assignee), reconciled by
 * marker when the create's answer is lost; outages as retryable failures.
 */

const CLIENT_ID = 'athena-channel-client';
const CLIENT_SECRET = 'athena-channel-secret';
const PRACTICE = '195900';

let seq = 0;
const workflowId = () => `lab-result-${PRACTICE}-${String(++seq).padStart(32, '0')}`;

describe('athena activities against the athena fake', () => {
  let db: TestDatabase;
  let fake: AthenaFake;
  let activities: ReturnType<typeof createAthenaActivities>;
  /** Our clock for the publication window: tests move it forward instead of waiting. */
  let clockOffsetMs = 0;
  let patientId: string;
  let labResultId: string;

  before(async () => {
    db = await createTestDatabase('channel_athena');
    fake = await startAthenaFake({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const deps = {
      pool: db.pool,
      audit: createAuditLog(db.pool),
      athena: createAthenaClient({
        baseUrl: fake.url,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        timeoutMs: 1000,
        maxAttempts: 2,
        retryBaseDelayMs: 1,
        retryMaxDelayMs: 5,
        requestsPerSecond: 1000,
      }),
      practices: loadPracticeRegistry('config/practices.sandbox.json'),
      now: () => new Date(Date.now() + clockOffsetMs),
    };
    activities = createAthenaActivities(deps);
    const patient = fake.control.addPatient({
      practiceId: PRACTICE,
      firstName: 'Robin',
      lastName: 'Vale',
      dob: '1970-02-03',
      mobilePhone: '5550301111',
    });
    patientId = patient.patientId;
    labResultId = fake.control.addLabResult({
      practiceId: PRACTICE,
      patientId,
      description: 'CBC',
      resultstatus: 'Final',
    }).labResultId;
  });
  afterEach(() => {
    fake.control.clearFailures();
    fake.control.setPortalPublication({ mode: 'immediate' });
    clockOffsetMs = 0;
  });
  after(async () => {
    await fake.close();
    await db.close();
  });

  const noteRequest = (overrides: Partial<PortalNoteRequest> = {}): PortalNoteRequest => ({
    workflowId: workflowId(),
    resultVersion: 1,
    step: 'portal-note',
    practiceId: PRACTICE,
    patientId,
    source: 'athena',
    resultId: labResultId,
    note: 'Your results are normal. No action is needed.',
    ...overrides,
  });
  const callRequest = (overrides: Partial<CallTaskRequest> = {}): CallTaskRequest => ({
    workflowId: workflowId(),
    resultVersion: 1,
    step: 'call-critical',
    practiceId: PRACTICE,
    patientId,
    reason: 'critical-result',
    priority: 'urgent',
    ...overrides,
  });
  const auditOutcomes = async (wf: string) =>
    (
      await db.pool.query<{ a: string }>(
        `SELECT action || ':' || outcome AS a FROM audit_log WHERE workflow_id = $1 ORDER BY seq`,
        [wf],
      )
    ).rows.map((r) => r.a);

  it('writes the patient note on the lab-result document and reports athena publishing it', async () => {
    const request = noteRequest();
    const before = fake.control.patientNotes().length;
    const outcome = await activities.postPortalNote(request);
    assert.equal(outcome.published, true);
    assert.ok(outcome.publishedAt !== undefined && !Number.isNaN(Date.parse(outcome.publishedAt)));
    assert.equal(outcome.alreadySent, false);
    const notes = fake.control.patientNotes().slice(before);
    assert.equal(notes.length, 1);
    assert.equal(notes[0]?.labResultId, labResultId);
    assert.equal(notes[0]?.replace, true, 'replace, so a retry cannot append a second copy');
    assert.equal(fake.control.labResult(labResultId).patientNote, request.note);

    const again = await activities.postPortalNote(request);
    assert.equal(again.alreadySent, true);
    assert.equal(again.published, true);
    assert.equal(fake.control.patientNotes().length, before + 1, 'no second write');
    assert.deepEqual(await auditOutcomes(request.workflowId), ['send-intent:recorded', 'send:sent', 'send:published']);
  });

  const freshResult = (overrides: { portalPublishedAt?: string } = {}) =>
    fake.control.addLabResult({ practiceId: PRACTICE, patientId, description: 'Lipid panel', ...overrides })
      .labResultId;

  it('athena publishes later: "not yet" is retried (PortalNotYetPublished with the next poll), then published', async () => {
    fake.control.setPortalPublication({ mode: 'delayed', delayMs: 30_000 });
    const request = noteRequest({ resultId: freshResult() });
    const notYet = await failureOf(activities.postPortalNote(request));
    assert.equal(notYet.type, ActivityErrorType.PORTAL_NOT_YET_PUBLISHED);
    assert.equal(notYet.nonRetryable, false, 'Temporal retries it');
    assert.equal(notYet.nextRetryDelay, 5_000, 'the first poll comes 5 s after the write');
    assert.equal(fake.control.patientNotes().filter((n) => n.labResultId === request.resultId).length, 1);

    // athena publishes 30 s after the write; our next attempt (a retry) sees it and does not write again.
    fake.control.advanceTime(31_000);
    clockOffsetMs = 31_000;
    const outcome = await activities.postPortalNote(request);
    assert.equal(outcome.published, true);
    assert.equal(outcome.alreadySent, true);
    assert.equal(fake.control.patientNotes().filter((n) => n.labResultId === request.resultId).length, 1);
    assert.deepEqual(await auditOutcomes(request.workflowId), ['send-intent:recorded', 'send:sent', 'send:published']);
  });

  it('a practice that never publishes: "not yet" until the window is over, then "not published"', async () => {
    fake.control.setPortalPublication({ mode: 'never' });
    const request = noteRequest({ resultId: freshResult() });
    assert.equal(
      (await failureOf(activities.postPortalNote(request))).type,
      ActivityErrorType.PORTAL_NOT_YET_PUBLISHED,
    );
    clockOffsetMs = PORTAL_PUBLICATION_MAX_WAIT_MS / 2;
    const halfway = await failureOf(activities.postPortalNote(request));
    assert.equal(halfway.type, ActivityErrorType.PORTAL_NOT_YET_PUBLISHED);
    assert.equal(halfway.nextRetryDelay, 120_000, 'polls back off to every 2 minutes');
    clockOffsetMs = PORTAL_PUBLICATION_MAX_WAIT_MS + 1_000;
    const outcome = await activities.postPortalNote(request);
    assert.deepEqual(outcome, { published: false, alreadySent: true });
    assert.deepEqual(await auditOutcomes(request.workflowId), [
      'send-intent:recorded',
      'send:sent',
      'send:not-published',
    ]);
  });

  it('an earlier publication (of an older note) does not count as publishing ours', async () => {
    fake.control.setPortalPublication({ mode: 'never' });
    const olderPublication = new Date(Date.now() - 60 * 60_000).toISOString();
    const request = noteRequest({ resultId: freshResult({ portalPublishedAt: olderPublication }) });
    const notYet = await failureOf(activities.postPortalNote(request));
    assert.equal(notYet.type, ActivityErrorType.PORTAL_NOT_YET_PUBLISHED);
    assert.deepEqual(notYet.details?.[0], { stalePublication: true, nextPollMs: 5_000 });
    clockOffsetMs = PORTAL_PUBLICATION_MAX_WAIT_MS + 1_000;
    const outcome = await activities.postPortalNote(request);
    assert.equal(outcome.published, false, 'the document shows a publication, but an hour older than our note');
    const { rows } = await db.pool.query<{ details: { olderPublicationAt?: string } }>(
      `SELECT details FROM audit_log WHERE workflow_id = $1 AND outcome = 'not-published'`,
      [request.workflowId],
    );
    assert.ok(rows[0]?.details.olderPublicationAt !== undefined, 'the older publication is audited');

    // When the practice does publish, the new note gets its own, later publication, and that counts.
    fake.control.setPortalPublication({ mode: 'immediate' });
    const republished = noteRequest({ resultId: freshResult({ portalPublishedAt: olderPublication }) });
    const published = await activities.postPortalNote(republished);
    assert.equal(published.published, true);
    assert.ok(Date.parse(published.publishedAt ?? '') > Date.parse(olderPublication));
  });

  it('an HL7 or FHIR result is not athena document: not published, nothing written, the reason audited', async () => {
    const before = fake.control.patientNotes().length;
    for (const source of ['hl7', 'fhir'] as const) {
      const request = noteRequest({ source, resultId: 'ACC-12345' });
      assert.deepEqual(await activities.postPortalNote(request), { published: false, alreadySent: false });
      const { rows } = await db.pool.query<{ outcome: string; details: { reason: string } }>(
        `SELECT outcome, details FROM audit_log WHERE workflow_id = $1`,
        [request.workflowId],
      );
      assert.deepEqual(
        rows.map((r) => [r.outcome, r.details.reason]),
        [['not-publishable', `result-from-${source}`]],
      );
    }
    assert.equal(fake.control.patientNotes().length, before);
  });

  it('an athena outage is retryable; a missing document is AthenaPermanentError', async () => {
    fake.control.setOutage(true);
    const outage = await failureOf(activities.postPortalNote(noteRequest()));
    assert.equal(outage.type, ATHENA_RETRYABLE_ERROR_TYPE);
    assert.equal(outage.nonRetryable, false);
    fake.control.setOutage(false);
    const missing = await failureOf(activities.postPortalNote(noteRequest({ resultId: '999999' })));
    assert.equal(missing.type, ActivityErrorType.ATHENA_PERMANENT);
  });

  it('creates a call task and its athena patient case: outbound-only, urgent, assigned to the staff queue; once', async () => {
    const request = callRequest();
    const outcome = await activities.createCallTask(request);
    assert.match(outcome.taskId, /^ct_[0-9a-f]{24}$/);
    assert.equal(outcome.alreadySent, false);
    const patientCase = fake.control.patientCases().find((c) => c.patientCaseId === outcome.athenaCaseId);
    assert.ok(patientCase !== undefined);
    assert.equal(patientCase.outboundOnly, true);
    assert.equal(patientCase.priority, '1');
    assert.equal(patientCase.assignedTo, 'CALLBACKQUEUE', "the practice's call-task queue (callTaskQueueUsername)");
    assert.equal(patientCase.callbackNumberType, PATIENT_CASE_CALLBACK_NUMBER_TYPE, 'athena takes the chart number');
    assert.equal(patientCase.callbackNumber, undefined, 'callbacknumber XOR callbacknumbertype');
    assert.equal(patientCase.fields.outboundonly, 'true');
    assert.ok(patientCase.subject?.includes(markerFor(outboxIdempotencyKey(request))));
    assert.doesNotMatch(`${patientCase.subject} ${patientCase.internalNote}`, /Robin|Vale|CBC/);

    const task = await getCallTask(db.pool, outcome.taskId);
    assert.equal(task?.status, 'open');
    assert.equal(task?.athenaCaseId, outcome.athenaCaseId);
    assert.equal(task?.assignedTo, undefined, 'nobody in particular: whoever works the queue');
    assert.ok((await listOpenCallTasks(db.pool, PRACTICE)).some((t) => t.id === outcome.taskId));

    const cases = fake.control.patientCases().length;
    assert.deepEqual(await activities.createCallTask(request), { ...outcome, alreadySent: true });
    assert.equal(fake.control.patientCases().length, cases, 'no second case');
    assert.deepEqual(await auditOutcomes(request.workflowId), ['send-intent:recorded', 'call-task:sent']);
  });

  it("a create whose answer was lost is found again by its marker: one case, 'reconciled' audited", async () => {
    const request = callRequest({ step: 'call-lost', priority: 'normal', assignToStaffId: 'prov-1' });
    const cases = fake.control.patientCases().length;
    fake.control.failNext(1, { when: 'after', method: 'POST', pathIncludes: 'patientcase', status: 502 });
    const failure = await failureOf(activities.createCallTask(request));
    assert.equal(failure.type, ATHENA_RETRYABLE_ERROR_TYPE);
    assert.equal(fake.control.patientCases().length, cases + 1, 'athena created it all the same');

    const retried = await activities.createCallTask(request);
    assert.equal(fake.control.patientCases().length, cases + 1, 'reconciled, not created twice');
    const patientCase = fake.control.patientCases().at(-1);
    assert.equal(retried.athenaCaseId, patientCase?.patientCaseId);
    assert.equal(patientCase?.priority, '2');
    assert.equal(patientCase?.assignedTo, 'achen', 'assigned after reconciliation too');
    assert.deepEqual(await auditOutcomes(request.workflowId), [
      'send-intent:recorded',
      'call-task:ambiguous',
      'call-task:reconciled',
    ]);
  });

  it('a patient athena does not know still gets the local task, the skipped case audited', async () => {
    const request = callRequest({ patientId: '424242', step: 'call-unknown' });
    const outcome = await activities.createCallTask(request);
    assert.equal(outcome.athenaCaseId, undefined);
    assert.equal((await getCallTask(db.pool, outcome.taskId))?.status, 'open');
    assert.ok((await auditOutcomes(request.workflowId)).includes('call-task:athena-case-skipped'));
  });

  it('without athena the task list is the whole work item', async () => {
    const json = JSON.parse(readFileSync('config/practices.sandbox.json', 'utf8')) as {
      practices: { routing: Record<string, unknown> }[];
    };
    for (const p of json.practices) delete p.routing.athenaPracticeId;
    const local = createAthenaActivities({
      pool: db.pool,
      audit: createAuditLog(db.pool),
      athena: createAthenaClient({ baseUrl: 'http://127.0.0.1:9', clientId: 'x', clientSecret: 'y' }),
      practices: parsePracticeRegistry(json),
      now: () => new Date(),
    });
    const request = callRequest({ step: 'call-local' });
    const outcome = await local.createCallTask(request);
    assert.equal(outcome.athenaCaseId, undefined);
    assert.deepEqual(await auditOutcomes(request.workflowId), ['send-intent:recorded', 'call-task:sent']);
  });

  it('staff complete a task through lib/call-tasks, which names the workflow to signal; twice is harmless', async () => {
    const request = callRequest({ step: 'call-complete' });
    const { taskId } = await activities.createCallTask(request);
    const done = await completeCallTask(db.pool, { id: taskId, staffId: 'staff-1', outcome: 'reached' });
    assert.equal(done.workflowId, request.workflowId);
    assert.equal(done.alreadyCompleted, false);
    assert.equal(done.task.status, 'completed');
    assert.equal(done.task.outcome, 'reached');
    const twice = await completeCallTask(db.pool, { id: taskId, staffId: 'staff-1', outcome: 'voicemail' });
    assert.equal(twice.alreadyCompleted, true);
    assert.equal(twice.task.outcome, 'reached', 'the first completion stands');
    assert.ok(!(await listOpenCallTasks(db.pool, PRACTICE)).some((t) => t.id === taskId));
    await assert.rejects(
      completeCallTask(db.pool, { id: 'ct_nope', staffId: 'staff-1', outcome: 'reached' }),
      CallTaskError,
    );
    await assert.rejects(
      completeCallTask(db.pool, { id: taskId, staffId: 'staff-1', outcome: 'reached', practiceId: 'other-practice' }),
      (err: unknown) => err instanceof CallTaskError && err.reason === 'not-found',
    );
  });
  it('athena refuses a patient case without its required fields, or with both callback fields, with a 400', async () => {
    const token = await (
      await fetch(`${fake.url}/oauth2/v1/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'athena/service/Athenanet.MDP.*' }),
      })
    ).json();
    const create = (form: Record<string, string>) =>
      fetch(`${fake.url}/v1/${PRACTICE}/patients/${patientId}/documents/patientcase`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${(token as { access_token: string }).access_token}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams(form),
      });
    const complete = {
      departmentid: '1',
      documentsource: 'OTHER',
      documentsubclass: 'LABRESULTS',
      outboundonly: 'true',
    };
    const before = fake.control.patientCases().length;
    const missing = await create({ departmentid: '1', outboundonly: 'true' });
    assert.equal(missing.status, 400);
    assert.deepEqual(((await missing.json()) as { missingfields?: string[] }).missingfields, [
      'documentsource',
      'documentsubclass',
    ]);
    const both = await create({ ...complete, callbacknumber: '5550301111', callbacknumbertype: 'MOBILE' });
    assert.equal(both.status, 400);
    assert.equal(fake.control.patientCases().length, before, 'nothing was created');
    assert.equal((await create({ ...complete, callbacknumbertype: 'MOBILE' })).status, 200);

    // Our client never sends both.
    await assert.rejects(
      createAthenaClient({ baseUrl: fake.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }).createPatientCase({
        practiceId: PRACTICE,
        patientId,
        departmentId: '1',
        subject: 's',
        internalNote: 'n',
        priority: 2,
        outboundOnly: true,
        documentSource: 'OTHER',
        documentSubclass: 'LABRESULTS',
        callbackNumber: '+15550301111',
        callbackNumberType: 'MOBILE',
      }),
      /callbackNumber or callbackNumberType, not both/,
    );
  });

  it('reconciling against an athena without the (undocumented) case list: unknown, so one resend, audited', async () => {
    const strict = await startAthenaTestFake({ patientCaseList: 'refused' });
    // Its own database: this fake numbers its cases from the same start as the other one.
    const strictDb = await createTestDatabase('channel_athena_strict');
    try {
      const strictPatient = strict.control.addPatient({
        practiceId: PRACTICE,
        firstName: 'Robin',
        lastName: 'Vale',
        dob: '1970-02-03',
      }).patientId;
      const strictActivities = createAthenaActivities({
        pool: strictDb.pool,
        audit: createAuditLog(strictDb.pool),
        athena: athenaClientOfFake(strict, { timeoutMs: 1000, maxAttempts: 2, retryMaxDelayMs: 5 }),
        practices: loadPracticeRegistry('config/practices.sandbox.json'),
        now: () => new Date(),
      });
      const request = callRequest({ patientId: strictPatient, step: 'call-strict' });
      strict.control.failNext(1, { when: 'after', method: 'POST', pathIncludes: 'patientcase', status: 502 });
      await failureOf(strictActivities.createCallTask(request));
      await strictActivities.createCallTask(request);
      assert.equal(strict.control.patientCases().length, 2, 'the bound: at most one duplicate case');
      const { rows } = await strictDb.pool.query<{ a: string }>(
        `SELECT action || ':' || outcome AS a FROM audit_log WHERE workflow_id = $1 ORDER BY seq`,
        [request.workflowId],
      );
      assert.deepEqual(
        rows.map((r) => r.a),
        ['send-intent:recorded', 'call-task:ambiguous', 'call-task:ambiguous', 'call-task:sent'],
      );
    } finally {
      await strict.close();
      await strictDb.close();
    }
  });
});
