import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  classifyDeliveryErrorCode,
  createTwilioMessaging,
  verifyTwilioSignature,
  type TwilioMessaging,
} from '../../lib/clients/twilio';
import {
  parseForm,
  type CapturedRequest,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../../sandbox/fakes/shared';
import {
  DEFAULT_KEYWORD_REPLIES,
  signTwilioWebhook,
  startTwilioFake,
  type TwilioFake,
} from '../../sandbox/fakes/twilio';

/**
 * Status callbacks and inbound webhooks from the Twilio fake, received by a real HTTP server and
 * checked with our signature verification: sequence, parameters, signing, duplicates, ordering,
 * retries and opt-out keywords.
 */

const ACCOUNT_SID = `AC${'3'.repeat(32)}`;
const AUTH_TOKEN = 'callback-test-token-abcdef';
const SERVICE_SID = `MG${'4'.repeat(32)}`;
const FROM = '+15005550011';
const POOL_NUMBER = '+15005550012';
const BODY = 'New results are ready from Test Clinic. Reply STOP to opt out.';
const SERVICE_HELP = 'Test Clinic: call 555-0100 for help. Reply STOP to opt out.';

let numberSeq = 0;
const nextNumber = () => `+1555020${String(1000 + numberSeq++).slice(-4)}`;

type Params = Record<string, string | string[]>;
const paramsOf = (r: CapturedRequest): Params => parseForm(r.body);
const statusOf = (r: CapturedRequest) => paramsOf(r).MessageStatus;

function verify(r: CapturedRequest, overrides: { url?: string; params?: Params; authToken?: string } = {}): boolean {
  return verifyTwilioSignature({
    authToken: overrides.authToken ?? AUTH_TOKEN,
    signature: r.headers['x-twilio-signature'],
    url: overrides.url ?? r.url,
    params: overrides.params ?? paramsOf(r),
  });
}

describe('Twilio fake webhooks verified by our client code', () => {
  let fake: TwilioFake;
  let receiver: WebhookReceiver;
  let viaFrom: TwilioMessaging;
  let viaService: TwilioMessaging;
  let statusUrl: string;

  before(async () => {
    receiver = await startWebhookReceiver();
    statusUrl = `${receiver.url}/twilio/status?practice=p1`;
    fake = await startTwilioFake({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      phoneNumbers: [FROM],
      // Advanced Opt-Out on the service (custom HELP text); FROM is a plain number with default handling.
      messagingServices: [
        { sid: SERVICE_SID, phoneNumbers: [POOL_NUMBER], advancedOptOut: { replies: { HELP: SERVICE_HELP } } },
      ],
      callbackDelaysMs: { sent: 5, delivered: 10 },
      callbackRetry: { maxAttempts: 3, retryDelayMs: 20 },
      inboundUrl: `${receiver.url}/twilio/inbound`,
    });
    const common = { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: fake.url };
    viaFrom = createTwilioMessaging({ ...common, fromNumber: FROM });
    viaService = createTwilioMessaging({ ...common, messagingServiceSid: SERVICE_SID });
  });
  afterEach(async () => {
    await fake.idle();
    fake.reset();
    receiver.requests.length = 0;
    receiver.setResponder(() => 200);
  });
  after(async () => {
    await fake.close();
    await receiver.close();
  });

  const callbacksFor = (sid: string) => receiver.requests.filter((r) => paramsOf(r).MessageSid === sid);

  it('sends sent then delivered (nothing for the initial queued), signed and carrying the documented fields', async () => {
    const to = nextNumber();
    const { sid } = await viaFrom.sendSms({ to, body: BODY, statusCallbackUrl: statusUrl });
    await fake.idle();
    const callbacks = callbacksFor(sid);
    assert.deepEqual(callbacks.map(statusOf), ['sent', 'delivered']);
    for (const r of callbacks) {
      assert.equal(r.method, 'POST');
      assert.equal(r.path, '/twilio/status');
      assert.match(r.headers['content-type'] ?? '', /application\/x-www-form-urlencoded/);
      assert.ok(verify(r), 'signature must verify over the exact URL including its query');
      assert.ok((r.headers['i-twilio-idempotency-token'] ?? '').length > 0);
      const p = paramsOf(r);
      assert.equal(p.MessageSid, sid);
      assert.equal(p.SmsSid, sid);
      assert.equal(p.SmsStatus, p.MessageStatus);
      assert.equal(p.AccountSid, ACCOUNT_SID);
      assert.equal(p.From, FROM);
      assert.equal(p.To, to);
      assert.equal(p.ApiVersion, '2010-04-01');
      assert.equal(p.ErrorCode, undefined);
    }
    assert.match(String(paramsOf(callbacks[1]).RawDlrDoneDate), /^\d{10}$/);
    const tokens = callbacks.map((r) => r.headers['i-twilio-idempotency-token']);
    assert.equal(new Set(tokens).size, 2, 'each event has its own idempotency token');
  });

  it('with a Messaging Service: queued, sent, delivered, each with MessagingServiceSid and the pool number', async () => {
    const { sid } = await viaService.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: statusUrl });
    await fake.idle();
    const callbacks = callbacksFor(sid);
    assert.deepEqual(callbacks.map(statusOf), ['queued', 'sent', 'delivered']);
    for (const r of callbacks) {
      assert.equal(paramsOf(r).MessagingServiceSid, SERVICE_SID);
      assert.ok(verify(r));
    }
    assert.equal(paramsOf(callbacks[2]).From, POOL_NUMBER);
  });

  it('rejects a tampered body, a different URL, a wrong token and a missing header', async () => {
    const { sid } = await viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: statusUrl });
    await fake.idle();
    const [r] = callbacksFor(sid);
    assert.ok(r);
    assert.ok(verify(r));
    assert.equal(verify(r, { params: { ...paramsOf(r), MessageStatus: 'failed' } }), false);
    assert.equal(verify(r, { params: { ...paramsOf(r), Extra: 'x' } }), false);
    assert.equal(verify(r, { url: r.url.replace('practice=p1', 'practice=p2') }), false);
    assert.equal(verify(r, { url: r.url.replace('/twilio/status', '/twilio/other') }), false);
    assert.equal(verify(r, { authToken: 'another-token' }), false);
    assert.equal(
      verifyTwilioSignature({ authToken: AUTH_TOKEN, signature: undefined, url: r.url, params: paramsOf(r) }),
      false,
    );
    assert.equal(
      verifyTwilioSignature({ authToken: AUTH_TOKEN, signature: 'AAAA', url: r.url, params: paramsOf(r) }),
      false,
    );
  });

  it('accepts a signature made over the URL without the default port when we know it with one', () => {
    // Twilio may sign https://host/path while our configuration says https://host:443/path.
    const params = { MessageSid: 'SM1', MessageStatus: 'sent' };
    const signedWithout = signTwilioWebhook(AUTH_TOKEN, 'https://labloop.example.org/twilio/status', params);
    assert.ok(
      verifyTwilioSignature({
        authToken: AUTH_TOKEN,
        signature: signedWithout,
        url: 'https://labloop.example.org:443/twilio/status',
        params,
      }),
    );
  });

  it('undelivered 30007 and failed 30034 carry ErrorCode; 30003 classifies as transient', async () => {
    const filtered = nextNumber();
    const unregistered = nextNumber();
    const offHandset = nextNumber();
    fake.setRecipientScenario(filtered, { kind: 'undelivered', errorCode: 30007 });
    fake.setRecipientScenario(unregistered, { kind: 'failed', errorCode: 30034 });
    fake.setRecipientScenario(offHandset, { kind: 'undelivered', errorCode: 30003 });
    const a = await viaFrom.sendSms({ to: filtered, body: BODY, statusCallbackUrl: statusUrl });
    const b = await viaFrom.sendSms({ to: unregistered, body: BODY, statusCallbackUrl: statusUrl });
    const c = await viaFrom.sendSms({ to: offHandset, body: BODY, statusCallbackUrl: statusUrl });
    await fake.idle();

    const aCalls = callbacksFor(a.sid);
    assert.deepEqual(aCalls.map(statusOf), ['sent', 'undelivered']);
    assert.equal(paramsOf(aCalls[1]).ErrorCode, '30007');
    assert.equal(classifyDeliveryErrorCode(String(paramsOf(aCalls[1]).ErrorCode)), 'permanent');

    const bCalls = callbacksFor(b.sid);
    assert.deepEqual(bCalls.map(statusOf), ['failed']);
    assert.equal(paramsOf(bCalls[0]).ErrorCode, '30034');
    assert.equal(classifyDeliveryErrorCode(30034), 'permanent');

    const cCalls = callbacksFor(c.sid);
    assert.equal(paramsOf(cCalls[1]).ErrorCode, '30003');
    assert.equal(classifyDeliveryErrorCode(30003), 'transient');
    assert.ok(cCalls.every((r) => verify(r)));

    const fetched = await viaFrom.fetchMessage(a.sid);
    assert.equal(fetched.status, 'undelivered');
    assert.equal(fetched.errorCode, 30007);
  });

  it('duplicates every callback with the same idempotency token when asked', async () => {
    fake.setCallbackBehaviour({ duplicate: true });
    const { sid } = await viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: statusUrl });
    await fake.idle();
    const callbacks = callbacksFor(sid);
    assert.deepEqual(callbacks.map(statusOf), ['sent', 'sent', 'delivered', 'delivered']);
    assert.equal(
      callbacks[0].headers['i-twilio-idempotency-token'],
      callbacks[1].headers['i-twilio-idempotency-token'],
    );
    assert.equal(
      callbacks[2].headers['i-twilio-idempotency-token'],
      callbacks[3].headers['i-twilio-idempotency-token'],
    );
    assert.notEqual(
      callbacks[0].headers['i-twilio-idempotency-token'],
      callbacks[2].headers['i-twilio-idempotency-token'],
    );
    assert.ok(callbacks.every((r) => verify(r)));
  });

  it('delivers callbacks out of order when asked (delivered before sent), while the message itself ends delivered', async () => {
    fake.setCallbackBehaviour({ outOfOrder: true });
    const { sid } = await viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: statusUrl });
    await fake.idle();
    assert.deepEqual(callbacksFor(sid).map(statusOf), ['delivered', 'sent']);
    assert.equal(fake.message(sid)?.status, 'delivered');
    assert.deepEqual(
      fake.message(sid)?.history.map((h) => h.status),
      ['queued', 'sent', 'delivered'],
    );
  });

  it('retries a callback the receiver refused, with the same token, and stops after the bounded attempts', async () => {
    let refusals = 1;
    receiver.setResponder((r) => (parseForm(r.body).MessageStatus === 'sent' && refusals-- > 0 ? 500 : 204));
    const first = await viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: statusUrl });
    await fake.idle();
    const sentCalls = callbacksFor(first.sid).filter((r) => statusOf(r) === 'sent');
    assert.deepEqual(
      sentCalls.map((r) => r.answered),
      [500, 204],
    );
    assert.equal(
      sentCalls[0].headers['i-twilio-idempotency-token'],
      sentCalls[1].headers['i-twilio-idempotency-token'],
    );

    receiver.requests.length = 0;
    receiver.setResponder(() => 503);
    const second = await viaFrom.sendSms({ to: nextNumber(), body: BODY, statusCallbackUrl: statusUrl });
    await fake.idle();
    const calls = callbacksFor(second.sid);
    assert.equal(calls.filter((r) => statusOf(r) === 'sent').length, 3, 'maxAttempts = 3');
    assert.equal(calls.filter((r) => statusOf(r) === 'delivered').length, 3);
    // Each event is retried on its own (they overlap in time, like Twilio's independent callbacks).
    const log = fake.callbackAttempts().filter((a) => a.eventId.startsWith(second.sid));
    for (const label of ['sent', 'delivered']) {
      assert.deepEqual(
        log.filter((a) => a.label === label).map((a) => [a.attempt, a.status]),
        [
          [1, 503],
          [2, 503],
          [3, 503],
        ],
      );
    }
  });

  it("posts inbound messages signed; OptOutType only with Advanced Opt-Out; keywords get Twilio's own auto-reply", async () => {
    const patient = nextNumber();
    const stop = await fake.simulateInbound({ from: patient, to: POOL_NUMBER, body: 'Stop' });
    const text = await fake.simulateInbound({ from: patient, to: FROM, body: 'who is this?' });
    const help = await fake.simulateInbound({ from: patient, to: FROM, body: 'help' });
    const serviceHelp = await fake.simulateInbound({ from: patient, to: POOL_NUMBER, body: 'HELP' });
    assert.equal(stop.webhookStatus, 200);
    const inbound = receiver.requests.filter((r) => r.path === '/twilio/inbound');
    assert.equal(inbound.length, 4);
    const [p1, p2, p3, p4] = inbound.map(paramsOf);
    assert.equal(p1?.MessageSid, stop.sid);
    assert.equal(p1?.OptOutType, 'STOP', 'the service has Advanced Opt-Out');
    assert.equal(p1?.MessagingServiceSid, SERVICE_SID);
    assert.equal(p1?.Body, 'Stop');
    assert.equal(p1?.From, patient);
    assert.equal(p1?.NumMedia, '0');
    assert.equal(p1?.NumSegments, '1');
    assert.equal(p2?.MessageSid, text.sid);
    assert.equal(p2?.OptOutType, undefined);
    assert.equal(p2?.MessagingServiceSid, undefined);
    assert.equal(p3?.OptOutType, undefined, 'default handling: no OptOutType parameter');
    assert.equal(p4?.OptOutType, 'HELP');
    assert.equal(help.optOutType, 'HELP');
    assert.ok(inbound.every((r) => verify(r)));
    assert.ok(fake.isOptedOut(SERVICE_SID, patient));
    assert.ok(!fake.isOptedOut(FROM, patient));

    // Twilio answers every keyword itself, whatever the webhook says (§4.6); a custom text only with AOO.
    assert.equal(stop.autoReply, DEFAULT_KEYWORD_REPLIES.STOP);
    assert.equal(help.autoReply, DEFAULT_KEYWORD_REPLIES.HELP);
    assert.equal(serviceHelp.autoReply, SERVICE_HELP);
    assert.equal(text.autoReply, undefined);
    const replies = fake.messages().filter((m) => m.direction === 'outbound-reply' && m.to === patient);
    assert.deepEqual(
      replies.map((m) => m.body),
      [DEFAULT_KEYWORD_REPLIES.STOP, DEFAULT_KEYWORD_REPLIES.HELP, SERVICE_HELP],
    );
    assert.equal(fake.sentTimeline().length, 0, 'auto-replies are not API sends');
  });

  it('a TwiML <Message> answer is sent back to the patient as a reply', async () => {
    const patient = nextNumber();
    receiver.setResponder(() => ({
      status: 200,
      body: '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks &amp; bye</Message></Response>',
    }));
    const result = await fake.simulateInbound({ from: patient, to: FROM, body: 'thanks' });
    assert.deepEqual(result.twimlReplies, ['Thanks & bye']);
    assert.deepEqual(
      fake
        .messages()
        .filter((m) => m.direction === 'outbound-reply' && m.to === patient)
        .map((m) => m.body),
      ['Thanks & bye'],
    );
  });

  it('the control endpoints drive the same behaviour over HTTP (sandbox use)', async () => {
    const to = nextNumber();
    const post = (path: string, body: unknown) =>
      fetch(`${fake.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.equal(
      (await post('/__fake/recipients', { to, scenario: { kind: 'undelivered', errorCode: 30007 } })).status,
      200,
    );
    assert.equal((await post('/__fake/failures', { failure: { kind: 'error', status: 500 }, count: 1 })).status, 200);
    assert.equal((await post('/__fake/failures', { failure: { kind: 'nope' } })).status, 400);
    await assert.rejects(viaFrom.sendSms({ to, body: BODY, statusCallbackUrl: statusUrl }), /HTTP 500/);
    const { sid } = await viaFrom.sendSms({ to, body: BODY, statusCallbackUrl: statusUrl });
    await fake.idle();
    const listed = (await (await fetch(`${fake.url}/__fake/messages`)).json()) as {
      messages: { sid: string; status: string }[];
    };
    assert.deepEqual(
      listed.messages.map((m) => [m.sid, m.status]),
      [[sid, 'undelivered']],
    );
    const inbound = (await (await post('/__fake/inbound', { from: to, to: FROM, body: 'STOP' })).json()) as {
      optOutType: string;
    };
    assert.equal(inbound.optOutType, 'STOP');
    await assert.rejects(viaFrom.sendSms({ to, body: BODY, statusCallbackUrl: statusUrl }), /21610/);

    const page = await fetch(`${fake.url}/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<meta http-equiv="refresh"/);
    assert.ok(html.includes(sid));
    assert.ok(html.includes('undelivered 30007'));
    assert.ok(html.includes('opted out of'));

    assert.equal((await post('/__fake/reset', {})).status, 200);
    assert.equal(fake.messages().length, 0);
  });

  it('lists with Twilio paging and DateSent filters over raw HTTP', async () => {
    const to = nextNumber();
    const sids: string[] = [];
    for (let i = 0; i < 3; i++)
      sids.push((await viaFrom.sendSms({ to, body: `m${i}`, statusCallbackUrl: statusUrl })).sid);
    await fake.idle();
    const auth = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;
    const base = `${fake.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;
    const today = new Date().toISOString().slice(0, 10);
    const first = (await (
      await fetch(`${base}?To=${encodeURIComponent(to)}&DateSent%3E=${today}&PageSize=2`, {
        headers: { authorization: auth },
      })
    ).json()) as { messages: { sid: string; date_created: string }[]; next_page_uri: string | null; page_size: number };
    assert.equal(first.page_size, 2);
    assert.equal(first.messages.length, 2);
    assert.match(first.messages[0].date_created, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    assert.ok(first.next_page_uri);
    const second = (await (
      await fetch(`${fake.url}${first.next_page_uri}`, { headers: { authorization: auth } })
    ).json()) as {
      messages: { sid: string }[];
      next_page_uri: string | null;
    };
    assert.equal(second.next_page_uri, null);
    assert.deepEqual([...first.messages, ...second.messages].map((m) => m.sid).sort(), [...sids].sort());
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const none = (await (
      await fetch(`${base}?To=${encodeURIComponent(to)}&DateSent%3E=${tomorrow}`, { headers: { authorization: auth } })
    ).json()) as { messages: unknown[] };
    assert.equal(none.messages.length, 0);
    const unauthorised = await fetch(base);
    assert.equal(unauthorised.status, 401);
    assert.deepEqual(await unauthorised.json(), {
      code: 20003,
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    });
  });
});
