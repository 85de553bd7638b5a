import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  assertNoPhi,
  grantSmsConsent,
  outboxOf,
  pagesAbout,
  pagesTo,
  seedAthenaPatient,
  settle,
  smsTo,
  statusOf,
  untilAudit,
  untilStatus,
  workflowIdOf,
} from '../fixtures/e2e/loop';
import { athenaLabResultSeed, PATIENTS, phiOf } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * "If a channel still fails after the outage window, fall back to portal-only and page the practice
 * administrator; the result is never dropped", for Twilio, on the assembled loop: the Twilio fake is
 * in outage mode (every message create answers 503) from before the result arrives until after the
 * fallback. The window is `channelOutageFallbackMinutes` = 1 here (30 by default), so the SMS
 * activity's schedule-to-close is 60 s + one 30 s retry interval (workflows/activity-profiles.ts):
 * with the retry backoff the last attempt is at 60 s, so the fallback comes about a minute after the
 * first attempt, never before the window has passed and at the latest at 90 s.
 */

const OUTAGE_WINDOW_MINUTES = 1;
/** Window plus the longest retry interval (DELIVERY_MAX_RETRY_INTERVAL_MS), plus slack for a busy machine. */
const FALLBACK_DEADLINE_MS = OUTAGE_WINDOW_MINUTES * 60_000 + 30_000 + 30_000;
const ADMINISTRATOR_MEMBER = 'entity_member_admin';

describe('fallback, Twilio outage longer than the window: portal only and the administrator paged', () => {
  const who = PATIENTS.twilioOutage;
  const labResultId = '880107';
  let stack: Stack;
  let workflowId: string;
  let arrivedAt: number;

  before(async () => {
    stack = await startTestStack({
      policyOverrides: {
        patientQuietHours: { start: '00:00', end: '00:00' },
        // One minute instead of 30, so the whole outage fits in the test.
        channelOutageFallbackMinutes: OUTAGE_WINDOW_MINUTES,
      },
    });
    seedAthenaPatient(stack, who);
    await grantSmsConsent(stack, who);
    stack.fakes.twilio.failures.startOutage(503);
  });
  after(async () => {
    await stack?.stop();
  });

  it('keeps retrying the SMS through the window, with the portal note already posted', async () => {
    arrivedAt = Date.now();
    stack.fakes.athena.control.addLabResult(athenaLabResultSeed(who, 'normal', { labResultId, signed: true }));
    workflowId = workflowIdOf(stack, labResultId);
    // Several attempts in the first seconds (backoff 2 s, 4 s, 8 s …), none of them accepted.
    await eventually(
      async () => ((await outboxOf(stack, workflowId, 'sms'))[0]?.attempts ?? 0) >= 3 || undefined,
      30_000,
      'three failed SMS attempts',
    );
    const view = await statusOf(stack, workflowId);
    assert.equal(view.state, 'notifying');
    assert.equal(view.deliveries.find((d) => d.channel === 'sms')?.status, 'pending');
    assert.ok(stack.fakes.athena.control.labResult(labResultId).patientNote !== undefined, 'the portal note is up');
    assert.equal(smsTo(stack, who).length, 0);
  });

  it('falls back after the window: portal only, administrator paged, fallback audited', async () => {
    const view = await untilStatus(stack, workflowId, 'fallback', (v) => v.state === 'fallback', FALLBACK_DEADLINE_MS);
    const elapsed = Date.now() - arrivedAt;
    assert.ok(elapsed >= OUTAGE_WINDOW_MINUTES * 60_000, `not before the window ends (${elapsed} ms)`);
    const sms = view.deliveries.find((d) => d.channel === 'sms');
    assert.equal(sms?.status, 'failed');
    assert.equal(view.deliveries.find((d) => d.channel === 'portal')?.status, 'queued', 'the portal note stands');

    const fallback = await untilAudit(stack, workflowId, 'fallback', 'sms-outage');
    assert.ok(Number(fallback.details.outageSpentMs) >= OUTAGE_WINDOW_MINUTES * 60_000, 'the whole window was spent');
    const page = await eventually(
      () => pagesTo(stack, ADMINISTRATOR_MEMBER).find((p) => p.text.includes(workflowId)),
      30_000,
      'the administrator page',
    );
    assert.match(page.text, /Patient could not be reached on the planned channel/);
    assertNoPhi(page.text, [...phiOf(who, 'normal'), who.firstName], 'the page');
    const paged = await untilAudit(stack, workflowId, 'page', 'paged');
    assert.deepEqual([paged.details.staffId, paged.details.reason], ['admin-1', 'channel-fallback']);
    const [intent] = await outboxOf(stack, workflowId, 'sms');
    // Backoff 2 s doubling to a 30 s cap: attempts at 0, 2, 6, 14, 30 and 60 s; the next (90 s) would
    // pass the schedule-to-close deadline, so the server gives up after the sixth.
    assert.ok(intent.attempts >= 5, `retried throughout the window (${intent.attempts} attempts)`);
    assert.notEqual(intent.status, 'sent');
  });

  it('sends nothing late once Twilio is back, and pages nobody twice', async () => {
    stack.fakes.twilio.failures.endOutage();
    await settle(3_000);
    assert.equal(smsTo(stack, who).length, 0, 'the abandoned text is not sent after the fallback');
    const view = await statusOf(stack, workflowId);
    assert.equal(view.state, 'fallback');
    assert.equal(pagesAbout(stack, workflowId).length, 1, 'one administrator page');
    assert.equal(stack.fakes.athena.control.labResult(labResultId).portalPublishedAt !== undefined, true);
    await assertAuditChainIntact(stack);
  });
});
