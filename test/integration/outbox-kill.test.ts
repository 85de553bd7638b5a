import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createSmsActivities } from '../../activities/sms';
import type { GenericSmsRequest } from '../../domain/activity-contract';
import type { SmsGateway } from '../../activities/deps';
import { createAuditLog } from '../../lib/audit';
import { createTwilioMessaging, TwilioSendError } from '../../lib/clients/twilio';
import { setSmsConsent } from '../../lib/consent/repository';
import { startTwilioFake, type TwilioFake } from '../../sandbox/fakes/twilio';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * The kill test. The real sendGenericSms activity runs in a child process against the Twilio fake
 * and a real database; the child is killed with SIGKILL right after Twilio accepted the message and
 * before the outbox recorded its ID (the worst moment: the text is out, nothing says so). Then the
 * activity is run again, as Temporal's retry would:
 *  - reconciliation finds the message at Twilio: no second text, the row completed, `reconciled` audited;
 *  - when Twilio cannot be asked (its message list fails), it sends again: exactly one duplicate,
 *    audited as `ambiguous`, and no further retry sends a third.
 *
 * This file is also the child: run with LABLOOP_OUTBOX_KILL_CHILD=1 it performs one send and hangs
 * after the provider call, printing `SENT <sid>` so the parent knows when to kill it.
 */

const CHILD_FLAG = 'LABLOOP_OUTBOX_KILL_CHILD';
const ACCOUNT_SID = `AC${'9'.repeat(32)}`;
const AUTH_TOKEN = 'outbox-kill-token-0123456789';
const SERVICE_SID = `MG${'9'.repeat(32)}`;
const CALLBACK = 'http://127.0.0.1:9/webhooks/twilio/status';
/** The child needs a second or two to start tsx and connect; 30 s means it is stuck. */
const CHILD_SENT_TIMEOUT_MS = 30_000;
/** A child the parent forgot must not outlive the test run. */
const CHILD_SELF_DESTRUCT_MS = 60_000;

function gateway(twilioUrl: string): SmsGateway {
  return createTwilioMessaging({
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    messagingServiceSid: SERVICE_SID,
    apiBaseUrl: twilioUrl,
  });
}

async function runChild(): Promise<void> {
  setTimeout(() => process.exit(2), CHILD_SELF_DESTRUCT_MS);
  const pool = new pg.Pool({ connectionString: process.env.KILL_CHILD_DATABASE_URL, max: 4 });
  const real = gateway(process.env.KILL_CHILD_TWILIO_URL ?? '');
  const { sendGenericSms } = createSmsActivities({
    pool,
    audit: createAuditLog(pool),
    smsStatusCallbackUrl: CALLBACK,
    now: () => new Date(),
    sms: {
      findRecentMessages: (input) => real.findRecentMessages(input),
      async sendSms(input) {
        const sent = await real.sendSms(input);
        // Twilio has the message; the outbox does not know yet. Tell the parent, then wait to be killed.
        process.stdout.write(`SENT ${sent.sid}\n`);
        return new Promise<never>(() => undefined);
      },
    },
  });
  await sendGenericSms(JSON.parse(process.env.KILL_CHILD_REQUEST ?? '{}') as GenericSmsRequest);
}

/** Run the send in a child and SIGKILL it between the provider call and the outbox write; returns the SID Twilio gave. */
async function sendAndKill(db: TestDatabase, fake: TwilioFake, request: GenericSmsRequest): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // the child is a plain script, not a test file
  const child = spawn(process.execPath, ['--import', 'tsx', __filename], {
    env: {
      ...env,
      [CHILD_FLAG]: '1',
      KILL_CHILD_DATABASE_URL: db.url,
      KILL_CHILD_TWILIO_URL: fake.url,
      KILL_CHILD_REQUEST: JSON.stringify(request),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  const sid = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`child never reported the send:\n${stderr}`)),
      CHILD_SENT_TIMEOUT_MS,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /SENT (SM[0-9a-f]{32})/.exec(out);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve(match[1]);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`child exited before the send:\n${stderr}`));
    });
  });
  const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  assert.equal(signal, 'SIGKILL', 'the child was killed, not finished');
  return sid;
}

if (process.env[CHILD_FLAG] === '1') {
  runChild().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  describe('outbox: killed between the provider call and the recorded ID', () => {
    let db: TestDatabase;
    let fake: TwilioFake;
    let seq = 0;

    before(async () => {
      db = await createTestDatabase('outbox_kill');
      fake = await startTwilioFake({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        callbackRetry: { maxAttempts: 1 },
      });
    });
    after(async () => {
      await fake.close();
      await db.close();
    });

    async function consentedRequest(): Promise<GenericSmsRequest> {
      seq += 1;
      const request: GenericSmsRequest = {
        workflowId: `lab-result-195900-${'c'.repeat(31)}${seq}`,
        resultVersion: 1,
        step: 'generic-sms',
        practiceId: '195900',
        patientId: `kill-pat-${seq}`,
        to: `+1555030${String(1000 + seq).slice(-4)}`,
        body: 'Riverside Family Medicine: new results are ready in your portal. Reply STOP to opt out.',
        template: 'results-ready',
        requiresConsent: true,
      };
      await setSmsConsent(db.pool, {
        practiceId: request.practiceId,
        patientId: request.patientId,
        phone: request.to,
        consented: true,
        source: 'staff',
      });
      return request;
    }
    const outboxRow = async (request: GenericSmsRequest) =>
      (
        await db.pool.query<{ status: string; provider_message_id: string | null; attempts: number }>(
          `SELECT status, provider_message_id, attempts FROM outbox WHERE workflow_id = $1`,
          [request.workflowId],
        )
      ).rows[0];
    const audits = async (request: GenericSmsRequest) =>
      (
        await db.pool.query<{ action: string; outcome: string; details: Record<string, unknown> }>(
          `SELECT action, outcome, details FROM audit_log WHERE workflow_id = $1 ORDER BY seq`,
          [request.workflowId],
        )
      ).rows;
    const textsTo = (request: GenericSmsRequest) => fake.messages().filter((m) => m.to === request.to);

    it('the retry reconciles with Twilio: one text, the row completed, the reconciliation audited', async () => {
      const request = await consentedRequest();
      const sid = await sendAndKill(db, fake, request);

      // The state the kill left behind: Twilio sent it, the outbox only has the intent.
      assert.equal(textsTo(request).length, 1);
      assert.deepEqual(await outboxRow(request), { status: 'intent', provider_message_id: null, attempts: 1 });
      assert.deepEqual(
        (await audits(request)).map((a) => `${a.action}:${a.outcome}`),
        ['send-intent:recorded'],
      );

      const pool = db.pool;
      const { sendGenericSms } = createSmsActivities({
        pool,
        audit: createAuditLog(pool),
        sms: gateway(fake.url),
        smsStatusCallbackUrl: CALLBACK,
        now: () => new Date(),
      });
      const retried = await sendGenericSms(request);
      assert.deepEqual(retried, { providerMessageId: sid, alreadySent: true });
      assert.equal(textsTo(request).length, 1, 'no second text');
      assert.deepEqual(await outboxRow(request), { status: 'sent', provider_message_id: sid, attempts: 1 });
      const trail = await audits(request);
      assert.deepEqual(
        trail.map((a) => `${a.action}:${a.outcome}`),
        ['send-intent:recorded', 'send:reconciled'],
      );
      assert.equal(trail[1]?.details.providerMessageId, sid);
    });

    it('when Twilio cannot be asked, the retry sends again: at most one duplicate, audited as ambiguous', async () => {
      const request = await consentedRequest();
      const firstSid = await sendAndKill(db, fake, request);
      const real = gateway(fake.url);
      const { sendGenericSms } = createSmsActivities({
        pool: db.pool,
        audit: createAuditLog(db.pool),
        smsStatusCallbackUrl: CALLBACK,
        now: () => new Date(),
        sms: {
          sendSms: (input) => real.sendSms(input),
          findRecentMessages: () =>
            Promise.reject(
              new TwilioSendError('Twilio list messages failed: HTTP 503', {
                kind: 'retryable',
                httpStatus: 503,
                code: 20503,
              }),
            ),
        },
      });

      const retried = await sendGenericSms(request);
      assert.equal(retried.alreadySent, false);
      assert.notEqual(retried.providerMessageId, firstSid);
      assert.equal(textsTo(request).length, 2, 'exactly one duplicate');
      const trail = await audits(request);
      assert.deepEqual(
        trail.map((a) => `${a.action}:${a.outcome}`),
        ['send-intent:recorded', 'send:ambiguous', 'send:sent'],
      );
      assert.equal(trail[1]?.details.reason, 'twilio-list-20503');
      assert.equal(trail[2]?.details.afterReconcile, 'unknown');

      // Bounded: the new ID is recorded, so every further retry stops there.
      assert.deepEqual(await sendGenericSms(request), {
        providerMessageId: retried.providerMessageId,
        alreadySent: true,
      });
      assert.equal(textsTo(request).length, 2);
      assert.deepEqual(await outboxRow(request), {
        status: 'sent',
        provider_message_id: retried.providerMessageId,
        attempts: 2,
      });
    });
  });
}
