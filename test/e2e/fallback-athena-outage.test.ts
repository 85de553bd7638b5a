import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  athenaCasesOf,
  auditRows,
  callTasksOf,
  pagesAbout,
  pagesTo,
  seedAthenaPatient,
  settle,
  untilAudit,
  untilStatus,
  workflowIdOf,
} from '../fixtures/e2e/loop';
import { athenaLabResultSeed, PATIENTS } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * athena (the portal) down while a signed normal result's portal note is written, on the assembled
 * loop. Only the note write fails (PUT on that lab-result document answers 500; ingestion, patient
 * cases and everything else keep working, as in a partial athena outage):
 *
 *  - longer than the outage window: the portal note is given up at the window's end; the workflow
 *    falls back as for any channel (workflows/delivery.ts channelFallback): the administrator is
 *    paged once, and because the portal itself failed, staff get an outbound-call task (an athena
 *    patient case) so a person reaches the patient;
 *  - shorter than the window: the write is retried (the athena client's own retries, then the
 *    activity's), the note lands and is published, and nobody is paged.
 *
 * Both results run at once, on one stack. Window `channelOutageFallbackMinutes` = 1: the portal
 * activity's schedule-to-close is 60 s + 30 s (workflows/activity-profiles.ts), with the retry
 * backoff its last attempt about 60 s after the first.
 */

const OUTAGE_WINDOW_MS = 60_000;
const FALLBACK_DEADLINE_MS = OUTAGE_WINDOW_MS + 30_000 + 30_000;
const ADMINISTRATOR_MEMBER = 'entity_member_admin';
/**
 * The short outage: 8 failed writes. The athena client tries a replace-note PUT up to 5 times per
 * activity attempt, so the first attempt fails and the second (2 s later) succeeds on its 4th try.
 */
const SHORT_OUTAGE_FAILURES = 8;

describe('fallback, athena portal-note outage: longer than the window falls back, shorter delivers', () => {
  const long = PATIENTS.athenaOutage;
  const short = PATIENTS.athenaShortOutage;
  const longResultId = '880114';
  const shortResultId = '880115';
  let stack: Stack;
  let longWorkflow: string;
  let shortWorkflow: string;
  let startedAt: number;

  const noteWrites = (labResultId: string) =>
    stack.fakes.athena.control
      .requests()
      .filter((r) => r.method === 'PUT' && r.path.endsWith(`/documents/labresult/${labResultId}`));

  before(async () => {
    stack = await startTestStack({
      policyOverrides: {
        patientQuietHours: { start: '00:00', end: '00:00' },
        // One minute instead of 30, so the whole outage fits in the test.
        channelOutageFallbackMinutes: OUTAGE_WINDOW_MS / 60_000,
        smsConsentInvitation: false,
      },
    });
    seedAthenaPatient(stack, long);
    seedAthenaPatient(stack, short);
    stack.fakes.athena.control.failNext(100_000, {
      method: 'PUT',
      pathIncludes: `/documents/labresult/${longResultId}`,
      status: 500,
    });
    stack.fakes.athena.control.failNext(SHORT_OUTAGE_FAILURES, {
      method: 'PUT',
      pathIncludes: `/documents/labresult/${shortResultId}`,
      status: 500,
    });
  });
  after(async () => {
    stack?.fakes.athena.control.clearFailures();
    await stack?.stop();
  });

  it('two signed normal results arrive; their portal notes fail', async () => {
    startedAt = Date.now();
    stack.fakes.athena.control.addLabResult(
      athenaLabResultSeed(long, 'normal', { labResultId: longResultId, signed: true }),
    );
    stack.fakes.athena.control.addLabResult(
      athenaLabResultSeed(short, 'normal', { labResultId: shortResultId, signed: true }),
    );
    longWorkflow = workflowIdOf(stack, longResultId);
    shortWorkflow = workflowIdOf(stack, shortResultId);
    await untilStatus(stack, longWorkflow, 'notifying', (v) => v.state === 'notifying');
    await eventually(() => (noteWrites(longResultId).length > 0 ? true : undefined), 30_000, 'a note write');
  });

  it('shorter than the window: the note lands on a retry and is published; no fallback, no page', async () => {
    const view = await untilStatus(
      stack,
      shortWorkflow,
      'portal note delivered',
      (v) => v.deliveries.some((d) => d.channel === 'portal' && d.status !== 'pending' && d.status !== 'held'),
      45_000,
    );
    assert.notEqual(view.deliveries.find((d) => d.channel === 'portal')?.status, 'failed');
    assert.ok(noteWrites(shortResultId).length > SHORT_OUTAGE_FAILURES, 'it took retries');
    const notePublished = stack.fakes.athena.control.labResult(shortResultId).portalPublishedAt;
    assert.ok(notePublished !== undefined, 'athena published the note');
    await untilAudit(stack, shortWorkflow, 'send', 'published');
    assert.ok(!(await auditRows(stack, shortWorkflow)).some((r) => r.action === 'fallback'), 'no fallback');
    assert.equal(pagesAbout(stack, shortWorkflow).length, 0, 'nobody paged');
    assert.equal((await callTasksOf(stack, shortWorkflow)).length, 0, 'no call task');
  });

  it('longer than the window: the administrator is paged and staff get a call task', async () => {
    const view = await untilStatus(
      stack,
      longWorkflow,
      'fallback',
      (v) => v.state === 'fallback',
      FALLBACK_DEADLINE_MS,
    );
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed >= OUTAGE_WINDOW_MS - 5_000, `not before the window ends (${elapsed} ms)`);
    assert.equal(view.deliveries.find((d) => d.channel === 'portal')?.status, 'failed');
    const fallback = await untilAudit(stack, longWorkflow, 'fallback', 'portal-outage');
    assert.ok(Number(fallback.details.outageSpentMs) >= OUTAGE_WINDOW_MS - 5_000, 'the window was spent retrying');

    const page = await eventually(
      () => pagesTo(stack, ADMINISTRATOR_MEMBER).find((p) => p.text.includes(longWorkflow)),
      45_000,
      'the administrator page',
    );
    assert.match(page.text, /Patient could not be reached on the planned channel/);
    const [task] = await eventually(
      async () => {
        const rows = await callTasksOf(stack, longWorkflow);
        return rows[0]?.athena_case_id != null ? rows : undefined;
      },
      30_000,
      'the fallback call task',
    );
    assert.deepEqual([task.reason, task.status, task.patient_id], ['channel-fallback', 'open', long.id]);
    const cases = athenaCasesOf(stack, long);
    assert.equal(cases.length, 1, 'one athena patient case (athena is up for everything but the note)');
    assert.equal(cases[0].outboundOnly, true);
  });

  it('nothing more happens once athena is back: no late note, nobody paged twice', async () => {
    stack.fakes.athena.control.clearFailures();
    const writes = noteWrites(longResultId).length;
    await settle(3_000);
    assert.equal(noteWrites(longResultId).length, writes, 'the abandoned note is not written later');
    assert.equal(
      pagesTo(stack, ADMINISTRATOR_MEMBER).filter((p) => p.text.includes(longWorkflow)).length,
      1,
      'paged once',
    );
    await assertAuditChainIntact(stack);
  });
});
