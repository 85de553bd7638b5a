import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import type { GenericSmsRequest } from '../../domain/activity-contract';
import type { SmsGateway } from '../../activities/deps';
import { ActivityErrorType } from '../../domain/activity-error-types';
import { createSmsActivities } from '../../activities/sms';
import { createAuditLog } from '../../lib/audit';
import { setSmsConsent } from '../../lib/consent/repository';
import { SegmentPacer, withSegmentPacer } from '../../lib/sms/pacer';
import { NO_SIGNALS } from '../support/channel-activities';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * The consent race of a generic SMS: consent is checked when the activity starts, but the send may
 * then wait seconds for its slot in the sender's pacer (behind a burst). A STOP that arrives during
 * that wait must still stop the text: consent is checked again right before Twilio is called.
 */

const PRACTICE = '195900';
/** How long the send waits in the pacer: one 1-segment slot at 1 segment/s is already taken. */
const PACER_WAIT_MS = 1_000;

describe('generic SMS: consent checked again right before Twilio', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('sms_consent_recheck');
  });
  after(async () => {
    await db?.close();
  });

  it('a revocation during the pacer wait stops the text; the attempt is audited as failed, not sent', async () => {
    const calls: string[] = [];
    const gateway: SmsGateway = {
      sendSms: (input) => {
        calls.push(input.to);
        return Promise.resolve({ sid: `SM${'1'.repeat(32)}`, status: 'queued' });
      },
      findRecentMessages: () => Promise.resolve([]),
    };
    const { sendGenericSms } = createSmsActivities({
      pool: db.pool,
      audit: createAuditLog(db.pool),
      sms: gateway,
      smsStatusCallbackUrl: 'https://labloop.example/webhooks/twilio/status',
      signaller: NO_SIGNALS,
      now: () => new Date(),
    });
    const patient = { practiceId: PRACTICE, patientId: 'p-race', phone: '+15550909001' };
    await setSmsConsent(db.pool, { ...patient, consented: true, source: 'staff' });
    const request: GenericSmsRequest = {
      workflowId: `lab-result-${PRACTICE}-${'3'.repeat(32)}`,
      resultVersion: 1,
      step: 'sms-result',
      practiceId: PRACTICE,
      patientId: patient.patientId,
      to: patient.phone,
      body: 'Riverside Family Medicine: your lab results are ready in your patient portal. Reply STOP to opt out.',
      template: 'results-ready',
      requiresConsent: true,
    };

    const pacer = new SegmentPacer(1);
    pacer.reserve(1); // the slot in progress: the send below waits PACER_WAIT_MS for the next one
    const sending = withSegmentPacer(pacer, () => sendGenericSms(request));
    await new Promise((resolve) => setTimeout(resolve, PACER_WAIT_MS / 4));
    assert.equal(pacer.waiting(), 1, 'the send is waiting in the pacer, past the first consent check');
    // The patient's STOP is recorded meanwhile.
    await setSmsConsent(db.pool, { ...patient, consented: false, source: 'keyword' });

    await assert.rejects(
      sending,
      (err: unknown) =>
        err instanceof ApplicationFailure && err.nonRetryable && err.type === ActivityErrorType.SMS_CONSENT_MISSING,
    );
    assert.deepEqual(calls, [], 'Twilio was never called');
    const { rows } = await db.pool.query<{ status: string; provider_message_id: string | null }>(
      `SELECT status, provider_message_id FROM outbox WHERE workflow_id = $1`,
      [request.workflowId],
    );
    assert.deepEqual(rows, [{ status: 'failed', provider_message_id: null }]);
    const { rows: audits } = await db.pool.query<{ action: string; outcome: string; type: string | null }>(
      `SELECT action, outcome, details->>'type' AS type FROM audit_log WHERE workflow_id = $1 ORDER BY seq`,
      [request.workflowId],
    );
    assert.deepEqual(
      audits.map((a) => [a.action, a.outcome, a.type]),
      [
        ['send-intent', 'recorded', null],
        ['send', 'failed', ActivityErrorType.SMS_CONSENT_MISSING],
      ],
    );
  });
});
