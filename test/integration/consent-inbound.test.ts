import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { twiml } from '../../api/routes/twilio-webhooks';
import { getSmsConsent, setSmsConsent } from '../../lib/consent/repository';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import { freePort } from '../../sandbox/servers/free-port';
import { signTwilioWebhook, startTwilioFake, type TwilioFake } from '../../sandbox/fakes/twilio';
import { testApiDeps, TEST_TOKENS } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { recordingSignaller as recordingTo, smsActivitiesForFake } from '../support/channel-activities';

/**
 * Consent and inbound SMS through the running API: the Twilio fake posts signed inbound messages and
 * status callbacks to `/webhooks/twilio/*` over real HTTP; PostgreSQL holds consent, outbox and the
 * audit log. Signals to workflows are recorded at the Temporal boundary (everything before it runs
 * for real), so the test sees exactly which workflow was told what.
 */

const ACCOUNT_SID = `AC${'6'.repeat(32)}`;
const AUTH_TOKEN = 'consent-inbound-token-0123456789';
const SERVICE_SID = `MG${'6'.repeat(32)}`;
const OUR_NUMBER = '+15005550077';
const PRACTICE = '195900';
const OTHER_PRACTICE = 'other-practice';
const HELP_TEXT = 'Riverside Family Medicine: call 555-0100 for help. Reply STOP to opt out.';

interface Signalled {
  workflowId: string;
  signal: string;
  arg: Record<string, unknown>;
}

function recordingSignaller(calls: Signalled[]): WorkflowSignaller {
  return {
    signal(workflowId, definition, ...args) {
      calls.push({ workflowId, signal: definition.name, arg: args[0] as Record<string, unknown> });
      return Promise.resolve(true);
    },
  };
}

let phoneSeq = 0;
const nextPhone = () => `+1555060${String(1000 + ++phoneSeq).slice(-4)}`;
const sid = () => `SM${randomBytes(16).toString('hex')}`;

describe('inbound SMS, consent and status callbacks through the API', () => {
  let db: TestDatabase;
  let fake: TwilioFake;
  let app: FastifyInstance;
  let base: string;
  const signals: Signalled[] = [];

  before(async () => {
    db = await createTestDatabase('consent_inbound');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    ({ app } = await buildApp(
      testApiDeps({
        pool: db.pool,
        publicBaseUrl: base,
        twilioAuthToken: AUTH_TOKEN,
        signaller: recordingSignaller(signals),
        twilioInboundPractices: new Map([[OUR_NUMBER, [PRACTICE]]]),
      }),
    ));
    await app.listen({ host: '127.0.0.1', port });
    fake = await startTwilioFake({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      // What the README asks of an operator: the practice's smsHelpText as the Messaging Service's
      // Advanced Opt-Out HELP reply.
      messagingServices: [
        { sid: SERVICE_SID, phoneNumbers: [OUR_NUMBER], advancedOptOut: { replies: { HELP: HELP_TEXT } } },
      ],
      inboundUrl: `${base}/webhooks/twilio/inbound`,
      // Long enough for the send to record its SID before `sent` (only `queued` races the recording).
      callbackDelaysMs: { sent: 300, delivered: 100 },
    });
  });
  after(async () => {
    await fake?.close();
    await app?.close();
    await db?.close();
  });

  /** A patient with consent on record and an open workflow, another linked only by an open workflow. */
  async function household(phone: string) {
    const a = { practiceId: PRACTICE, patientId: `pa-${phone.slice(-4)}` };
    const b = { practiceId: PRACTICE, patientId: `pb-${phone.slice(-4)}` };
    const elsewhere = { practiceId: OTHER_PRACTICE, patientId: `pc-${phone.slice(-4)}` };
    await setSmsConsent(db.pool, { ...a, phone, consented: true, source: 'staff' });
    await setSmsConsent(db.pool, { ...elsewhere, phone, consented: true, source: 'staff' });
    const wfA = `lab-result-${PRACTICE}-a${phone.slice(-4)}${'0'.repeat(27)}`;
    const wfB = `lab-result-${PRACTICE}-b${phone.slice(-4)}${'0'.repeat(27)}`;
    for (const [wf, p] of [
      [wfA, a],
      [wfB, b],
    ] as const) {
      await db.pool.query(
        `INSERT INTO workflow_patient (workflow_id, practice_id, patient_id, phone_e164) VALUES ($1, $2, $3, $4)`,
        [wf, p.practiceId, p.patientId, phone],
      );
    }
    return { a, b, elsewhere, wfA, wfB };
  }

  const consentOf = (p: { practiceId: string; patientId: string }, phone: string) =>
    getSmsConsent(db.pool, { ...p, phone });
  const auditsOf = async (patientId: string) =>
    (
      await db.pool.query<{
        action: string;
        outcome: string;
        actor_type: string;
        actor_id: string;
        channel: string | null;
        details: Record<string, unknown>;
      }>(
        `SELECT action, outcome, actor_type, actor_id, channel, details FROM audit_log WHERE patient_id = $1 ORDER BY seq`,
        [patientId],
      )
    ).rows;
  const signalsTo = (workflowId: string) => signals.filter((s) => s.workflowId === workflowId);

  async function postSigned(path: string, params: Record<string, string>, signatureUrl = `${base}${path}`) {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signTwilioWebhook(AUTH_TOKEN, signatureUrl, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    return { status: response.status, text: await response.text() };
  }
  const inbound = (from: string, body: string, messageSid = sid()) =>
    postSigned('/webhooks/twilio/inbound', {
      AccountSid: ACCOUNT_SID,
      MessageSid: messageSid,
      From: from,
      To: OUR_NUMBER,
      Body: body,
      MessagingServiceSid: SERVICE_SID,
    });

  it('STOP (through the Twilio fake) revokes every patient on that number in the practice, audited and signalled', async () => {
    const phone = nextPhone();
    const { a, b, elsewhere, wfA, wfB } = await household(phone);
    const result = await fake.simulateInbound({ from: phone, to: OUR_NUMBER, body: 'STOP' });
    assert.equal(result.webhookStatus, 200);
    assert.equal(await consentOf(a, phone), false);
    assert.equal(await consentOf(b, phone), false, 'a linked patient without a record gets a revoked one');
    assert.equal(await consentOf(elsewhere, phone), true, 'another practice served by another number is untouched');

    for (const [patient, wf] of [
      [a, wfA],
      [b, wfB],
    ] as const) {
      const audit = await auditsOf(patient.patientId);
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.action, 'consent-change');
      assert.equal(audit[0]?.outcome, 'revoked');
      assert.equal(audit[0]?.actor_type, 'patient');
      assert.equal(audit[0]?.channel, 'sms');
      assert.equal(audit[0]?.details.source, 'keyword');
      assert.ok(!JSON.stringify(audit).includes(phone.slice(2)), 'no phone number in the audit log');
      assert.deepEqual(
        signalsTo(wf).map((s) => [s.signal, s.arg.smsConsent ?? s.arg.kind, s.arg.source ?? s.arg.channel]),
        [
          ['consentChanged', false, 'keyword'],
          ['patientReply', 'stop', 'sms'],
        ],
      );
    }
  });

  it('free text ("please stop texting me") revokes, audited as free text, with one confirmation reply', async () => {
    const phone = nextPhone();
    const { a, wfA } = await household(phone);
    const response = await inbound(phone, 'please stop texting me');
    assert.equal(response.status, 200);
    assert.match(
      response.text,
      /<Response><Message>You will get no more texts from Riverside Family Medicine\. Reply START to opt back in\.<\/Message><\/Response>/,
    );
    assert.equal(await consentOf(a, phone), false);
    const audit = await auditsOf(a.patientId);
    assert.equal(audit[0]?.details.source, 'free-text');
    assert.equal(audit[0]?.details.rule, 'stop-messaging');
    assert.ok(!JSON.stringify(audit).includes('texting me'), 'the message text is never audited');
    assert.equal(signalsTo(wfA)[0]?.arg.source, 'free-text');
  });

  it('START restores consent; HELP answers with the practice help text; other replies reach the workflows', async () => {
    const phone = nextPhone();
    const { a, wfA } = await household(phone);
    await inbound(phone, 'STOP');
    const start = await inbound(phone, 'start');
    assert.equal(start.text, twiml(undefined), 'Twilio answers START itself');
    assert.equal(await consentOf(a, phone), true);
    assert.equal((await auditsOf(a.patientId)).at(-1)?.outcome, 'granted');

    // Twilio answers an exact HELP itself (its Advanced Opt-Out reply carries the practice text): no second reply.
    const help = await inbound(phone, 'HELP');
    assert.equal(help.text, twiml(undefined));
    // A HELP Twilio does not take for its keyword gets the practice's help text from us.
    const helpBang = await inbound(phone, 'help!');
    assert.equal(helpBang.text, twiml(HELP_TEXT));
    const question = await inbound(phone, 'what do my results mean?');
    assert.equal(question.text, twiml(undefined));
    assert.deepEqual(
      signalsTo(wfA)
        .filter((s) => s.signal === 'patientReply')
        .map((s) => s.arg.kind),
      ['stop', 'start', 'help', 'help', 'text'],
    );
    assert.deepEqual(
      (await auditsOf(a.patientId)).filter((r) => r.action === 'patient-reply').map((r) => r.outcome),
      ['help', 'help', 'text'],
    );
  });

  it("HELP through the Twilio fake: the patient gets exactly one reply, the practice's help text", async () => {
    const phone = nextPhone();
    await household(phone);
    const result = await fake.simulateInbound({ from: phone, to: OUR_NUMBER, body: 'HELP' });
    assert.equal(result.webhookStatus, 200);
    assert.deepEqual(result.twimlReplies, [], 'our webhook answers with an empty TwiML response');
    const replies = fake.messages().filter((m) => m.direction === 'outbound-reply' && m.to === phone);
    assert.deepEqual(
      replies.map((m) => m.body),
      [HELP_TEXT],
      "one reply to HELP, and it is the practice's own text (not Twilio's default)",
    );
  });

  it('our own TwiML answers are audited as sends, and a re-delivered message is not answered again', async () => {
    const phone = nextPhone();
    const { a, b } = await household(phone);
    const sends = async (messageSid: string) =>
      (
        await db.pool.query<{
          patient_id: string;
          channel: string;
          template: string;
          variant: string;
          outcome: string;
          actor_type: string;
        }>(
          `SELECT patient_id, channel, template, variant, outcome, actor_type FROM audit_log
           WHERE action = 'send' AND details->>'event' = $1 ORDER BY patient_id`,
          [messageSid],
        )
      ).rows;

    const helpSid = sid();
    assert.equal((await inbound(phone, 'help!', helpSid)).text, twiml(HELP_TEXT));
    assert.deepEqual(
      await sends(helpSid),
      [a, b].map((p) => ({
        patient_id: p.patientId,
        channel: 'sms',
        template: 'sms-help-reply',
        variant: 'practice',
        outcome: 'sent',
        actor_type: 'system',
      })),
      'one send row per patient of the number',
    );
    const helpAgain = await inbound(phone, 'help!', helpSid);
    assert.deepEqual([helpAgain.status, helpAgain.text], [200, twiml(undefined)], 'not answered twice');
    assert.equal((await sends(helpSid)).length, 2, 'and not audited twice');

    const stopSid = sid();
    assert.match((await inbound(phone, 'no more texts please', stopSid)).text, /<Message>You will get no more texts/);
    assert.deepEqual(
      (await sends(stopSid)).map((r) => [r.template, r.variant]),
      [
        ['sms-stop-confirmation', 'practice'],
        ['sms-stop-confirmation', 'practice'],
      ],
    );
    assert.equal((await inbound(phone, 'no more texts please', stopSid)).text, twiml(undefined));
    assert.equal((await sends(stopSid)).length, 2);

    // Exact keywords are Twilio's to answer: no answer from us, so no send row either.
    const keywordSid = sid();
    assert.equal((await inbound(phone, 'HELP', keywordSid)).text, twiml(undefined));
    assert.deepEqual(await sends(keywordSid), []);
  });

  it('a re-delivered inbound message (same MessageSid) is acted on once', async () => {
    const phone = nextPhone();
    const { a, wfA } = await household(phone);
    const messageSid = sid();
    assert.equal((await inbound(phone, 'stop', messageSid)).status, 200);
    assert.equal((await inbound(phone, 'stop', messageSid)).status, 200);
    assert.equal((await auditsOf(a.patientId)).length, 1);
    assert.equal(signalsTo(wfA).length, 2, 'consentChanged + patientReply, once each');
  });

  it('refuses a missing or wrong signature, a tampered body and a different URL: 403, nothing changes', async () => {
    const phone = nextPhone();
    const { a } = await household(phone);
    const params = { AccountSid: ACCOUNT_SID, MessageSid: sid(), From: phone, To: OUR_NUMBER, Body: 'STOP' };
    const unsigned = await fetch(`${base}/webhooks/twilio/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    });
    assert.equal(unsigned.status, 403);
    const tampered = await fetch(`${base}/webhooks/twilio/inbound`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signTwilioWebhook(AUTH_TOKEN, `${base}/webhooks/twilio/inbound`, {
          ...params,
          Body: 'hello',
        }),
      },
      body: new URLSearchParams(params).toString(),
    });
    assert.equal(tampered.status, 403);
    const elsewhere = await postSigned(
      '/webhooks/twilio/inbound',
      params,
      `https://attacker.example/webhooks/twilio/inbound`,
    );
    assert.equal(elsewhere.status, 403);
    const wrongToken = await fetch(`${base}/webhooks/twilio/inbound`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signTwilioWebhook('not-the-token-0123456789', `${base}/webhooks/twilio/inbound`, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    assert.equal(wrongToken.status, 403);
    assert.equal(await consentOf(a, phone), true);
    assert.equal((await auditsOf(a.patientId)).length, 0);
  });

  it('a bad field is a 400 naming the field, not echoing the value', async () => {
    const response = await postSigned('/webhooks/twilio/inbound', {
      MessageSid: sid(),
      From: '555-not-a-number',
      To: OUR_NUMBER,
      Body: 'hi',
    });
    assert.equal(response.status, 400);
    assert.match(response.text, /From: must be an E\.164 phone number/);
    assert.doesNotMatch(response.text, /555-not-a-number/);
  });

  it('a number nobody is known by: answered, nothing recorded', async () => {
    const before = (await db.pool.query(`SELECT count(*)::int AS n FROM audit_log`)).rows[0] as { n: number };
    const response = await inbound(nextPhone(), 'STOP');
    assert.equal(response.status, 200);
    const afterCount = (await db.pool.query(`SELECT count(*)::int AS n FROM audit_log`)).rows[0] as { n: number };
    assert.equal(afterCount.n, before.n);
  });

  it('PUT sms-consent: token, practice and field checks; consent audited with the authenticated sender and signalled', async () => {
    const phone = nextPhone();
    const { b, wfB } = await household(phone);
    const url = `/v1/practices/${PRACTICE}/patients/${b.patientId}/sms-consent`;
    const auth = { authorization: `Bearer ${TEST_TOKENS.ingest}` };
    const body = { phone, consented: true, source: 'staff' };

    assert.equal((await app.inject({ method: 'PUT', url, payload: body })).statusCode, 401);
    const unknown = await app.inject({
      method: 'PUT',
      url: `/v1/practices/nope/patients/${b.patientId}/sms-consent`,
      headers: auth,
      payload: body,
    });
    assert.equal(unknown.statusCode, 404);
    const badPhone = await app.inject({
      method: 'PUT',
      url,
      headers: auth,
      payload: { ...body, phone: '617-555-0100' },
    });
    assert.equal(badPhone.statusCode, 400);
    assert.match(badPhone.body, /phone/);
    assert.doesNotMatch(badPhone.body, /617-555-0100/);
    // A staff member the caller names is not an identity: refused, naming the field.
    const namedStaff = await app.inject({
      method: 'PUT',
      url,
      headers: auth,
      payload: { ...body, staffId: 'staff-1' },
    });
    assert.equal(namedStaff.statusCode, 400);
    assert.match(namedStaff.body, /staffId: not accepted/);

    const granted = await app.inject({ method: 'PUT', url, headers: auth, payload: body });
    assert.equal(granted.statusCode, 200);
    assert.deepEqual(granted.json(), {
      practiceId: PRACTICE,
      patientId: b.patientId,
      consented: true,
      changed: true,
      workflowsSignalled: 1,
    });
    assert.equal(await consentOf(b, phone), true);
    const audit = await auditsOf(b.patientId);
    assert.deepEqual(
      [audit[0]?.action, audit[0]?.outcome, audit[0]?.actor_type, audit[0]?.actor_id],
      ['consent-change', 'granted', 'source', 'ingest-client'],
    );
    assert.deepEqual(signalsTo(wfB).at(-1), {
      workflowId: wfB,
      signal: 'consentChanged',
      arg: signalsTo(wfB).at(-1)?.arg,
    });
    assert.equal(signalsTo(wfB).at(-1)?.arg.source, 'staff');

    const again = await app.inject({ method: 'PUT', url, headers: auth, payload: body });
    assert.equal(again.json<{ changed: boolean }>().changed, false);
  });

  it('status callbacks: duplicates act once, a late "sent" after "delivered" does not move the message back', async () => {
    const { sendGenericSms } = smsActivitiesForFake(db.pool, {
      twilioUrl: fake.url,
      account: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, messagingServiceSid: SERVICE_SID },
      statusCallbackUrl: `${base}/webhooks/twilio/status`,
    });
    const send = async (step: string) => {
      const phone = nextPhone();
      const request = {
        workflowId: `lab-result-${PRACTICE}-s${phone.slice(-4)}${'0'.repeat(27)}`,
        resultVersion: 1,
        step,
        practiceId: PRACTICE,
        patientId: `ps-${phone.slice(-4)}`,
        to: phone,
        body: 'Riverside Family Medicine: new results are ready in your portal. Reply STOP to opt out.',
        template: 'results-ready',
        requiresConsent: false,
      };
      const { providerMessageId } = await sendGenericSms(request);
      await fake.idle();
      return { request, providerMessageId };
    };
    const statuses = (workflowId: string) =>
      signalsTo(workflowId)
        .filter((s) => s.signal === 'deliveryStatus')
        .map((s) => s.arg.status);

    fake.setCallbackBehaviour({ duplicate: true, outOfOrder: false });
    const dup = await send('dup');
    assert.ok(
      fake.callbackAttempts().some((a) => a.duplicate),
      'the fake did deliver duplicates',
    );
    const dupSignals = statuses(dup.request.workflowId);
    // `queued` is posted before the SID is recorded and may be overtaken by `sent` (then it is stale).
    assert.deepEqual(
      dupSignals.filter((st) => st !== 'queued'),
      ['sent', 'delivered'],
      'each status signalled once',
    );
    assert.ok(dupSignals.filter((st) => st === 'queued').length <= 1);
    const dupAudit = await db.pool.query<{ outcome: string }>(
      `SELECT outcome FROM audit_log WHERE workflow_id = $1 AND action = 'delivery-status' ORDER BY outcome`,
      [dup.request.workflowId],
    );
    assert.deepEqual(
      dupAudit.rows.map((r) => r.outcome),
      ['delivered', 'queued', 'sent'],
      'one audit row per status, duplicates ignored',
    );

    // Out of order, posted by hand so the order is exact: delivered, then the late sent.
    fake.setCallbackBehaviour({ duplicate: false, outOfOrder: false });
    const late = await send('late');
    const callback = (MessageStatus: string) =>
      postSigned('/webhooks/twilio/status', {
        AccountSid: ACCOUNT_SID,
        MessageSid: late.providerMessageId,
        MessageStatus,
        To: late.request.to,
      });
    const before = statuses(late.request.workflowId).length;
    await db.pool.query(`UPDATE outbox SET delivery_status = NULL WHERE provider_message_id = $1`, [
      late.providerMessageId,
    ]);
    await db.pool.query(`DELETE FROM inbound_event WHERE subject_id = $1`, [late.providerMessageId]);
    assert.equal((await callback('undelivered')).status, 204);
    assert.equal((await callback('sent')).status, 204);
    assert.deepEqual(
      statuses(late.request.workflowId).slice(before),
      ['undelivered'],
      'the stale "sent" is not signalled',
    );
    const { rows } = await db.pool.query<{ delivery_status: string }>(
      `SELECT delivery_status FROM outbox WHERE provider_message_id = $1`,
      [late.providerMessageId],
    );
    assert.equal(rows[0]?.delivery_status, 'undelivered');
    fake.setCallbackBehaviour({ duplicate: false, outOfOrder: false });
  });
  it('a status callback for a SID not recorded yet is parked, and replayed when reconciliation records the SID', async () => {
    const parkedSignals: Signalled[] = [];
    const { sendGenericSms } = smsActivitiesForFake(db.pool, {
      twilioUrl: fake.url,
      account: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, messagingServiceSid: SERVICE_SID },
      statusCallbackUrl: `${base}/webhooks/twilio/status`,
      timeoutMs: 300,
      signaller: recordingTo(parkedSignals),
    });
    const phone = nextPhone();
    const request = {
      workflowId: `lab-result-${PRACTICE}-p${phone.slice(-4)}${'0'.repeat(27)}`,
      resultVersion: 1,
      step: 'parked',
      practiceId: PRACTICE,
      patientId: `pp-${phone.slice(-4)}`,
      to: phone,
      body: 'Riverside Family Medicine: new results are ready in your portal. Reply STOP to opt out.',
      template: 'results-ready',
      requiresConsent: false,
    };
    // The create lands at Twilio but its answer is lost (the worker "crashed"): the outbox has no SID.
    fake.failNextCreates({ kind: 'hang', afterProcessing: true });
    await assert.rejects(sendGenericSms(request));
    const [created] = fake.messages().filter((m) => m.to === phone);
    assert.ok(created !== undefined);
    // Twilio's callbacks arrive meanwhile; after the 2 s grace each is parked instead of dropped.
    await fake.idle();
    const { rows: parked } = await db.pool.query<{ status: string; replayed_at: Date | null }>(
      `SELECT status, replayed_at FROM unmatched_delivery_event WHERE provider_message_id = $1 ORDER BY id`,
      [created.sid],
    );
    assert.deepEqual(
      parked.map((r) => [r.status, r.replayed_at]),
      [
        ['queued', null],
        ['sent', null],
        ['delivered', null],
      ],
    );
    assert.equal(signalsTo(request.workflowId).length, 0, 'nothing signalled while unknown');

    // The retry reconciles (finds the message by listing) and records the SID: the reports are replayed.
    const retried = await sendGenericSms(request);
    assert.deepEqual(retried, { providerMessageId: created.sid, alreadySent: true });
    const replayedStatuses = parkedSignals
      .filter((x) => x.workflowId === request.workflowId && x.signal === 'deliveryStatus')
      .map((x) => x.arg.status);
    assert.deepEqual(replayedStatuses, ['queued', 'sent', 'delivered']);
    const { rows: audited } = await db.pool.query<{ outcome: string; details: { replayed?: boolean } }>(
      `SELECT outcome, details FROM audit_log WHERE workflow_id = $1 AND action = 'delivery-status' ORDER BY seq`,
      [request.workflowId],
    );
    assert.deepEqual(
      audited.map((r) => [r.outcome, r.details.replayed]),
      [
        ['queued', true],
        ['sent', true],
        ['delivered', true],
      ],
    );
    const { rows: done } = await db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM unmatched_delivery_event WHERE provider_message_id = $1 AND replayed_at IS NULL`,
      [created.sid],
    );
    assert.equal(done[0]?.n, '0');
  });

  it('a carrier error code in a status callback carries its class and type to the workflow', async () => {
    const { sendGenericSms } = smsActivitiesForFake(db.pool, {
      twilioUrl: fake.url,
      account: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, messagingServiceSid: SERVICE_SID },
      statusCallbackUrl: `${base}/webhooks/twilio/status`,
    });
    for (const [errorCode, expected] of [
      [30003, { errorClass: 'transient' }],
      [30007, { errorClass: 'permanent', errorType: 'SmsBlockedError' }],
      [30005, { errorClass: 'permanent', errorType: 'SmsInvalidNumberError' }],
    ] as const) {
      const phone = nextPhone();
      fake.setRecipientScenario(phone, { kind: 'undelivered', errorCode });
      const request = {
        workflowId: `lab-result-${PRACTICE}-e${phone.slice(-4)}${'0'.repeat(27)}`,
        resultVersion: 1,
        step: 'undelivered',
        practiceId: PRACTICE,
        patientId: `pe-${phone.slice(-4)}`,
        to: phone,
        body: 'Riverside Family Medicine: new results are ready in your portal. Reply STOP to opt out.',
        template: 'results-ready',
        requiresConsent: false,
      };
      await sendGenericSms(request);
      await fake.idle();
      const undelivered = signalsTo(request.workflowId).find(
        (x) => x.signal === 'deliveryStatus' && x.arg.status === 'undelivered',
      );
      assert.equal(undelivered?.arg.errorCode, String(errorCode));
      assert.equal(undelivered?.arg.errorClass, expected.errorClass);
      assert.equal(undelivered?.arg.errorType, 'errorType' in expected ? expected.errorType : undefined);
    }
  });
});
