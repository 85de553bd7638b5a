import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { GenericSmsRequest } from '../../activities/contract';
import { FAILURE_CONVERTER_PATH } from '../../lib/temporal/data-converter';
import { startTwilioFake, type TwilioFake } from '../../sandbox/fakes/twilio';
import { createSmsWorker } from '../../worker/sms-worker';
import type { smsBurstWorkflow, SmsBurstInput } from '../fixtures/workflows/sms-burst';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createDevServerEnv, TEST_CODEC_KEYS, testDataConverter, type DevServerEnv } from '../support/temporal';
import { smsActivitiesForFake } from '../support/channel-activities';

/**
 * Per-sender throughput through the real SMS worker on a real Temporal dev server (time skipping does
 * not apply to task-queue rate limits): a burst of 100 sendGenericSms activities, scheduled at once,
 * reaches the Twilio fake no faster than the configured rate. The SMS worker is restarted half way,
 * and the rate still holds: the limit lives in the server, not in the worker.
 *
 * The rate is 20/s (a real long code gets 1/s) so the burst takes ~5 s instead of 100 s.
 *
 * Tolerance: the server's limiter is a token bucket whose capacity is one second of tokens
 * (ceil(rate)), so any window of T seconds may hold up to ceil(rate) + rate * T sends. A new poller
 * re-applies the rate (that is how the limit is set at all), and the server may start it with a full
 * bucket, so a window across the restart may hold one more bucket. We allow both buckets, plus 2
 * for HTTP latency jitter between the worker taking a task and the fake accepting the create; an
 * unlimited queue sends all 100 within a few hundred milliseconds, far outside that.
 */

const RATE = 20;
const BURST = 100;
const BUCKET = Math.ceil(RATE);
/** One bucket at the start, one more when the restarted worker re-applies the rate. */
const BURST_ALLOWANCE = 2 * BUCKET;
const JITTER_SENDS = 2;
const RESTART_AFTER = 40;

const ACCOUNT_SID = `AC${'4'.repeat(32)}`;
const AUTH_TOKEN = 'throughput-token-0123456789';
const SERVICE_SID = `MG${'4'.repeat(32)}`;

describe('SMS throughput per sender (server-side task-queue rate limit)', () => {
  let db: TestDatabase;
  let fake: TwilioFake;
  let temporal: DevServerEnv;
  let bundle: WorkflowBundleWithSourceMap;

  before(async () => {
    [db, fake, temporal, bundle] = await Promise.all([
      createTestDatabase('sms_throughput'),
      startTwilioFake({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN }),
      createDevServerEnv(),
      bundleWorkflowCode({
        workflowsPath: require.resolve('../fixtures/workflows/sms-burst'),
        failureConverterPath: FAILURE_CONVERTER_PATH,
        logger: new DefaultLogger('WARN'),
      }),
    ]);
  });
  after(async () => {
    await temporal?.teardown();
    await fake?.close();
    await db?.close();
  });

  it(`a burst of ${BURST} sends on one sender never exceeds ${RATE}/s, across a worker restart`, async () => {
    const suffix = randomBytes(4).toString('hex');
    const smsTaskQueue = `labloop-sms-throughput-${suffix}`;
    const workflowTaskQueue = `labloop-sms-burst-${suffix}`;
    const { sendGenericSms } = smsActivitiesForFake(db.pool, {
      twilioUrl: fake.url,
      account: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, messagingServiceSid: SERVICE_SID },
      statusCallbackUrl: 'http://127.0.0.1:9/webhooks/twilio/status',
    });
    const requests: GenericSmsRequest[] = Array.from({ length: BURST }, (_, i) => ({
      workflowId: `lab-result-195900-${suffix}${String(i).padStart(24, '0')}`,
      resultVersion: 1,
      step: 'generic-sms',
      practiceId: '195900',
      patientId: `tp-${i}`,
      to: `+1555040${String(1000 + i).slice(-4)}`,
      body: 'Riverside Family Medicine: new results are ready in your portal. Reply STOP to opt out.',
      template: 'results-ready',
      requiresConsent: true,
    }));
    await db.pool.query(
      `INSERT INTO sms_consent (practice_id, patient_id, phone_e164, consented, source)
       SELECT '195900', p, t, true, 'staff' FROM unnest($1::text[], $2::text[]) AS x(p, t)`,
      [requests.map((r) => r.patientId), requests.map((r) => r.to)],
    );

    const { env } = temporal;
    const smsWorker = () =>
      createSmsWorker({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        codecKeys: TEST_CODEC_KEYS,
        sendGenericSms,
        segmentsPerSecond: RATE,
        taskQueue: smsTaskQueue,
      });
    const workflowWorker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: workflowTaskQueue,
      workflowBundle: bundle,
      dataConverter: testDataConverter(),
    });

    const input: SmsBurstInput = { smsTaskQueue, requests };
    await workflowWorker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof smsBurstWorkflow>('smsBurstWorkflow', {
        taskQueue: workflowTaskQueue,
        workflowId: `sms-burst-${suffix}`,
        args: [input],
      });
      const first = await smsWorker();
      await first.runUntil(async () => {
        while (fake.sentTimeline().length < RESTART_AFTER) await new Promise((r) => setTimeout(r, 20));
      });
      // The first worker is gone (graceful shutdown); a fresh one picks up the backlog.
      const second = await smsWorker();
      const outcomes = await second.runUntil(handle.result());
      assert.equal(outcomes.length, BURST);
      assert.equal(new Set(outcomes.map((o) => o.providerMessageId)).size, BURST, 'one message per send');
    });

    const accepted = fake
      .sentTimeline()
      .map((e) => e.acceptedAt)
      .sort((a, b) => a - b);
    assert.equal(accepted.length, BURST, 'no duplicates, none lost');
    let worst = { excess: -Infinity, count: 0, windowMs: 0 };
    for (let i = 0; i < accepted.length; i++) {
      for (let j = i; j < accepted.length; j++) {
        const windowMs = accepted[j] - accepted[i];
        const allowed = BURST_ALLOWANCE + (RATE * windowMs) / 1000 + JITTER_SENDS;
        const count = j - i + 1;
        if (count - allowed > worst.excess) worst = { excess: count - allowed, count, windowMs };
      }
    }
    assert.ok(
      worst.excess <= 0,
      `${worst.count} sends within ${worst.windowMs.toFixed(0)} ms exceed ${BURST_ALLOWANCE} (two buckets) + ${RATE}/s + ${JITTER_SENDS}`,
    );
    const spanMs = accepted.at(-1)! - accepted[0];
    const minimumMs = ((BURST - BURST_ALLOWANCE - JITTER_SENDS) / RATE) * 1000;
    assert.ok(
      spanMs >= minimumMs,
      `the burst took ${spanMs.toFixed(0)} ms; at ${RATE}/s it cannot take less than ${minimumMs} ms`,
    );
  });
});
