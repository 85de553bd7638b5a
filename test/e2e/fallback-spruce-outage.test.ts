import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  assertNoPhi,
  athenaCasesOf,
  auditRows,
  callTasksOf,
  outboxOf,
  pagesTo,
  secureMessagesTo,
  seedAthenaPatient,
  seedSpruceContact,
  settle,
  signOff,
  smsTo,
  statusOf,
  untilAudit,
  untilStatus,
  workflowIdOf,
} from '../fixtures/e2e/loop';
import { athenaLabResultSeed, PATIENTS, phiOf } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * Spruce down for longer than the outage window while an abnormal result's secure thread is being
 * sent, on the assembled loop: the result falls back to portal only, the administrator is paged,
 * and (because a portal note alone may go unread for an abnormal result) staff get a call task.
 *
 * The outage starts after the routing lookups, as a real one would catch a send in flight: a single
 * injected failure on the PDF upload marks the first send attempt, and from then on the Spruce fake
 * is in outage mode (every API call answers 503). Starting it earlier would only test the contact
 * lookup's own 5-minute budget. It ends as soon as the workflow has fallen back, so the
 * administrator's page (itself a Spruce call, retried after 5 s) gets through.
 *
 * Window `channelOutageFallbackMinutes` = 1: the secure send's schedule-to-close is 60 s + 30 s, and
 * with the retry backoff its last attempt is about 60 s after the first.
 */

const OUTAGE_WINDOW_MS = 60_000;
const FALLBACK_DEADLINE_MS = OUTAGE_WINDOW_MS + 30_000 + 30_000;
const ADMINISTRATOR_MEMBER = 'entity_member_admin';
const NOTE = 'Please book a follow-up visit this month.';

describe('fallback, Spruce outage longer than the window: portal only, administrator paged, a call task', () => {
  const who = PATIENTS.spruceOutage;
  const labResultId = '880111';
  let stack: Stack;
  let contactId: string;
  let workflowId: string;
  let firstAttemptAt: number;

  before(async () => {
    stack = await startTestStack({
      policyOverrides: {
        patientQuietHours: { start: '00:00', end: '00:00' },
        // One minute instead of 30, so the whole outage fits in the test.
        channelOutageFallbackMinutes: OUTAGE_WINDOW_MS / 60_000,
      },
    });
    seedAthenaPatient(stack, who);
    contactId = seedSpruceContact(stack, who, true);
  });
  after(async () => {
    stack?.fakes.spruce.failures.endOutage();
    await stack?.stop();
  });

  it('signs an abnormal athena result and Spruce goes down during the secure send', async () => {
    stack.fakes.athena.control.addLabResult(athenaLabResultSeed(who, 'abnormal', { labResultId, signed: false }));
    workflowId = workflowIdOf(stack, labResultId);
    await untilStatus(stack, workflowId, 'awaiting sign-off', (v) => v.state === 'awaiting-sign-off');

    stack.fakes.spruce.failNext({ kind: 'error', status: 503 }, 1, { path: '^/v1/media$' });
    await signOff(stack, workflowId, 'prov-2', NOTE);
    await eventually(
      () => (stack.fakes.spruce.failures.state().queued.length === 0 ? true : undefined),
      30_000,
      'the first PDF upload (and its injected failure)',
    );
    stack.fakes.spruce.failures.startOutage(503);
    firstAttemptAt = Date.now();

    await untilAudit(stack, workflowId, 'routing-decision', 'spruce-and-portal');
    const view = await statusOf(stack, workflowId);
    assert.equal(view.state, 'notifying');
    assert.equal(view.deliveries.find((d) => d.channel === 'spruce')?.status, 'pending', 'still retrying');
    const note = await eventually(
      () => stack.fakes.athena.control.labResult(labResultId).patientNote,
      15_000,
      'the portal note (athena is up)',
    );
    assert.ok(note.includes(NOTE), 'the portal note carries the provider note');
  });

  it('falls back after the window: fallback audited, administrator paged, call task opened', async () => {
    const view = await untilStatus(stack, workflowId, 'fallback', (v) => v.state === 'fallback', FALLBACK_DEADLINE_MS);
    stack.fakes.spruce.failures.endOutage();
    const elapsed = Date.now() - firstAttemptAt;
    assert.ok(elapsed >= OUTAGE_WINDOW_MS - 5_000, `not before the window ends (${elapsed} ms)`);
    assert.equal(view.deliveries.find((d) => d.channel === 'spruce')?.status, 'failed');
    assert.notEqual(view.deliveries.find((d) => d.channel === 'portal')?.status, 'failed', 'the portal note stands');

    const fallback = await untilAudit(stack, workflowId, 'fallback', 'spruce-outage');
    assert.ok(Number(fallback.details.outageSpentMs) >= OUTAGE_WINDOW_MS - 5_000, 'the window was spent retrying');

    const page = await eventually(
      () => pagesTo(stack, ADMINISTRATOR_MEMBER).find((p) => p.text.includes(workflowId)),
      45_000,
      'the administrator page (retried once Spruce is back)',
    );
    assert.match(page.text, /Patient could not be reached on the planned channel/);
    assertNoPhi(page.text, [...phiOf(who, 'abnormal'), who.firstName], 'the page');
    // Audit rows are appended in order by a bookkeeping activity, a moment after the decision.
    const requests = await eventually(
      async () => {
        const rows = (await auditRows(stack, workflowId))
          .filter((r) => r.action === 'page' && r.outcome === 'requested')
          .map((r) => [r.details.staffId, r.details.reason]);
        return rows.length >= 2 ? rows : undefined;
      },
      15_000,
      'the page requests in the audit log',
    );
    assert.deepEqual(requests.slice(0, 2), [
      ['prov-2', 'abnormal-result'],
      ['admin-1', 'channel-fallback'],
    ]);

    const [task] = await eventually(
      async () => {
        const rows = await callTasksOf(stack, workflowId);
        return rows[0]?.athena_case_id != null ? rows : undefined;
      },
      30_000,
      'the fallback call task',
    );
    assert.deepEqual([task.reason, task.status, task.patient_id], ['channel-fallback', 'open', who.id]);
    const cases = athenaCasesOf(stack, who);
    assert.equal(cases.length, 1);
    assert.equal(cases[0].patientCaseId, task.athena_case_id);
    const after = await untilStatus(stack, workflowId, 'call task open', (v) =>
      (v.callTasks ?? []).some((t) => t.step === 'v1:call-fallback-spruce' && t.status === 'open'),
    );
    assert.equal(after.state, 'fallback');
  });

  it('sends nothing late once Spruce is back', async () => {
    await settle(3_000);
    assert.equal(secureMessagesTo(stack, contactId).length, 0, 'the abandoned secure message is not posted later');
    const [intent] = await outboxOf(stack, workflowId, 'spruce');
    assert.notEqual(intent?.status, 'sent');
    assert.equal(smsTo(stack, who).length, 0, 'no consent on file: no text either');
    assert.equal(stack.fakes.athena.control.labResult(labResultId).portalPublishedAt !== undefined, true);
    await assertAuditChainIntact(stack);
  });
});
