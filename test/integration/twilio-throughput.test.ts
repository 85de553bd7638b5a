import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTwilioMessaging, type TwilioMessaging } from '../../lib/clients/twilio';
import { startTwilioFake, type TimelineEntry, type TwilioFake } from '../../sandbox/fakes/twilio';

/**
 * Sender throughput: the fake accepts a burst at once (like Twilio's queue) and releases it at the
 * configured segments-per-second, and the timeline shows that rate was honoured. The rate is 50/s
 * instead of a real 10DLC 1/s so 100 messages take ~2 s rather than 100 s; the spacing rule is the same.
 */

const ACCOUNT_SID = `AC${'5'.repeat(32)}`;
const AUTH_TOKEN = 'throughput-test-token-xyz';
const FROM = '+15005550021';
const RATE = 50; // segments per second → one single-segment message every 20 ms
const INTERVAL_MS = 1000 / RATE;
const BURST = 100;
/** Timers may fire up to ~1 ms early after rounding; anything shorter than this would break the rate. */
const EARLY_TOLERANCE_MS = 2;

const sentTimes = (timeline: TimelineEntry[]) =>
  timeline
    .map((e) => e.sentAt)
    .filter((t): t is number => t !== null)
    .sort((a, b) => a - b);

describe('Twilio fake sender throughput', () => {
  let fake: TwilioFake;
  let client: TwilioMessaging;

  before(async () => {
    fake = await startTwilioFake({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      callbackDelaysMs: { sent: 0, delivered: 0 },
    });
    client = createTwilioMessaging({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      fromNumber: FROM,
      apiBaseUrl: fake.url,
    });
  });
  after(async () => {
    await fake.close();
  });

  it(`a burst of ${BURST} SMS on one sender is accepted at once and sent at no more than ${RATE}/s`, async () => {
    fake.setSenderRate(FROM, RATE);
    const results = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        client.sendSms({
          to: `+1555030${String(1000 + i).slice(-4)}`,
          body: 'New results are ready. Reply STOP to opt out.',
          statusCallbackUrl: 'http://127.0.0.1:9/status',
        }),
      ),
    );
    assert.equal(new Set(results.map((r) => r.sid)).size, BURST);
    const acceptedBy = Math.max(...fake.sentTimeline(FROM).map((e) => e.acceptedAt));

    await fake.idle();
    const timeline = fake.sentTimeline(FROM);
    assert.equal(timeline.length, BURST);
    const sent = sentTimes(timeline);
    assert.equal(sent.length, BURST, 'every message left the queue');

    const gaps = sent.slice(1).map((t, i) => t - sent[i]);
    const shortest = Math.min(...gaps);
    assert.ok(
      shortest >= INTERVAL_MS - EARLY_TOLERANCE_MS,
      `shortest gap ${shortest.toFixed(2)} ms is below the ${INTERVAL_MS} ms the rate allows`,
    );
    const span = sent[sent.length - 1] - sent[0];
    const observedRate = ((BURST - 1) * 1000) / span;
    assert.ok(observedRate <= RATE * 1.02, `observed ${observedRate.toFixed(1)}/s exceeds ${RATE}/s`);
    // ...and the queue is not needlessly slow either (timer lateness on a busy machine is allowed for).
    assert.ok(observedRate >= RATE * 0.4, `observed ${observedRate.toFixed(1)}/s is far below ${RATE}/s`);
    // Accepting was not throttled: the whole burst was in before the queue was half drained.
    assert.ok(acceptedBy < sent[0] + span / 2, 'creates were accepted at once, not paced');
    assert.ok(fake.messages().every((m) => m.status === 'delivered'));
  });

  it('counts segments, not messages: a 2-segment message takes two intervals', async () => {
    fake.reset();
    fake.setSenderRate(FROM, RATE);
    const long = 'x'.repeat(200); // GSM-7, 200 septets → 2 segments
    for (let i = 0; i < 4; i++) {
      await client.sendSms({ to: `+1555031000${i}`, body: long, statusCallbackUrl: 'http://127.0.0.1:9/status' });
    }
    await fake.idle();
    const timeline = fake.sentTimeline(FROM);
    assert.ok(timeline.every((e) => e.segments === 2));
    const sent = sentTimes(timeline);
    const gaps = sent.slice(1).map((t, i) => t - sent[i]);
    assert.ok(
      Math.min(...gaps) >= 2 * INTERVAL_MS - EARLY_TOLERANCE_MS,
      `gaps ${gaps.map((g) => g.toFixed(1)).join(', ')} ms must be at least ${2 * INTERVAL_MS} ms`,
    );
  });

  it('other senders are not held up by a busy one', async () => {
    fake.reset();
    const OTHER = '+15005550022';
    const other = createTwilioMessaging({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      fromNumber: OTHER,
      apiBaseUrl: fake.url,
    });
    fake.setSenderRate(FROM, 5); // 200 ms per message on the busy sender
    for (let i = 0; i < 3; i++) {
      await client.sendSms({ to: `+1555032000${i}`, body: 'busy', statusCallbackUrl: 'http://127.0.0.1:9/status' });
    }
    const quick = await other.sendSms({
      to: '+15550329999',
      body: 'quick',
      statusCallbackUrl: 'http://127.0.0.1:9/status',
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const entry = fake.sentTimeline(OTHER).find((e) => e.sid === quick.sid);
    assert.ok(entry?.sentAt !== null && entry?.sentAt !== undefined, 'the other sender sent at once');
    assert.ok(
      fake.sentTimeline(FROM).some((e) => e.sentAt === null),
      'the busy sender still has messages queued',
    );
    await fake.idle();
  });
});
