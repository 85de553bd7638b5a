import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { twiml } from '../../api/routes/twilio-webhooks';
import { appendAuditInTransaction } from '../../lib/audit/append';
import { verifyAuditChain } from '../../lib/audit';
import { inTransaction } from '../../lib/db/transaction';
import { sweepStuckInboundEvents } from '../../lib/inbound/sweeper';
import { getSmsConsent, setSmsConsent } from '../../lib/consent/repository';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import { freePort } from '../../sandbox/servers/free-port';
import { signTwilioWebhook } from '../../sandbox/fakes/twilio';
import { testApiDeps } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * A consent change and its audit row are one transaction, and what it owes the workflows (the
 * signals) is stored with it: a failure between the commit and the signals (Temporal unreachable, a
 * crash) leaves the inbound event at `received` with its list, and the sweeper, or Twilio's
 * re-delivery, finishes it. The audit row is there exactly once either way.
 */

const AUTH_TOKEN = 'consent-durability-token-0123456789';
const OUR_NUMBER = '+15005550088';
const PRACTICE = '195900';

interface Signalled {
  workflowId: string;
  signal: string;
  arg: Record<string, unknown>;
}

let phoneSeq = 0;
const nextPhone = () => `+1555080${String(1000 + ++phoneSeq).slice(-4)}`;
const sid = () => `SM${randomBytes(16).toString('hex')}`;

describe('consent changes: committed with their audit row, signals finished by the sweeper', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let base: string;
  const signals: Signalled[] = [];
  /** While true, every signal fails the way an unreachable Temporal does. */
  let temporalDown = false;
  const signaller: WorkflowSignaller = {
    signal(workflowId, definition, ...args) {
      if (temporalDown) return Promise.reject(new Error('14 UNAVAILABLE: connection refused'));
      signals.push({ workflowId, signal: definition.name, arg: args[0] as Record<string, unknown> });
      return Promise.resolve(true);
    },
  };

  before(async () => {
    db = await createTestDatabase('consent_durability');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    ({ app } = await buildApp(
      testApiDeps({
        pool: db.pool,
        publicBaseUrl: base,
        twilioAuthToken: AUTH_TOKEN,
        signaller,
        twilioInboundPractices: new Map([[OUR_NUMBER, [PRACTICE]]]),
      }),
    ));
    await app.listen({ host: '127.0.0.1', port });
  });
  after(async () => {
    await app?.close();
    await db?.close();
  });

  async function patientWithWorkflow(phone: string) {
    const patient = { practiceId: PRACTICE, patientId: `pd-${phone.slice(-4)}` };
    await setSmsConsent(db.pool, { ...patient, phone, consented: true, source: 'staff' });
    const workflowId = `lab-result-${PRACTICE}-d${phone.slice(-4)}${'0'.repeat(27)}`;
    await db.pool.query(
      `INSERT INTO workflow_patient (workflow_id, practice_id, patient_id, phone_e164) VALUES ($1, $2, $3, $4)`,
      [workflowId, patient.practiceId, patient.patientId, phone],
    );
    return { patient, workflowId };
  }

  async function inbound(from: string, body: string, messageSid: string) {
    const params = { MessageSid: messageSid, From: from, To: OUR_NUMBER, Body: body };
    const url = `${base}/webhooks/twilio/inbound`;
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signTwilioWebhook(AUTH_TOKEN, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    return { status: response.status, text: await response.text() };
  }
  const eventOf = async (messageSid: string) =>
    (
      await db.pool.query<{ status: string; pending: unknown }>(
        `SELECT status, pending_signals AS pending FROM inbound_event WHERE channel = 'sms' AND event_key = $1`,
        [messageSid],
      )
    ).rows[0];
  const consentAudits = async (patientId: string) =>
    (
      await db.pool.query<{ outcome: string }>(
        `SELECT outcome FROM audit_log WHERE patient_id = $1 AND action = 'consent-change' ORDER BY seq`,
        [patientId],
      )
    ).rows.map((r) => r.outcome);
  const signalsTo = (workflowId: string) => signals.filter((s) => s.workflowId === workflowId).map((s) => s.signal);

  it('a STOP whose signals fail after the commit: revoked and audited at once, the sweeper signals it', async () => {
    const phone = nextPhone();
    const { patient, workflowId } = await patientWithWorkflow(phone);
    const messageSid = sid();
    temporalDown = true;
    try {
      const failed = await inbound(phone, 'stop texting me please', messageSid);
      assert.equal(failed.status, 500, 'Twilio is told it failed');
    } finally {
      temporalDown = false;
    }
    // Committed together: the revocation and its audit row; the signals owed are stored with them.
    assert.equal(await getSmsConsent(db.pool, { ...patient, phone }), false);
    assert.deepEqual(await consentAudits(patient.patientId), ['revoked']);
    const stuck = await eventOf(messageSid);
    assert.equal(stuck?.status, 'received');
    assert.deepEqual(
      (stuck?.pending as { signal: string; patientId: string }[]).map((p) => [p.signal, p.patientId]),
      [
        ['consentChanged', patient.patientId],
        ['patientReply', patient.patientId],
      ],
    );
    assert.ok(!JSON.stringify(stuck?.pending).includes(phone.slice(2)), 'no phone number in what is stored');
    assert.deepEqual(signalsTo(workflowId), []);

    // Too young for the sweeper's default age: a request still being handled is never raced.
    assert.deepEqual(await sweepStuckInboundEvents({ pool: db.pool, signaller }), { finished: 0, failed: 0 });
    // With Temporal still down, it fails and keeps the event for the next run.
    temporalDown = true;
    try {
      assert.deepEqual(await sweepStuckInboundEvents({ pool: db.pool, signaller }, { minAgeMs: 0 }), {
        finished: 0,
        failed: 1,
      });
    } finally {
      temporalDown = false;
    }
    assert.equal((await eventOf(messageSid))?.status, 'received');

    const swept = await sweepStuckInboundEvents({ pool: db.pool, signaller }, { minAgeMs: 0 });
    assert.deepEqual(swept, { finished: 1, failed: 0 });
    assert.deepEqual(signalsTo(workflowId), ['consentChanged', 'patientReply']);
    assert.deepEqual(await eventOf(messageSid), { status: 'processed', pending: null });
    assert.deepEqual(await consentAudits(patient.patientId), ['revoked'], 'the audit row exactly once');

    // Done means done: neither another sweep nor Twilio's re-delivery acts (or answers) again.
    assert.deepEqual(await sweepStuckInboundEvents({ pool: db.pool, signaller }, { minAgeMs: 0 }), {
      finished: 0,
      failed: 0,
    });
    const again = await inbound(phone, 'stop texting me please', messageSid);
    assert.deepEqual([again.status, again.text], [200, twiml(undefined)]);
    assert.deepEqual(signalsTo(workflowId), ['consentChanged', 'patientReply']);
    assert.deepEqual(await consentAudits(patient.patientId), ['revoked']);
  });

  it("Twilio's re-delivery of a STOP stuck after the commit finishes it, once, and answers once", async () => {
    const phone = nextPhone();
    const { patient, workflowId } = await patientWithWorkflow(phone);
    const messageSid = sid();
    temporalDown = true;
    try {
      assert.equal((await inbound(phone, 'please stop texting me', messageSid)).status, 500);
    } finally {
      temporalDown = false;
    }
    const redelivered = await inbound(phone, 'please stop texting me', messageSid);
    assert.equal(redelivered.status, 200);
    // The failed delivery was answered with a 500, so Twilio sent nothing: the confirmation goes now.
    assert.match(redelivered.text, /<Message>You will get no more texts from Riverside Family Medicine/);
    const third = await inbound(phone, 'please stop texting me', messageSid);
    assert.equal(third.text, twiml(undefined), 'never a second confirmation once answered');
    assert.deepEqual(signalsTo(workflowId), ['consentChanged', 'patientReply']);
    assert.deepEqual(await eventOf(messageSid), { status: 'processed', pending: null });
    assert.deepEqual(await consentAudits(patient.patientId), ['revoked']);
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_log WHERE action = 'send' AND details->>'event' = $1`,
      [messageSid],
    );
    assert.equal(rows[0]?.n, 1, 'the one confirmation that was answered is audited once');
  });

  it('an audit append inside a transaction that rolls back leaves no row, and the chain intact', async () => {
    const phone = nextPhone();
    const patient = { practiceId: PRACTICE, patientId: `pr-${phone.slice(-4)}` };
    await assert.rejects(
      inTransaction(db.pool, async (client) => {
        await setSmsConsent(client, { ...patient, phone, consented: false, source: 'staff' });
        await appendAuditInTransaction(client, {
          occurredAt: new Date().toISOString(),
          practiceId: PRACTICE,
          patientId: patient.patientId,
          actor: { type: 'staff', id: 'staff-1' },
          action: 'consent-change',
          outcome: 'revoked',
          idempotencyKey: `rollback-test:${patient.patientId}`,
        });
        throw new Error('the process died before the commit');
      }),
      /died before the commit/,
    );
    assert.equal(await getSmsConsent(db.pool, { ...patient, phone }), undefined, 'no consent change');
    assert.deepEqual(await consentAudits(patient.patientId), [], 'no audit row');
    const verified = await verifyAuditChain(db.pool);
    assert.equal(verified.ok, true);
  });
});
