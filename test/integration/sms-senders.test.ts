import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTwilioSenders } from '../../lib/sms/senders';
import { SegmentPacer, smsWorkerConcurrency } from '../../worker/sms-worker';
import { SMS_TASK_QUEUE, smsTaskQueueFor, TASK_QUEUE } from '../../workflows/definitions';

/** Per-sender configuration (TWILIO_SENDERS), the queue each sender gets, and the segment pacer. */

const MG = `MG${'a'.repeat(32)}`;
const MG2 = `MG${'b'.repeat(32)}`;

describe('SMS senders', () => {
  it('parses TWILIO_SENDERS next to the default sender', () => {
    const senders = parseTwilioSenders({
      TWILIO_MESSAGING_SERVICE_SID: MG,
      TWILIO_SENDER_SEGMENTS_PER_SECOND: 1,
      TWILIO_SENDERS: `lakeside=${MG2}:3, tollfree=+18005550100:25`,
    });
    assert.deepEqual(senders, [
      { id: 'default', messagingServiceSid: MG, segmentsPerSecond: 1 },
      { id: 'lakeside', messagingServiceSid: MG2, segmentsPerSecond: 3 },
      { id: 'tollfree', fromNumber: '+18005550100', segmentsPerSecond: 25 },
    ]);
    assert.throws(
      () => parseTwilioSenders({ TWILIO_SENDER_SEGMENTS_PER_SECOND: 1, TWILIO_SENDERS: 'x=MG12:1' }),
      /entry 1/,
    );
    assert.throws(
      () => parseTwilioSenders({ TWILIO_SENDER_SEGMENTS_PER_SECOND: 1, TWILIO_SENDERS: `a=${MG}:1,a=${MG2}:2` }),
      /listed twice/,
    );
  });

  it('gives each sender its own task queue (so its own server-side rate limit)', () => {
    assert.equal(smsTaskQueueFor(TASK_QUEUE), SMS_TASK_QUEUE);
    assert.equal(smsTaskQueueFor(TASK_QUEUE, 'default'), SMS_TASK_QUEUE);
    assert.equal(smsTaskQueueFor(TASK_QUEUE, 'lakeside'), `${SMS_TASK_QUEUE}-lakeside`);
    assert.equal(smsTaskQueueFor('e2e-1', 'lakeside'), 'e2e-1-sms-lakeside');
    assert.throws(() => smsTaskQueueFor(TASK_QUEUE, 'Not A Sender'));
  });

  it('paces segments without burst: a two-segment send holds two intervals', () => {
    let now = 0;
    const pacer = new SegmentPacer(2, () => now);
    assert.equal(pacer.reserve(1), 0);
    assert.equal(pacer.reserve(2), 500, 'waits for the first segment');
    assert.equal(pacer.reserve(1), 1500, 'then two intervals for the two-segment body');
    now = 10_000;
    assert.equal(pacer.reserve(1), 0, 'no saved-up burst after a quiet time');
    assert.equal(pacer.reserve(1), 500);
    assert.deepEqual([smsWorkerConcurrency(1), smsWorkerConcurrency(20)], [1, 10]);
  });
});
