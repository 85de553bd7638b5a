import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Stack } from '../../sandbox/stack';
import {
  assertAuditChainIntact,
  auditRows,
  grantSmsConsent,
  outboxOf,
  pagesAbout,
  pagesTo,
  seedAthenaPatient,
  settle,
  smsConsentOf,
  smsTo,
  untilAudit,
  untilStatus,
  workflowIdOf,
} from '../fixtures/e2e/loop';
import { athenaLabResultSeed, PATIENTS, type E2ePatient } from '../fixtures/e2e/patients';
import { eventually, startTestStack } from '../support/stack';

/**
 * The other side of the Twilio fallback, on the assembled loop (window `channelOutageFallbackMinutes`
 * = 1 minute):
 *
 * - a permanent refusal (21211 invalid number, 21610 the number replied STOP to the carrier) goes
 *   straight to the portal-only fallback and the administrator page, after one attempt and within
 *   seconds, without waiting out the window; 21610 also records the revocation;
 * - an outage that ends inside the window ends in normal delivery: one SMS, no fallback, no page.
 *
 * The permanent cases run first: the outage mode of the fake fails every create, theirs included.
 */

const OUTAGE_WINDOW_MS = 60_000;
const ADMINISTRATOR_MEMBER = 'entity_member_admin';

describe('fallback, Twilio: permanent errors fall back at once, a short outage still delivers', () => {
  let stack: Stack;

  before(async () => {
    stack = await startTestStack({
      policyOverrides: {
        patientQuietHours: { start: '00:00', end: '00:00' },
        // One minute, as in fallback-twilio-outage: "at once" must be clearly less than the window.
        channelOutageFallbackMinutes: OUTAGE_WINDOW_MS / 60_000,
      },
    });
    for (const who of [PATIENTS.invalidNumber, PATIENTS.carrierStop, PATIENTS.shortOutage]) {
      seedAthenaPatient(stack, who);
      await grantSmsConsent(stack, who);
    }
  });
  after(async () => {
    await stack?.stop();
  });

  /** A signed normal athena result for `who`; returns its workflow ID. */
  function resultFor(who: E2ePatient, labResultId: string): string {
    stack.fakes.athena.control.addLabResult(athenaLabResultSeed(who, 'normal', { labResultId, signed: true }));
    return workflowIdOf(stack, labResultId);
  }

  for (const [key, code, meaning, errorType] of [
    ['invalidNumber', 21211, 'invalid number', 'SmsInvalidNumberError'],
  ] as const) {
    it(`a permanent refusal (${code}, ${meaning}) falls back at once after one attempt`, async () => {
      const who = PATIENTS[key];
      stack.fakes.twilio.setRecipientScenario(who.phone, { kind: 'reject', code });
      const arrivedAt = Date.now();
      const labResultId = String(880000 + (code % 1000));
      const workflowId = resultFor(who, labResultId);

      const view = await untilStatus(stack, workflowId, 'fallback', (v) => v.state === 'fallback', 30_000);
      const elapsed = Date.now() - arrivedAt;
      assert.ok(elapsed < OUTAGE_WINDOW_MS / 2, `fell back in ${elapsed} ms, not after the window`);
      const sms = view.deliveries.find((d) => d.channel === 'sms');
      assert.deepEqual([sms?.status, sms?.errorCode], ['failed', errorType]);
      const fallback = await untilAudit(stack, workflowId, 'fallback', 'sms-permanent');
      assert.equal(fallback.details.errorType, errorType);
      const [intent] = await outboxOf(stack, workflowId, 'sms');
      assert.deepEqual([intent.status, intent.attempts], ['failed', 1], 'one attempt, no retries');
      assert.equal(smsTo(stack, who).length, 0);

      const page = await eventually(
        () => pagesTo(stack, ADMINISTRATOR_MEMBER).find((p) => p.text.includes(workflowId)),
        30_000,
        'the administrator page',
      );
      assert.match(page.text, /Patient could not be reached on the planned channel/);
      assert.ok(stack.fakes.athena.control.labResult(labResultId).patientNote !== undefined, 'the portal note stands');
    });
  }

  it('a carrier opt-out (21610) on the send is a revocation: consent revoked, audited, the workflow told, no text', async () => {
    const who = PATIENTS.carrierStop;
    stack.fakes.twilio.setRecipientScenario(who.phone, { kind: 'reject', code: 21610 });
    const labResultId = '880610';
    const workflowId = resultFor(who, labResultId);
    const [intent] = await eventually(
      async () => {
        const rows = await outboxOf(stack, workflowId, 'sms');
        return rows[0]?.status === 'failed' ? rows : undefined;
      },
      30_000,
      'the refused send',
    );
    assert.equal(intent.attempts, 1, 'one attempt, no retries');
    assert.deepEqual(await smsConsentOf(stack, who), { consented: false, source: 'carrier' });
    // The revocation is signalled like a STOP: the workflow records the change under its own ID.
    const told = await untilAudit(stack, workflowId, 'consent-change', 'revoked');
    assert.equal(told.details.source, 'carrier');
    assert.equal(smsTo(stack, who).length, 0);
    assert.ok(stack.fakes.athena.control.labResult(labResultId).patientNote !== undefined, 'the portal note stands');
  });

  it('an outage that ends inside the window ends in one delivered SMS, no fallback, no page', async () => {
    const who = PATIENTS.shortOutage;
    stack.fakes.twilio.failures.startOutage(503);
    const arrivedAt = Date.now();
    const workflowId = resultFor(who, '880108');
    // Attempts come at 0, 2, 6, 14 … s. The outbox counts an attempt before it calls Twilio, so a
    // count of 3 means the first two have failed; then Twilio comes back.
    await eventually(
      async () => ((await outboxOf(stack, workflowId, 'sms'))[0]?.attempts ?? 0) >= 3 || undefined,
      30_000,
      'two failed attempts',
    );
    assert.equal(smsTo(stack, who).length, 0);
    stack.fakes.twilio.failures.endOutage();

    const view = await untilStatus(stack, workflowId, 'the SMS delivered', (v) =>
      v.deliveries.some((d) => d.channel === 'sms' && d.status === 'delivered'),
    );
    assert.ok(Date.now() - arrivedAt < OUTAGE_WINDOW_MS, 'delivered inside the window');
    assert.notEqual(view.state, 'fallback');
    const [intent] = await outboxOf(stack, workflowId, 'sms');
    assert.equal(intent.status, 'sent');
    assert.ok(intent.attempts >= 3, `the attempt after the outage went through (${intent.attempts} attempts)`);
    await untilStatus(stack, workflowId, 'notified', (v) => v.state === 'notified');
    await settle(1_500);
    assert.equal(smsTo(stack, who).length, 1, 'exactly one text: no duplicate from the retries');
    assert.equal(pagesAbout(stack, workflowId).length, 0, 'nobody paged');
    assert.equal((await auditRows(stack, workflowId)).filter((r) => r.action === 'fallback').length, 0);
  });

  it('keeps the audit chain intact', async () => {
    await assertAuditChainIntact(stack);
  });
});
