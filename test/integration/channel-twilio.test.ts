import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { SMS_RETRYABLE_ERROR_TYPE } from '../../activities/sms';
import { ActivityErrorType } from '../../domain/activity-error-types';
import type { GenericSmsRequest } from '../../domain/activity-contract';
import { getSmsConsent, setSmsConsent } from '../../lib/consent/repository';
import { startTwilioFake, type TwilioFake } from '../../sandbox/fakes/twilio';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { failureOf } from '../support/activity-failure';
import { recordingSignaller, smsActivitiesForFake } from '../support/channel-activities';

/**
 * sendGenericSms, the real activity, through the real twilio client to the Twilio fake over HTTP and
 * a real PostgreSQL: consent gates, the outbox (at most once), Twilio's permanent codes as the named
 * failure the workflow falls back on, retryable outages, and a lost answer reconciled without a
 * second text.
 */

const ACCOUNT_SID = `AC${'7'.repeat(32)}`;
const AUTH_TOKEN = 'channel-twilio-token-0123456789';
const SERVICE_SID = `MG${'8'.repeat(32)}`;
const SERVICE_NUMBER = '+15005550006';
const PRACTICE = '195900';
const CALLBACK = 'http://127.0.0.1:9/webhooks/twilio/status';
const BODY = 'Riverside Family Medicine: new results are ready in your portal. Reply STOP to opt out.';
/** Short client timeout so the lost-answer case finishes fast; the fake answers in a few ms otherwise. */
const CLIENT_TIMEOUT_MS = 500;

let seq = 0;
const nextPhone = () => `+1555020${String(1000 + ++seq).slice(-4)}`;

function request(to: string, overrides: Partial<GenericSmsRequest> = {}): GenericSmsRequest {
  return {
    workflowId: `lab-result-${PRACTICE}-${'a'.repeat(31)}${seq % 10}`,
    resultVersion: 1,
    step: `generic-sms-${seq}`,
    practiceId: PRACTICE,
    patientId: `pat-${seq}`,
    to,
    body: BODY,
    template: 'results-ready',
    requiresConsent: true,
    ...overrides,
  };
}

describe('sendGenericSms against the Twilio fake', () => {
  let db: TestDatabase;
  let fake: TwilioFake;
  let activities: ReturnType<typeof smsActivitiesForFake>;
  const signals: { workflowId: string; signal: string; arg: Record<string, unknown> }[] = [];

  before(async () => {
    db = await createTestDatabase('channel_twilio');
    fake = await startTwilioFake({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      messagingServices: [{ sid: SERVICE_SID, phoneNumbers: [SERVICE_NUMBER] }],
      callbackRetry: { maxAttempts: 1 },
    });
    activities = smsActivitiesForFake(db.pool, {
      twilioUrl: fake.url,
      account: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, messagingServiceSid: SERVICE_SID },
      statusCallbackUrl: CALLBACK,
      timeoutMs: CLIENT_TIMEOUT_MS,
      signaller: recordingSignaller(signals),
    });
  });
  afterEach(async () => {
    await fake.idle();
    fake.reset();
  });
  after(async () => {
    await fake.close();
    await db.close();
  });

  const consent = (req: GenericSmsRequest, consented: boolean) =>
    setSmsConsent(db.pool, {
      practiceId: req.practiceId,
      patientId: req.patientId,
      phone: req.to,
      consented,
      source: 'staff',
    });
  const auditOutcomes = async (workflowId: string, step: string) =>
    (
      await db.pool.query<{ action: string; outcome: string }>(
        `SELECT action, outcome FROM audit_log WHERE workflow_id = $1 AND details->>'step' = $2 ORDER BY seq`,
        [workflowId, step],
      )
    ).rows.map((r) => `${r.action}:${r.outcome}`);
  const outboxRow = async (req: GenericSmsRequest) =>
    (
      await db.pool.query<{ status: string; provider_message_id: string | null; attempts: number }>(
        `SELECT status, provider_message_id, attempts FROM outbox WHERE workflow_id = $1 AND step = $2`,
        [req.workflowId, req.step],
      )
    ).rows[0];

  it('sends once with consent: intent, provider ID and audit recorded; a repeat finds the send and does not text again', async () => {
    const req = request(nextPhone());
    await consent(req, true);
    const first = await activities.sendGenericSms(req);
    assert.match(first.providerMessageId, /^SM[0-9a-f]{32}$/);
    assert.equal(first.alreadySent, false);
    const sent = fake.messages().filter((m) => m.to === req.to);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.body, BODY);
    assert.equal(sent[0]?.messagingServiceSid, SERVICE_SID);
    assert.equal(sent[0]?.statusCallback, CALLBACK);

    const again = await activities.sendGenericSms(req);
    assert.deepEqual(again, { providerMessageId: first.providerMessageId, alreadySent: true });
    assert.equal(fake.messages().filter((m) => m.to === req.to).length, 1, 'no second text');
    assert.deepEqual(await outboxRow(req), {
      status: 'sent',
      provider_message_id: first.providerMessageId,
      attempts: 1,
    });
    assert.deepEqual(await auditOutcomes(req.workflowId, req.step), ['send-intent:recorded', 'send:sent']);
  });

  it('refuses without consent on record, and after a revocation even the consent invitation', async () => {
    const req = request(nextPhone());
    const missing = await failureOf(activities.sendGenericSms(req));
    assert.equal(missing.type, ActivityErrorType.SMS_CONSENT_MISSING);
    assert.equal(missing.nonRetryable, true);

    const invitation = request(nextPhone(), { template: 'consent-invitation', requiresConsent: false });
    assert.equal(
      (await activities.sendGenericSms(invitation)).alreadySent,
      false,
      'the invitation may go without consent',
    );

    const revoked = request(nextPhone(), { template: 'consent-invitation', requiresConsent: false });
    await consent(revoked, false);
    const refused = await failureOf(activities.sendGenericSms(revoked));
    assert.equal(refused.type, ActivityErrorType.SMS_CONSENT_MISSING);
    assert.match(refused.message, /revoked/);
    assert.equal(fake.messages().filter((m) => m.to === req.to || m.to === revoked.to).length, 0);
  });

  const refusals = [
    [21211, ActivityErrorType.SMS_INVALID_NUMBER],
    [21614, ActivityErrorType.SMS_INVALID_NUMBER],
    [30006, ActivityErrorType.SMS_INVALID_NUMBER],
    [30007, ActivityErrorType.SMS_BLOCKED],
    [30034, ActivityErrorType.SMS_BLOCKED],
    [21612, ActivityErrorType.SMS_BLOCKED],
    [21408, ActivityErrorType.SMS_BLOCKED],
    // Not a code we know: still permanent (a 400 refusal), of no particular kind.
    [21999, ActivityErrorType.SMS_PERMANENT],
  ] as const;
  for (const [code, type] of refusals) {
    it(`Twilio ${code} is a non-retryable ${type} carrying the code, and nothing was sent`, async () => {
      const req = request(nextPhone());
      await consent(req, true);
      fake.setRecipientScenario(req.to, { kind: 'reject', code });
      const failure = await failureOf(activities.sendGenericSms(req));
      assert.equal(failure.type, type);
      assert.equal(failure.nonRetryable, true);
      assert.deepEqual(failure.details?.[0], { code, httpStatus: 400 });
      assert.ok(!failure.message.includes(req.to), 'no phone number in the error');
      assert.equal((await outboxRow(req))?.status, 'failed');
      assert.deepEqual(await auditOutcomes(req.workflowId, req.step), ['send-intent:recorded', 'send:failed']);
    });
  }

  it("21610 (the number texted STOP to Twilio) is SmsOptedOutError, revokes consent, audits and signals the patient's open workflows", async () => {
    const req = request(nextPhone());
    await consent(req, true);
    // Another open workflow of the same patient and number, which must stop planning texts too.
    const other = `lab-result-${PRACTICE}-${'f'.repeat(31)}${seq % 10}`;
    await db.pool.query(
      `INSERT INTO workflow_patient (workflow_id, practice_id, patient_id, phone_e164) VALUES ($1, $2, $3, $4)`,
      [other, PRACTICE, req.patientId, req.to],
    );
    await fake.simulateInbound({ from: req.to, to: SERVICE_NUMBER, body: 'STOP' });
    const failure = await failureOf(activities.sendGenericSms(req));
    assert.equal(failure.type, ActivityErrorType.SMS_OPTED_OUT);
    assert.equal(failure.nonRetryable, true);
    assert.deepEqual(failure.details?.[0], { code: 21610, httpStatus: 400 });
    assert.equal(
      await getSmsConsent(db.pool, { practiceId: PRACTICE, patientId: req.patientId, phone: req.to }),
      false,
    );
    const { rows } = await db.pool.query<{ outcome: string; actor_id: string; details: { source: string } }>(
      `SELECT outcome, actor_id, details FROM audit_log WHERE action = 'consent-change' AND patient_id = $1`,
      [req.patientId],
    );
    assert.deepEqual(
      rows.map((r) => [r.outcome, r.details.source, r.actor_id]),
      [['revoked', 'carrier', 'twilio']],
    );
    const told = signals.filter((s) => s.workflowId === other && s.signal === 'consentChanged');
    assert.equal(told.length, 1, 'the other open workflow is signalled like after a STOP');
    assert.deepEqual([told[0]?.arg.smsConsent, told[0]?.arg.source], [false, 'carrier']);
  });

  it('an outage (503) is retryable and ambiguous; the retry reconciles first, then sends exactly once', async () => {
    const req = request(nextPhone());
    await consent(req, true);
    fake.failures.startOutage(503);
    const failure = await failureOf(activities.sendGenericSms(req));
    assert.equal(failure.type, SMS_RETRYABLE_ERROR_TYPE);
    assert.equal(failure.nonRetryable, false);
    assert.equal((await outboxRow(req))?.status, 'ambiguous', 'a 5xx does not prove nothing was created');
    fake.failures.endOutage();
    const sent = await activities.sendGenericSms(req);
    assert.equal(sent.alreadySent, false, 'reconciliation found nothing, so it sent');
    assert.equal(fake.messages().filter((m) => m.to === req.to).length, 1);
    assert.deepEqual(await auditOutcomes(req.workflowId, req.step), [
      'send-intent:recorded',
      'send:ambiguous',
      'send:sent',
    ]);
  });

  it('a 500 after Twilio created the message is reconciled on the retry: one text, not two', async () => {
    const req = request(nextPhone());
    await consent(req, true);
    fake.failNextCreates({ kind: 'error', status: 500, afterProcessing: true });
    const failure = await failureOf(activities.sendGenericSms(req));
    assert.equal(failure.type, SMS_RETRYABLE_ERROR_TYPE);
    assert.equal((await outboxRow(req))?.status, 'ambiguous');
    const created = fake.messages().filter((m) => m.to === req.to);
    assert.equal(created.length, 1, 'the fake did create it before answering 500');

    const retried = await activities.sendGenericSms(req);
    assert.deepEqual(retried, { providerMessageId: created[0]?.sid, alreadySent: true });
    assert.equal(fake.messages().filter((m) => m.to === req.to).length, 1, 'reconciled, not resent');
    assert.deepEqual(await auditOutcomes(req.workflowId, req.step), [
      'send-intent:recorded',
      'send:ambiguous',
      'send:reconciled',
    ]);
  });

  it("429 is retryable with Twilio's Retry-After as the next retry delay", async () => {
    const req = request(nextPhone());
    await consent(req, true);
    fake.failNextCreates({ kind: 'rate-limit', retryAfterSeconds: 7 });
    const failure = await failureOf(activities.sendGenericSms(req));
    assert.equal(failure.type, SMS_RETRYABLE_ERROR_TYPE);
    assert.equal(failure.nextRetryDelay, 7000);
  });

  it('a lost answer (Twilio created the message, the response never came) is reconciled: no second text', async () => {
    const req = request(nextPhone());
    await consent(req, true);
    fake.failNextCreates({ kind: 'hang', afterProcessing: true });
    const failure = await failureOf(activities.sendGenericSms(req));
    assert.equal(failure.type, SMS_RETRYABLE_ERROR_TYPE);
    assert.equal((await outboxRow(req))?.status, 'ambiguous');
    const created = fake.messages().filter((m) => m.to === req.to);
    assert.equal(created.length, 1, 'the fake did create it');

    const retried = await activities.sendGenericSms(req);
    assert.deepEqual(retried, { providerMessageId: created[0]?.sid, alreadySent: true });
    assert.equal(fake.messages().filter((m) => m.to === req.to).length, 1, 'reconciled, not resent');
    assert.deepEqual(await auditOutcomes(req.workflowId, req.step), [
      'send-intent:recorded',
      'send:ambiguous',
      'send:reconciled',
    ]);
  });

  it("reconciliation never takes another send's message with the same body", async () => {
    const phone = nextPhone();
    const earlier = request(phone);
    await consent(earlier, true);
    await activities.sendGenericSms(earlier);
    const req = request(phone, { patientId: earlier.patientId, step: `${earlier.step}-reminder` });
    fake.failNextCreates({ kind: 'reset', afterProcessing: false });
    await failureOf(activities.sendGenericSms(req));
    assert.equal((await outboxRow(req))?.status, 'ambiguous');
    const retried = await activities.sendGenericSms(req);
    assert.equal(retried.alreadySent, false, 'the earlier identical text belongs to another step');
    assert.equal(fake.messages().filter((m) => m.to === phone).length, 2);
  });
});
