import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { GenericSmsRequest } from '../../domain/activity-contract';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../lib/temporal/data-converter';
import { startTwilioFake, type TwilioFake } from '../../sandbox/fakes/twilio';
import { createSmsWorker } from '../../worker/sms-worker';
import type { smsBurstWorkflow, SmsBurstInput } from '../fixtures/workflows/sms-burst';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createDevServerEnv, TEST_CODEC_KEYS, testDataConverter, type DevServerEnv } from '../support/temporal';
import { smsActivitiesForFake } from '../support/channel-activities';

/**
 * Per-sender throughput through the real SMS worker on a real Temporal dev server (time skipping does
 * not apply to task-queue rate limits), measured by when the Twilio fake accepted each create.
 *
 *  1. The server's own limit (segment pacing off): a burst of 100 sends at 20/s. Measured on the
 *     dev server (reported with t.diagnostic): it releases no instantaneous burst (1-2 sends in the
 *     first 50 ms), but it is a token bucket of one second of tokens (ceil(rate) = 20), so after a
 *     slow moment (worker warm-up, a busy machine) up to 20 saved tokens go out at once. Measured
 *     largest excess of sends over rate × window: 6.8, 13.6 and 22.1 in three runs locally, 24.1 on
 *     CI (a busy moment there delays the worker's polls, so the saved bucket and the sends held up
 *     behind it land together). Asserted: at most SERVER_BURST + SERVER_JITTER (one more bucket's
 *     worth), so the burst cannot take less than (100 - 40) / 20 s = 3 s; an unlimited queue sends
 *     all 100 in a few hundred milliseconds (excess ~95), so the check still tells the two apart.
 *  2. The worker as deployed (segments paced): 90 one-segment and 10 two-segment bodies, 110
 *     segments, with the SMS worker restarted part way. The pacer has no burst: every window of the
 *     timeline holds at most rate × window + 2 segments (its first send), + 2 for the restarted
 *     worker's fresh pacer, + 2 for jitter, so the whole takes at least (110 - 6) / 20 s = 5.2 s; a
 *     two-segment body takes two intervals.
 *
 * The rate is 20/s (a real long code gets 1/s) so each burst takes ~5 s instead of 100 s.
 */

const RATE = 20;
const BURST = 100;
/** The dev server's limiter bucket: one second of tokens (measured; see test 1). */
const SERVER_BURST = Math.ceil(RATE);
/**
 * Sends a loaded machine can bunch behind the server's bucket (late polls, HTTP latency): up to one
 * more bucket. What this test tells apart is a limited queue from an unlimited one, not the bucket's
 * exact depth.
 */
const SERVER_JITTER = SERVER_BURST;
/** Paced sends are 50 ms apart; HTTP latency noise on a loaded machine shifts up to 2 of them. */
const PACED_JITTER = 2;
const RESTART_AFTER = 40;
const TWO_SEGMENT_EVERY = 10;

const ACCOUNT_SID = `AC${'4'.repeat(32)}`;
const AUTH_TOKEN = 'throughput-token-0123456789';
const SERVICE_SID = `MG${'4'.repeat(32)}`;
const ONE_SEGMENT = 'Riverside Family Medicine: new results are ready in your portal. Reply STOP to opt out.';
/** 161 GSM-7 characters: two segments. */
const TWO_SEGMENTS = `${ONE_SEGMENT} ${'Please sign in to the portal to read them.'.repeat(2)}`;

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
        ...WORKFLOW_BUNDLE_OPTIONS,
        logger: new DefaultLogger('WARN'),
      }),
    ]);
  });
  after(async () => {
    await temporal?.teardown();
    await fake?.close();
    await db?.close();
  });

  async function burst(options: { paceSegments: boolean; restart: boolean; bodies: (i: number) => string }) {
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
      patientId: `tp-${suffix}-${i}`,
      to: `+1555040${String(1000 + i).slice(-4)}`,
      body: options.bodies(i),
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
        paceSegments: options.paceSegments,
      });
    const workflowWorker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: workflowTaskQueue,
      workflowBundle: bundle,
      dataConverter: testDataConverter(),
    });
    const before = new Set(fake.sentTimeline().map((e) => e.sid));
    const input: SmsBurstInput = { smsTaskQueue, requests };
    await workflowWorker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof smsBurstWorkflow>('smsBurstWorkflow', {
        taskQueue: workflowTaskQueue,
        workflowId: `sms-burst-${suffix}`,
        args: [input],
      });
      if (options.restart) {
        const first = await smsWorker();
        await first.runUntil(async () => {
          while (fake.sentTimeline().filter((e) => !before.has(e.sid)).length < RESTART_AFTER) {
            await new Promise((r) => setTimeout(r, 20));
          }
        });
      }
      // (After a restart) a fresh worker picks up the backlog.
      const second = await smsWorker();
      const outcomes = await second.runUntil(handle.result());
      assert.equal(outcomes.length, BURST);
      assert.equal(new Set(outcomes.map((o) => o.providerMessageId)).size, BURST, 'one message per send');
    });
    const timeline = fake
      .sentTimeline()
      .filter((e) => !before.has(e.sid))
      .sort((a, b) => a.acceptedAt - b.acceptedAt);
    assert.equal(timeline.length, BURST, 'no duplicates, none lost');
    return timeline;
  }

  /** The largest excess of (segments, or messages) in any window over rate × the window's length. */
  function worstExcess(timeline: { acceptedAt: number; segments: number }[], unit: 'segments' | 'messages') {
    let worst = { excess: -Infinity, count: 0, windowMs: 0 };
    for (let i = 0; i < timeline.length; i++) {
      let count = 0;
      for (let j = i; j < timeline.length; j++) {
        count += unit === 'segments' ? timeline[j].segments : 1;
        const windowMs = timeline[j].acceptedAt - timeline[i].acceptedAt;
        // The first send of the window fills its slot: `count` may be rate × window + that one.
        const excess = count - (RATE * windowMs) / 1000;
        if (excess > worst.excess) worst = { excess, count, windowMs };
      }
    }
    return worst;
  }

  it(`the server's own limit: ${BURST} sends at ${RATE}/s pass a burst of at most ${SERVER_BURST}, then ${RATE}/s`, async (t) => {
    const timeline = await burst({ paceSegments: false, restart: false, bodies: () => ONE_SEGMENT });
    const worst = worstExcess(timeline, 'messages');
    const first = timeline.filter((e) => e.acceptedAt - timeline[0].acceptedAt < 1000 / RATE).length;
    t.diagnostic(
      `server burst: ${first} sends within the first ${1000 / RATE} ms; largest excess ${worst.excess.toFixed(1)} (${worst.count} sends in ${worst.windowMs.toFixed(0)} ms)`,
    );
    assert.ok(
      worst.excess <= SERVER_BURST + SERVER_JITTER,
      `measured burst: ${worst.count} sends in ${worst.windowMs.toFixed(0)} ms, ${worst.excess.toFixed(1)} over ${RATE}/s (allowed ${SERVER_BURST} + ${SERVER_JITTER})`,
    );
    assert.ok(worst.excess >= 1, 'the first send of any window is free');
    const spanMs = timeline.at(-1)!.acceptedAt - timeline[0].acceptedAt;
    const minimumMs = ((BURST - SERVER_BURST - SERVER_JITTER) / RATE) * 1000;
    assert.ok(
      spanMs >= minimumMs,
      `the burst took ${spanMs.toFixed(0)} ms; at ${RATE}/s it cannot take less than ${minimumMs} ms`,
    );
  });

  it(`as deployed: segments are paced at ${RATE}/s without burst, a two-segment body counts two, across a worker restart`, async () => {
    const timeline = await burst({
      paceSegments: true,
      restart: true,
      bodies: (i) => (i % TWO_SEGMENT_EVERY === 0 ? TWO_SEGMENTS : ONE_SEGMENT),
    });
    const segments = timeline.reduce((n, e) => n + e.segments, 0);
    assert.equal(segments, BURST + BURST / TWO_SEGMENT_EVERY, 'the fake counted the two-segment bodies as two');
    const worst = worstExcess(timeline, 'segments');
    // One slot for a window's first send (2 for a two-segment one), one message for the restarted
    // worker's fresh pacer, one for jitter.
    const allowed = 2 + 2 + PACED_JITTER;
    assert.ok(
      worst.excess <= allowed,
      `${worst.count} segments in ${worst.windowMs.toFixed(0)} ms: ${worst.excess.toFixed(1)} over ${RATE}/s (allowed ${allowed})`,
    );
    const spanMs = timeline.at(-1)!.acceptedAt - timeline[0].acceptedAt;
    const minimumMs = ((segments - allowed) / RATE) * 1000;
    assert.ok(
      spanMs >= minimumMs,
      `${segments} segments took ${spanMs.toFixed(0)} ms; at ${RATE}/s at least ${minimumMs} ms`,
    );
    // After a two-segment body, the next send waits two intervals.
    const gaps = timeline
      .slice(0, -1)
      .map((e, i) => ({ segments: e.segments, gapMs: timeline[i + 1].acceptedAt - e.acceptedAt }));
    const afterTwo = gaps.filter((g) => g.segments === 2).map((g) => g.gapMs);
    const median = afterTwo.sort((a, b) => a - b)[Math.floor(afterTwo.length / 2)];
    assert.ok(median >= (2 * 1000) / RATE - 10, `median gap after a two-segment body ${median} ms`);
  });
});
