import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPracticeRegistry } from '../../lib/practices';
import { senderPacer } from '../../lib/sms/pacer';
import { parseTwilioSenders } from '../../lib/sms/senders';
import { helpTextByMessagingService, smsSenderUse } from '../../lib/sms/shared-senders';
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

  it('urgent takes (staff pages) go before waiting ones, in order; one pacer per sender and rate', async () => {
    const pacer = new SegmentPacer(50);
    const order: string[] = [];
    const takes = [
      pacer.take(1).then(() => order.push('text-1')),
      pacer.take(1).then(() => order.push('text-2')),
      pacer.take(1).then(() => order.push('text-3')),
      pacer.take(1, { urgent: true }).then(() => order.push('page-1')),
      pacer.take(1, { urgent: true }).then(() => order.push('page-2')),
    ];
    await Promise.all(takes);
    assert.deepEqual(order, ['text-1', 'page-1', 'page-2', 'text-2', 'text-3']);
    assert.equal(senderPacer('lakeside', 3), senderPacer('lakeside', 3), 'the SMS worker and pages share it');
    assert.notEqual(senderPacer('lakeside', 3), senderPacer('riverside', 3));
  });

  it('says which practice texts from which Messaging Service, and where practices share one', () => {
    const sandbox = loadPracticeRegistry('config/practices.sandbox.json').all()[0]?.policy;
    assert.ok(sandbox !== undefined);
    const riverside = { ...sandbox, practiceId: 'riverside', smsHelpText: 'Riverside: call 555-0100.' };
    const lakeside = { ...sandbox, practiceId: 'lakeside', smsHelpText: 'Lakeside: call 555-0200.' };
    const hilltop = { ...sandbox, practiceId: 'hilltop', smsHelpText: 'Hilltop: call 555-0300.' };
    const senders = parseTwilioSenders({
      TWILIO_MESSAGING_SERVICE_SID: MG,
      TWILIO_SENDER_SEGMENTS_PER_SECOND: 1,
      TWILIO_SENDERS: `lakeside=${MG2}:3,also-default=${MG}:1`,
    });

    // Each practice on its own Messaging Service: nothing shared, each service has its practice's text.
    const own = [riverside, { ...lakeside, smsSenderId: 'lakeside' }];
    const separate = smsSenderUse(own, senders);
    assert.deepEqual(separate.shared, []);
    assert.deepEqual(
      [...separate.senderOf].map(([practice, sender]) => [practice, sender.messagingServiceSid]),
      [
        ['riverside', MG],
        ['lakeside', MG2],
      ],
    );
    assert.deepEqual(
      [...helpTextByMessagingService(own, senders)],
      [
        [MG, riverside.smsHelpText],
        [MG2, lakeside.smsHelpText],
      ],
    );

    // Two sender ids for one Messaging Service still share it; an unknown sender falls back to default.
    const use = smsSenderUse(
      [riverside, { ...lakeside, smsSenderId: 'also-default' }, { ...hilltop, smsSenderId: 'nope' }],
      senders,
    );
    assert.deepEqual(use.shared, [
      { senderIds: ['also-default', 'default'], practiceIds: ['hilltop', 'lakeside', 'riverside'] },
    ]);
    assert.deepEqual(use.unknownSender, [{ practiceId: 'hilltop', smsSenderId: 'nope' }]);
    // The same text on one service is no conflict.
    assert.deepEqual(
      smsSenderUse([riverside, { ...lakeside, smsHelpText: riverside.smsHelpText }], senders).shared,
      [],
    );
  });
});
