import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createTwilioMessaging, TwilioSendError, type TwilioMessaging } from '../../lib/clients/twilio';
import { startTwilioFake, type TwilioFake } from '../../sandbox/fakes/twilio';
import { freePort } from '../../sandbox/servers/free-port';

/**
 * The real Twilio client (the `twilio` package with our httpClient) against the Twilio fake over
 * loopback HTTP: success paths, reconciliation, and every error mapping the caller relies on.
 */

const ACCOUNT_SID = `AC${'1'.repeat(32)}`;
const AUTH_TOKEN = 'test-auth-token-0123456789';
const SERVICE_SID = `MG${'2'.repeat(32)}`;
const FROM = '+15005550001';
const CALLBACK = 'http://127.0.0.1:9/twilio/status'; // nothing listens: callbacks fail quietly
const BODY = 'New results are ready from Test Clinic. Reply STOP to opt out.';
/** Short client timeout so the hang cases finish fast; the fake answers in a few ms otherwise. */
const TEST_TIMEOUT_MS = 400;

let numberSeq = 0;
const nextNumber = () => `+1555010${String(1000 + numberSeq++).slice(-4)}`;

async function expectSendError(promise: Promise<unknown>): Promise<TwilioSendError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TwilioSendError, `expected TwilioSendError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('Twilio client against the Twilio fake', () => {
  let fake: TwilioFake;
  let viaFrom: TwilioMessaging;
  let viaService: TwilioMessaging;

  before(async () => {
    fake = await startTwilioFake({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      phoneNumbers: [FROM],
      messagingServices: [{ sid: SERVICE_SID, phoneNumbers: ['+15005550002'] }],
      callbackRetry: { maxAttempts: 1 },
    });
    const common = { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: fake.url, timeoutMs: TEST_TIMEOUT_MS };
    viaFrom = createTwilioMessaging({ ...common, fromNumber: FROM });
    viaService = createTwilioMessaging({ ...common, messagingServiceSid: SERVICE_SID });
  });
  afterEach(async () => {
    await fake.idle();
    fake.reset();
  });
  after(async () => {
    await fake.close();
  });

  it('sends from a number: 201, queued, an SM sid, and the fake holds exactly what was sent', async () => {
    const to = nextNumber();
    const sent = await viaFrom.sendSms({ to, body: BODY, statusCallbackUrl: CALLBACK });
    assert.match(sent.sid, /^SM[0-9a-f]{32}$/);
    assert.equal(sent.status, 'queued');
    const stored = fake.message(sent.sid);
    assert.ok(stored);
    assert.equal(stored.to, to);
    assert.equal(stored.from, FROM);
    assert.equal(stored.messagingServiceSid, null);
    assert.equal(stored.body, BODY);
    assert.equal(stored.numSegments, 1);
    assert.equal(stored.statusCallback, CALLBACK);
  });

  it('sends through the Messaging Service when configured: accepted, no From', async () => {
    const to = nextNumber();
    const sent = await viaService.sendSms({ to, body: BODY, statusCallbackUrl: CALLBACK });
    assert.equal(sent.status, 'accepted');
    const stored = fake.message(sent.sid);
    assert.equal(stored?.messagingServiceSid, SERVICE_SID);
    await fake.idle();
    // the pool number is filled in once a sender is picked
    assert.equal(fake.message(sent.sid)?.from, '+15005550002');
  });

  it('fetchMessage follows the status to delivered', async () => {
    const sent = await viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK });
    await fake.idle();
    const fetched = await viaFrom.fetchMessage(sent.sid);
    assert.equal(fetched.sid, sent.sid);
    assert.equal(fetched.status, 'delivered');
    assert.equal(fetched.body, BODY);
    assert.equal(fetched.numSegments, 1);
    assert.equal(fetched.errorCode, null);
    assert.ok(fetched.dateSent !== null);
  });

  it('findRecentMessages finds messages to that number since a time, newest first, and nothing else', async () => {
    const to = nextNumber();
    const other = nextNumber();
    const since = new Date();
    const first = await viaFrom.sendSms({ to, body: 'first', statusCallbackUrl: CALLBACK });
    await viaFrom.sendSms({ to: other, body: 'other', statusCallbackUrl: CALLBACK });
    const second = await viaFrom.sendSms({ to, body: 'second', statusCallbackUrl: CALLBACK });
    const found = await viaFrom.findRecentMessages({ to, sentAfter: since });
    assert.deepEqual(
      found.map((m) => m.sid),
      [second.sid, first.sid],
    );
    const later = await viaFrom.findRecentMessages({ to, sentAfter: new Date(Date.now() + 5_000) });
    assert.deepEqual(later, []);
  });

  it('finds a message that is still queued (no date_sent yet), which a DateSent filter would miss', async () => {
    const to = nextNumber();
    fake.setSenderRate(FROM, 4); // first message leaves at once, the second waits 250 ms
    const since = new Date();
    await viaFrom.sendSms({ to, body: 'one', statusCallbackUrl: CALLBACK });
    const queued = await viaFrom.sendSms({ to, body: 'two', statusCallbackUrl: CALLBACK });
    assert.equal(fake.message(queued.sid)?.dateSent, null);
    const found = await viaFrom.findRecentMessages({ to, sentAfter: since });
    assert.ok(found.some((m) => m.sid === queued.sid && m.dateSent === null));
    fake.setSenderRate(FROM, null);
  });

  it('maps 21211 (invalid To) to a permanent error without quoting the number', async () => {
    const to = nextNumber();
    fake.setRecipientScenario(to, { kind: 'reject', code: 21211 });
    const error = await expectSendError(viaFrom.sendSms({ to, body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.kind, 'permanent');
    assert.equal(error.code, 21211);
    assert.equal(error.httpStatus, 400);
    assert.equal(error.ambiguous, false);
    assert.ok(!error.message.includes(to), 'the error message must not contain the phone number');
    assert.equal(fake.messages().length, 0);
  });

  it('maps 21610 after the patient texted STOP, and sends again after START', async () => {
    const patient = nextNumber();
    const stop = await fake.simulateInbound({ from: patient, to: FROM, body: ' stop ' });
    assert.equal(stop.optOutType, 'STOP');
    const error = await expectSendError(viaFrom.sendSms({ to: patient, body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.kind, 'permanent');
    assert.equal(error.code, 21610);
    assert.equal(error.httpStatus, 400);

    await fake.simulateInbound({ from: patient, to: FROM, body: 'START' });
    const sent = await viaFrom.sendSms({ to: patient, body: BODY, statusCallbackUrl: CALLBACK });
    assert.match(sent.sid, /^SM/);
  });

  it('an opt-out to a Messaging Service number blocks the whole service', async () => {
    const patient = nextNumber();
    await fake.simulateInbound({ from: patient, to: '+15005550002', body: 'UNSUBSCRIBE' });
    const error = await expectSendError(viaService.sendSms({ to: patient, body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.code, 21610);
    // ...but not the unrelated long code
    await viaFrom.sendSms({ to: patient, body: BODY, statusCallbackUrl: CALLBACK });
  });

  it('"STOP please" is not an opt-out keyword', async () => {
    const patient = nextNumber();
    const result = await fake.simulateInbound({ from: patient, to: FROM, body: 'STOP please' });
    assert.equal(result.optOutType, undefined);
    await viaFrom.sendSms({ to: patient, body: BODY, statusCallbackUrl: CALLBACK });
  });

  it('maps 429 to retryable with Retry-After honoured in milliseconds, and does not retry by itself', async () => {
    fake.failNextCreates({ kind: 'rate-limit', retryAfterSeconds: 7 }, 2);
    const error = await expectSendError(viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.kind, 'retryable');
    assert.equal(error.code, 20429);
    assert.equal(error.httpStatus, 429);
    assert.equal(error.retryAfterMs, 7_000);
    assert.equal(error.ambiguous, false);
    // exactly one request was made: one of the two queued failures is still waiting
    assert.equal(fake.failures.state().queued.length, 1);
  });

  it('maps HTTP 500 on a create to retryable and ambiguous (a 5xx does not prove nothing was created)', async () => {
    fake.failNextCreates({ kind: 'error', status: 500 });
    const error = await expectSendError(viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.kind, 'retryable');
    assert.equal(error.httpStatus, 500);
    assert.equal(error.code, 20500);
    assert.equal(error.ambiguous, true);
    assert.equal(fake.messages().length, 0);

    // The fake can also fail after processing: the message exists although the answer was a 500.
    const to = nextNumber();
    fake.failNextCreates({ kind: 'error', status: 502, afterProcessing: true });
    const after = await expectSendError(viaFrom.sendSms({ to, body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(after.ambiguous, true);
    assert.equal((await viaFrom.findRecentMessages({ to, sentAfter: new Date(Date.now() - 60_000) })).length, 1);
  });

  it('429 is retryable and not ambiguous: Twilio documents it as "not processed"', async () => {
    fake.failNextCreates({ kind: 'rate-limit', retryAfterSeconds: 1 });
    const error = await expectSendError(viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.kind, 'retryable');
    assert.equal(error.ambiguous, false);
  });

  it('an outage fails every create with 503 until it is cleared', async () => {
    fake.failures.startOutage(503);
    for (let i = 0; i < 3; i++) {
      const error = await expectSendError(
        viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK }),
      );
      assert.equal(error.httpStatus, 503);
      assert.equal(error.kind, 'retryable');
    }
    fake.failures.endOutage();
    await viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK });
  });

  it('a hang ends in a timeout reported as retryable and ambiguous; reconciliation finds the message', async () => {
    const to = nextNumber();
    const since = new Date();
    fake.failNextCreates({ kind: 'hang', afterProcessing: true });
    const started = Date.now();
    const error = await expectSendError(viaFrom.sendSms({ to, body: BODY, statusCallbackUrl: CALLBACK }));
    const elapsed = Date.now() - started;
    assert.equal(error.kind, 'retryable');
    assert.equal(error.ambiguous, true);
    assert.equal(error.httpStatus, undefined);
    assert.ok(elapsed >= TEST_TIMEOUT_MS - 20 && elapsed < TEST_TIMEOUT_MS + 2_000, `timed out after ${elapsed} ms`);
    // The POST was processed although the answer never came: the caller must not resend blindly.
    const found = await viaFrom.findRecentMessages({ to, sentAfter: since });
    assert.equal(found.length, 1);
    assert.equal(found[0]?.body, BODY);
  });

  it('a hang before processing is also ambiguous, and reconciliation shows nothing was created', async () => {
    const to = nextNumber();
    const since = new Date();
    fake.failNextCreates({ kind: 'hang' });
    const error = await expectSendError(viaFrom.sendSms({ to, body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.ambiguous, true);
    assert.deepEqual(await viaFrom.findRecentMessages({ to, sentAfter: since }), []);
  });

  it('a connection reset after the POST is ambiguous', async () => {
    fake.failNextCreates({ kind: 'reset' });
    const error = await expectSendError(viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.kind, 'retryable');
    assert.equal(error.ambiguous, true);
  });

  it('connection refused is retryable and not ambiguous (the request never left)', async () => {
    const port = await freePort();
    const nowhere = createTwilioMessaging({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      fromNumber: FROM,
      apiBaseUrl: `http://127.0.0.1:${port}`,
      timeoutMs: TEST_TIMEOUT_MS,
    });
    const error = await expectSendError(nowhere.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.kind, 'retryable');
    assert.equal(error.ambiguous, false);
    assert.equal(error.networkCode, 'ECONNREFUSED');
  });

  it('a GET that gets no answer is retryable but never ambiguous', async () => {
    const sent = await viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK });
    const unreachable = createTwilioMessaging({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      fromNumber: FROM,
      apiBaseUrl: `http://127.0.0.1:${await freePort()}`,
      timeoutMs: TEST_TIMEOUT_MS,
    });
    const error = await expectSendError(unreachable.fetchMessage(sent.sid));
    assert.equal(error.ambiguous, false);
  });

  it('wrong credentials are a permanent 401 (20003)', async () => {
    const wrong = createTwilioMessaging({
      accountSid: ACCOUNT_SID,
      authToken: 'not-the-token',
      fromNumber: FROM,
      apiBaseUrl: fake.url,
    });
    const error = await expectSendError(wrong.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: CALLBACK }));
    assert.equal(error.kind, 'permanent');
    assert.equal(error.httpStatus, 401);
    assert.equal(error.code, 20003);
  });

  it('fetching an unknown SID is a permanent 404', async () => {
    const error = await expectSendError(viaFrom.fetchMessage(`SM${'0'.repeat(32)}`));
    assert.equal(error.kind, 'permanent');
    assert.equal(error.httpStatus, 404);
  });

  it('rejects bad input before calling Twilio, naming the field and not echoing the value', async () => {
    await assert.rejects(
      viaFrom.sendSms({ to: '555-0100', body: BODY, statusCallbackUrl: CALLBACK }),
      (error: Error) => /to must be an E\.164/.test(error.message) && !error.message.includes('555-0100'),
    );
    await assert.rejects(
      viaFrom.sendSms({ to: nextNumber(), body: '', statusCallbackUrl: CALLBACK }),
      /body must not be empty/,
    );
    await assert.rejects(
      viaFrom.sendSms({ to: nextNumber(), body: 'x'.repeat(1601), statusCallbackUrl: CALLBACK }),
      /body must be at most 1600/,
    );
    await assert.rejects(
      viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: 'not a url' }),
      /statusCallbackUrl/,
    );
    await assert.rejects(viaFrom.fetchMessage('SM123'), /Invalid message SID/);
    assert.throws(
      () => createTwilioMessaging({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN }),
      /set messagingServiceSid or fromNumber/,
    );
    assert.equal(fake.messages().length, 0);
  });
});
