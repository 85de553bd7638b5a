import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  ConversationItemSchema,
  createSpruceClient,
  SpruceWebhookEventSchema,
  verifySpruceSignature,
  type SpruceClient,
} from '../../lib/clients/spruce';
import { startWebhookReceiver, type CapturedRequest, type WebhookReceiver } from '../../sandbox/fakes/shared';
import { DEFAULT_SECURE_ENDPOINT_ID, startSpruceFake, type SpruceFake } from '../../sandbox/fakes/spruce';

/**
 * Spruce webhooks from the fake, received by a real HTTP server: the async message confirmation
 * (same requestId), patient replies, signatures, retries, duplicates and out-of-order delivery, and
 * the outbox page that shows everything by contact.
 */

const TOKEN = 'spruce-webhook-token';
const SECRET = 'whsec-test-0123456789abcdef';
const MEMBER = 'entity_PROVIDER00001';

let seq = 0;
const key = (what: string) => `${what}-${++seq}`;
const phone = () => `+1555050${String(1000 + ++seq).slice(-4)}`;

function event(r: CapturedRequest) {
  const parsed = SpruceWebhookEventSchema.parse(JSON.parse(r.body));
  return { ...parsed, item: ConversationItemSchema.parse(parsed.data.object) };
}

describe('Spruce fake webhooks verified by our client code', () => {
  let fake: SpruceFake;
  let receiver: WebhookReceiver;
  let spruce: SpruceClient;

  before(async () => {
    receiver = await startWebhookReceiver();
    fake = await startSpruceFake({
      token: TOKEN,
      webhookSecret: SECRET,
      webhookUrl: `${receiver.url}/spruce/webhook`,
      messageDelayMs: 1,
      webhookRetry: { maxAttempts: 4, retryDelayMs: 10 },
    });
    spruce = createSpruceClient({ baseUrl: fake.apiBaseUrl, token: TOKEN });
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

  async function secureThread() {
    const { id } = fake.seedContact({
      givenName: 'Pat',
      familyName: 'Example',
      phone: phone(),
      hasSpruceAccount: true,
    });
    const conv = await spruce.createSecureConversation({
      contactId: id,
      internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      subject: 'Results',
      idempotencyKey: key('conv'),
    });
    assert.ok(!conv.alreadyDone);
    return { contactId: id, conversationId: conv.conversationId };
  }

  it('confirms a posted message with a signed conversationItem.created carrying the same requestId', async () => {
    const { conversationId } = await secureThread();
    const posted = await spruce.postMessage({
      conversationId,
      text: 'Your results are ready.',
      idempotencyKey: key('m'),
    });
    assert.ok(!posted.alreadyDone);
    await fake.idle();
    assert.equal(receiver.requests.length, 1);
    const [r] = receiver.requests;
    assert.ok(r);
    assert.equal(r.path, '/spruce/webhook');
    assert.match(r.headers['content-type'] ?? '', /application\/json/);
    assert.ok(
      verifySpruceSignature({ secret: SECRET, rawBody: r.rawBody, signature: r.headers['x-spruce-signature'] }),
    );
    const e = event(r);
    assert.equal(e.object, 'event');
    assert.equal(e.type, 'conversationItem.created');
    assert.ok(!Number.isNaN(Date.parse(e.eventTime)));
    assert.equal(e.item.requestId, posted.requestId);
    assert.equal(e.item.conversationId, conversationId);
    assert.equal(e.item.direction, 'outbound');
    assert.equal(e.item.text, 'Your results are ready.');
    assert.equal(
      (e.data.object.conversation as { id?: string } | undefined)?.id,
      conversationId,
      'webhook items embed the conversation',
    );
  });

  it('rejects a tampered body, a wrong secret and a missing signature', async () => {
    const { conversationId } = await secureThread();
    await spruce.postMessage({ conversationId, text: 'Hello', idempotencyKey: key('m') });
    await fake.idle();
    const [r] = receiver.requests;
    assert.ok(r);
    const signature = r.headers['x-spruce-signature'];
    assert.ok(verifySpruceSignature({ secret: SECRET, rawBody: r.body, signature }), 'string body works too');
    const tampered = r.body.replace('Hello', 'Hellp');
    assert.equal(verifySpruceSignature({ secret: SECRET, rawBody: tampered, signature }), false);
    assert.equal(verifySpruceSignature({ secret: SECRET, rawBody: `${r.body} `, signature }), false);
    assert.equal(verifySpruceSignature({ secret: 'another-secret', rawBody: r.rawBody, signature }), false);
    assert.equal(verifySpruceSignature({ secret: SECRET, rawBody: r.rawBody, signature: undefined }), false);
    assert.equal(verifySpruceSignature({ secret: SECRET, rawBody: r.rawBody, signature: 'AAAA' }), false);
  });

  it('sends a patient reply as an inbound conversationItem.created', async () => {
    const { contactId, conversationId } = await secureThread();
    const reply = await fake.simulatePatientReply({ contactId, text: 'Thanks, what does it mean?' });
    assert.equal(reply.webhookStatus, 200);
    assert.equal(reply.conversationId, conversationId);
    const [r] = receiver.requests;
    assert.ok(
      r && verifySpruceSignature({ secret: SECRET, rawBody: r.rawBody, signature: r.headers['x-spruce-signature'] }),
    );
    const e = event(r);
    assert.equal(e.item.id, reply.itemId);
    assert.equal(e.item.direction, 'inbound');
    assert.equal(e.item.author?.id, contactId);
    await assert.rejects(
      fake.simulatePatientReply({
        contactId: fake.seedContact({ givenName: 'X', familyName: 'Y', phone: phone() }).id,
        text: 'hi',
      }),
      /no secure conversation/,
    );
  });

  it('retries a webhook the receiver refused until it is accepted, resending the identical signed body', async () => {
    let refusals = 2;
    receiver.setResponder(() => (refusals-- > 0 ? 500 : 200));
    const { conversationId } = await secureThread();
    await spruce.postMessage({ conversationId, text: 'Retry me', idempotencyKey: key('m') });
    await fake.idle();
    assert.deepEqual(
      receiver.requests.map((r) => r.answered),
      [500, 500, 200],
    );
    assert.equal(new Set(receiver.requests.map((r) => r.body)).size, 1);
    assert.equal(new Set(receiver.requests.map((r) => r.headers['x-spruce-signature'])).size, 1);
  });

  it('gives up after the bounded number of attempts', async () => {
    receiver.setResponder(() => 503);
    const { conversationId } = await secureThread();
    await spruce.postMessage({ conversationId, text: 'Nobody home', idempotencyKey: key('m') });
    await fake.idle();
    assert.equal(receiver.requests.length, 4, 'maxAttempts = 4');
    assert.deepEqual(
      fake.webhookAttempts().map((a) => [a.attempt, a.status]),
      [
        [1, 503],
        [2, 503],
        [3, 503],
        [4, 503],
      ],
    );
  });

  it('duplicates each webhook when asked (same item id, same body)', async () => {
    fake.setWebhookBehaviour({ duplicate: true });
    const { conversationId } = await secureThread();
    await spruce.postMessage({ conversationId, text: 'Twice', idempotencyKey: key('m') });
    await fake.idle();
    assert.equal(receiver.requests.length, 2);
    assert.equal(receiver.requests[0]?.body, receiver.requests[1]?.body);
    assert.equal(event(receiver.requests[0]).item.id, event(receiver.requests[1]).item.id);
  });

  it('delivers out of order when held and released reversed; eventTime still gives the true order', async () => {
    const { conversationId } = await secureThread();
    fake.holdWebhooks();
    for (const text of ['first', 'second', 'third']) {
      await spruce.postMessage({ conversationId, text, idempotencyKey: key('m') });
      await fake.idle(); // each item exists (and its event is held) before the next is posted
      await new Promise((resolve) => setTimeout(resolve, 3)); // distinct eventTime milliseconds
    }
    assert.equal(receiver.requests.length, 0, 'nothing is delivered while held');
    assert.equal(fake.releaseWebhooks({ reverse: true }), 3);
    await fake.idle();
    const events = receiver.requests.map(event);
    assert.deepEqual(
      events.map((e) => e.item.text),
      ['third', 'second', 'first'],
    );
    const byTime = [...events].sort(
      (a, b) => Date.parse(a.eventTime) - Date.parse(b.eventTime) || a.item.createdAt.localeCompare(b.item.createdAt),
    );
    assert.deepEqual(
      byTime.map((e) => e.item.text),
      ['first', 'second', 'third'],
    );
  });

  it('the outbox page and /__fake/items show secure messages, attachments, notes and pages by contact', async () => {
    const { contactId, conversationId } = await secureThread();
    const { mediaId } = await spruce.uploadMedia({
      filename: 'result.pdf',
      contentType: 'application/pdf',
      data: Buffer.from('%PDF-1.3\n%%EOF\n'),
    });
    await spruce.postMessage({
      conversationId,
      text: 'Your result is attached.',
      attachments: [{ mediaId, title: 'Lab result' }],
      idempotencyKey: key('m'),
    });
    await spruce.postMessage({
      conversationId,
      text: 'Reviewed by provider.',
      internal: true,
      idempotencyKey: key('n'),
    });
    await spruce.createNoteConversation({
      memberIds: [MEMBER],
      title: 'Sign-off needed',
      text: 'Please sign.',
      idempotencyKey: key('p'),
    });
    await fake.idle();

    const json = (await (await fetch(`${fake.url}/__fake/items`)).json()) as {
      items: { kind: string; contactIds: string[] }[];
    };
    assert.deepEqual(
      json.items.map((i) => i.kind),
      ['secure-message', 'internal-note', 'page'],
    );
    assert.deepEqual(json.items[0]?.contactIds, [contactId]);

    const page = await fetch(`${fake.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const html = await page.text();
    assert.match(html, /<meta http-equiv="refresh"/);
    for (const expected of [
      'Pat Example',
      'Your result is attached.',
      'result.pdf',
      'internal-note',
      'Sign-off needed',
      MEMBER,
      'has a Spruce account',
    ]) {
      assert.ok(html.includes(expected), `outbox page should show ${expected}`);
    }
  });

  it('the control endpoints seed, reply, hold and release over HTTP (sandbox use)', async () => {
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${fake.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const seeded = await post('/__fake/contacts', {
      givenName: 'Sam',
      familyName: 'Sandbox',
      phone: phone(),
      hasSpruceAccount: false,
    });
    assert.equal(seeded.status, 201);
    const contactId = String(seeded.body.id);
    assert.equal((await post(`/__fake/contacts/${contactId}/account`, { hasSpruceAccount: true })).status, 200);
    assert.equal((await spruce.getContact(contactId)).hasAccount, true);
    const conv = await spruce.createSecureConversation({
      contactId,
      internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      subject: 'Results',
      idempotencyKey: key('conv'),
    });
    assert.ok(!conv.alreadyDone);
    assert.equal((await post('/__fake/webhooks/behaviour', { hold: true })).status, 200);
    const replied = await post('/__fake/reply', { contactId, text: 'ok' });
    assert.equal(replied.body.webhookStatus, null, 'held');
    assert.equal((await post('/__fake/webhooks/release', { reverse: false })).body.released, 1);
    await fake.idle();
    assert.equal(receiver.requests.length, 1);
    assert.equal(
      (await post('/__fake/failures', { failure: { kind: 'error', status: 502 }, path: '/messages$' })).status,
      200,
    );
    await assert.rejects(
      spruce.postMessage({ conversationId: conv.conversationId, text: 'x', idempotencyKey: key('m') }),
      /HTTP 502/,
    );
    assert.equal((await post('/__fake/failures', { failure: { kind: 'error', status: 502 }, path: '(' })).status, 400);
  });
});
