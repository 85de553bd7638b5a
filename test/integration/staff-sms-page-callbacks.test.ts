import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { StaffSmsPageRequest } from '../../domain/activity-contract';
import type { SmsGateway } from '../../activities/deps';
import { createStaffSmsPageActivities } from '../../activities/staff-sms-page';
import { buildApp } from '../../api/app';
import { createAuditLog } from '../../lib/audit';
import { createTwilioMessaging } from '../../lib/clients/twilio';
import { freePort } from '../../sandbox/servers/free-port';
import { loadPracticeRegistry, PracticeRegistry } from '../../lib/practices';
import { senderPacer } from '../../lib/sms/pacer';
import { smsSegments } from '../../lib/sms/segments';
import { startTwilioFake, type TwilioFake } from '../../sandbox/fakes/twilio';
import { testApiDeps } from '../support/api-app';
import { recordingSignaller } from '../support/channel-activities';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * Staff SMS pages (activities/staff-sms-page.ts) and what Twilio reports about them: the real
 * activity sends through the Twilio fake, whose signed status callbacks reach the API's
 * `/webhooks/twilio/status` over real HTTP. A page's outbox row has channel `page`, so its
 * callbacks must be matched on that channel (audited, signalled as `page`) instead of being parked
 * as unknown; callbacks that came before the SID was known are replayed after the retried send.
 * Then the page's pacing on its practice's sender, ahead of patient texts waiting there.
 */

const ACCOUNT_SID = `AC${'8'.repeat(32)}`;
const AUTH_TOKEN = 'staff-page-callbacks-token-0123';
const SERVICE_SID = `MG${'8'.repeat(32)}`;
const PRACTICE = '195900';

interface Signalled {
  workflowId: string;
  signal: string;
  arg: Record<string, unknown>;
}

let seq = 0;
const workflowId = () => `lab-result-${PRACTICE}-${String(++seq).padStart(32, '7')}`;

describe('staff SMS pages: Twilio status callbacks through the API', () => {
  let db: TestDatabase;
  let fake: TwilioFake;
  let app: FastifyInstance;
  let base: string;
  const apiSignals: Signalled[] = [];
  const workerSignals: Signalled[] = [];
  const practices = loadPracticeRegistry('config/practices.sandbox.json');

  before(async () => {
    db = await createTestDatabase('staff_page_callbacks');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    ({ app } = await buildApp(
      testApiDeps({
        pool: db.pool,
        publicBaseUrl: base,
        twilioAuthToken: AUTH_TOKEN,
        signaller: recordingSignaller(apiSignals),
      }),
    ));
    await app.listen({ host: '127.0.0.1', port });
    fake = await startTwilioFake({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      // Long enough for the send to record its SID before `sent` (only `queued` races the recording).
      callbackDelaysMs: { sent: 300, delivered: 100 },
    });
  });
  after(async () => {
    await fake?.close();
    await app?.close();
    await db?.close();
  });

  const pages = (timeoutMs?: number) =>
    createStaffSmsPageActivities({
      pool: db.pool,
      audit: createAuditLog(db.pool),
      sms: createTwilioMessaging({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        messagingServiceSid: SERVICE_SID,
        apiBaseUrl: fake.url,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      }),
      smsStatusCallbackUrl: `${base}/webhooks/twilio/status`,
      practices,
      now: () => new Date(),
      reviewBaseUrl: 'https://labloop.example/review',
      signaller: recordingSignaller(workerSignals),
    });
  const request = (staffId: string): StaffSmsPageRequest => ({
    workflowId: workflowId(),
    resultVersion: 1,
    step: 'page-critical-oncall-sms',
    practiceId: PRACTICE,
    staffId,
    reason: 'critical-result',
  });
  const deliveryReports = (signals: Signalled[], wf: string) =>
    signals.filter((s) => s.workflowId === wf && s.signal === 'deliveryStatus').map((s) => s.arg);
  const audited = async (wf: string) =>
    (
      await db.pool.query<{ channel: string; outcome: string; template: string; details: Record<string, unknown> }>(
        `SELECT channel, outcome, template, details FROM audit_log WHERE workflow_id = $1 AND action = 'delivery-status' ORDER BY seq`,
        [wf],
      )
    ).rows;
  const parkedFor = async (sid: string) =>
    (
      await db.pool.query<{ status: string; replayed: boolean }>(
        `SELECT status, replayed_at IS NOT NULL AS replayed FROM unmatched_delivery_event WHERE provider_message_id = $1 ORDER BY id`,
        [sid],
      )
    ).rows;

  it('a delivered page: its callbacks are matched on channel page, audited and signalled, none parked', async () => {
    const page = request('prov-oncall');
    const outcome = await pages().sendStaffSmsPage(page);
    await fake.idle();
    const reports = deliveryReports(apiSignals, page.workflowId);
    assert.deepEqual(
      reports.filter((r) => r.status !== 'queued').map((r) => [r.channel, r.status, r.providerMessageId]),
      [
        ['page', 'sent', outcome.pageRef],
        ['page', 'delivered', outcome.pageRef],
      ],
    );
    const audit = await audited(page.workflowId);
    assert.deepEqual(
      audit.filter((r) => r.outcome !== 'queued').map((r) => [r.channel, r.outcome, r.template]),
      [
        ['page', 'sent', 'sms-page-critical-result'],
        ['page', 'delivered', 'sms-page-critical-result'],
      ],
    );
    const { rows } = await db.pool.query<{ delivery_status: string }>(
      `SELECT delivery_status FROM outbox WHERE channel = 'page' AND provider_message_id = $1`,
      [outcome.pageRef],
    );
    assert.equal(rows[0]?.delivery_status, 'delivered');
    assert.deepEqual(await parkedFor(outcome.pageRef), [], 'nothing parked as an unknown message');
    const { rows: events } = await db.pool.query<{ status: string }>(
      `SELECT status FROM inbound_event WHERE channel = 'sms' AND subject_id = $1`,
      [outcome.pageRef],
    );
    assert.ok(events.length >= 2 && events.every((e) => e.status === 'processed'), 'every callback processed');
  });

  it('an undelivered page: the failure is audited and signalled with its code and class', async () => {
    const page = request('prov-1');
    const pagerPhone = practices.policy(PRACTICE)?.staff.find((s) => s.id === 'prov-1')?.pagerPhone ?? '';
    fake.setRecipientScenario(pagerPhone, { kind: 'undelivered', errorCode: 30005 });
    try {
      const outcome = await pages().sendStaffSmsPage(page);
      await fake.idle();
      const undelivered = deliveryReports(apiSignals, page.workflowId).find((r) => r.status === 'undelivered');
      assert.deepEqual(
        undelivered && [
          undelivered.channel,
          undelivered.providerMessageId,
          undelivered.errorCode,
          undelivered.errorClass,
          undelivered.errorType,
        ],
        ['page', outcome.pageRef, '30005', 'permanent', 'SmsInvalidNumberError'],
      );
      const row = (await audited(page.workflowId)).find((r) => r.outcome === 'undelivered');
      assert.equal(row?.channel, 'page');
      assert.equal(row?.details.errorCode, '30005');
      assert.deepEqual(await parkedFor(outcome.pageRef), []);
    } finally {
      fake.setRecipientScenario(pagerPhone, null);
    }
  });

  it('callbacks that beat the SID are parked, then replayed (as page reports) when the retry reconciles', async () => {
    const page = request('prov-2');
    // The create lands at Twilio but its answer is lost: the outbox has no SID yet.
    fake.failNextCreates({ kind: 'hang', afterProcessing: true });
    await assert.rejects(pages(300).sendStaffSmsPage(page));
    await fake.idle();
    const created = fake.messages().filter((m) => m.body.includes(page.workflowId));
    assert.equal(created.length, 1);
    const sid = created[0]?.sid ?? '';
    assert.deepEqual(
      (await parkedFor(sid)).map((r) => [r.status, r.replayed]),
      [
        ['queued', false],
        ['sent', false],
        ['delivered', false],
      ],
    );
    assert.equal(deliveryReports(apiSignals, page.workflowId).length, 0, 'nothing signalled while unknown');

    const retried = await pages().sendStaffSmsPage(page);
    assert.deepEqual([retried.pageRef, retried.alreadySent], [sid, true]);
    assert.deepEqual(
      deliveryReports(workerSignals, page.workflowId).map((r) => [r.channel, r.status]),
      [
        ['page', 'queued'],
        ['page', 'sent'],
        ['page', 'delivered'],
      ],
    );
    assert.deepEqual(
      (await audited(page.workflowId)).map((r) => [r.channel, r.outcome, r.details.replayed]),
      [
        ['page', 'queued', true],
        ['page', 'sent', true],
        ['page', 'delivered', true],
      ],
    );
    assert.ok((await parkedFor(sid)).every((r) => r.replayed));
  });
});

describe("staff SMS pages: the practice's sender and its pacer", () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('staff_page_pacing');
  });
  after(async () => {
    await db?.close();
  });

  it('goes from the practice sender, takes the next slot ahead of waiting texts, and its segments count', async () => {
    const SENDER = 'page-pace';
    const RATE = 2; // segments per second: one slot every 500 ms
    const SLOT_MS = 1000 / RATE;
    const TIMER_SLACK_MS = 15;
    const sent: { via: string; at: number; body: string }[] = [];
    const gateway = (via: string): SmsGateway => ({
      sendSms: (input) => {
        sent.push({ via, at: performance.now(), body: input.body });
        return Promise.resolve({ sid: `SM${String(sent.length).padStart(32, '0')}`, status: 'queued' });
      },
      findRecentMessages: () => Promise.resolve([]),
    });
    const sandbox = loadPracticeRegistry('config/practices.sandbox.json');
    const practices = new PracticeRegistry(
      sandbox.all().map((e) => ({ ...e, policy: { ...e.policy, smsSenderId: SENDER } })),
    );
    const activities = createStaffSmsPageActivities({
      pool: db.pool,
      audit: createAuditLog(db.pool),
      sms: gateway('unconfigured'),
      smsSenders: new Map([
        ['default', { sms: gateway('default'), segmentsPerSecond: RATE }],
        [SENDER, { sms: gateway(SENDER), segmentsPerSecond: RATE }],
      ]),
      smsStatusCallbackUrl: 'https://labloop.example/webhooks/twilio/status',
      practices,
      now: () => new Date(),
      reviewBaseUrl: 'https://labloop.example/review',
      signaller: recordingSignaller([]),
    });

    // Patient texts of the same sender waiting in its pacer (the SMS worker shares this instance).
    const pacer = senderPacer(SENDER, RATE);
    const textAt: number[] = [];
    const texts = [0, 1, 2, 3].map((i) =>
      pacer.take(1).then(() => {
        textAt[i] = performance.now();
      }),
    );
    const page = await activities.sendStaffSmsPage({
      workflowId: `lab-result-${PRACTICE}-${'5'.repeat(32)}`,
      resultVersion: 1,
      step: 'page-critical-oncall-sms',
      practiceId: PRACTICE,
      staffId: 'prov-oncall',
      reason: 'critical-result',
    });
    await Promise.all(texts);
    assert.equal(page.alreadySent, false);
    assert.deepEqual(
      sent.map((s) => s.via),
      [SENDER],
      "sent from the practice's sender",
    );
    const pageAt = sent[0]?.at ?? 0;
    const [first = 0, second = 0, , last = 0] = textAt;
    assert.ok(
      pageAt >= first + SLOT_MS - TIMER_SLACK_MS,
      `the page waited for the slot in progress (${pageAt - first} ms)`,
    );
    assert.ok(pageAt < second, 'the page went ahead of the texts still waiting');
    assert.ok(pageAt < last);
    const pageSegments = smsSegments(sent[0]?.body ?? '').segments;
    assert.ok(pageSegments >= 1);
    assert.ok(
      second - pageAt >= pageSegments * SLOT_MS - TIMER_SLACK_MS,
      `the next text waited for the page's segments (${second - pageAt} ms)`,
    );
  });
});
