import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createSpruceClient, SpruceError, type SpruceClient } from '../../lib/clients/spruce';
import { freePort } from '../../sandbox/servers/free-port';
import {
  DEFAULT_PHONE_ENDPOINT_ID,
  DEFAULT_SECURE_ENDPOINT_ID,
  startSpruceFake,
  type SpruceFake,
} from '../../sandbox/fakes/spruce';

/**
 * The Spruce client against the Spruce fake over loopback HTTP: contacts and integration links,
 * invites, secure/note conversations, messages, media, idempotency (422 → alreadyDone), error
 * classification, timeouts and rate-limit headers.
 */

const TOKEN = 'spruce-test-token';
const MEMBERS = [
  { id: 'entity_PROVIDER00001', displayName: 'Dr. Provider' },
  { id: 'entity_ONCALL000001', displayName: 'Dr. On Call' },
];
const TEST_TIMEOUT_MS = 400;

let seq = 0;
const key = (what: string) => `${what}-${++seq}-${Date.now()}`;
const phone = () => `+1555040${String(1000 + ++seq).slice(-4)}`;

async function expectSpruceError(promise: Promise<unknown>): Promise<SpruceError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SpruceError, `expected SpruceError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

/** A minimal but well-formed PDF, enough for a media round trip. */
const PDF_BYTES = Buffer.from(
  '%PDF-1.3\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n' +
    'trailer <</Root 1 0 R>>\n%%EOF\n',
  'latin1',
);

describe('Spruce client against the Spruce fake', () => {
  let fake: SpruceFake;
  let spruce: SpruceClient;

  before(async () => {
    fake = await startSpruceFake({ token: TOKEN, members: MEMBERS, messageDelayMs: 1 });
    spruce = createSpruceClient({ baseUrl: fake.apiBaseUrl, token: TOKEN, timeoutMs: TEST_TIMEOUT_MS });
  });
  afterEach(async () => {
    await fake.idle();
    fake.reset();
  });
  after(async () => {
    await fake.close();
  });

  function invitedPatient(): string {
    const { id } = fake.seedContact({
      givenName: 'Pat',
      familyName: 'Example',
      phone: phone(),
      hasPendingInvite: true,
    });
    return id;
  }

  /** A secure conversation, just created, with a newly invited patient: where the message tests post. */
  async function newSecureConversation(): Promise<{ conversationId: string }> {
    const conv = await spruce.createSecureConversation({
      contactId: invitedPatient(),
      internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      subject: 'Results',
      idempotencyKey: key('conv'),
    });
    assert.ok(!conv.alreadyDone);
    return { conversationId: conv.conversationId };
  }

  it('creates a patient contact linked to the EHR id; lookups find it; a repeat does not create a second', async () => {
    const number = phone();
    const k = key('contact');
    const first = await spruce.createContact({
      givenName: 'Ada',
      familyName: 'Lovelace',
      phoneNumbers: [number],
      externalId: 'athena-p-1001',
      idempotencyKey: k,
    });
    assert.equal(first.created, true);
    assert.match(first.contact.id, /^entity_/);
    assert.deepEqual(
      first.contact.integrationLinks.map((l) => [l.type, l.externalId]),
      [['athena', 'athena-p-1001']],
    );
    const found = await spruce.findContactByIntegration({ externalId: 'athena-p-1001' });
    assert.equal(found?.id, first.contact.id);
    assert.equal(await spruce.findContactByIntegration({ externalId: 'athena-p-9999' }), undefined);

    const fetched = await spruce.getContact(first.contact.id);
    assert.equal(fetched.hasAccount, false);
    assert.equal(fetched.hasPendingInvite, false);
    assert.equal(fetched.phoneNumbers[0]?.value, number);

    const again = await spruce.createContact({
      givenName: 'Ada',
      familyName: 'Lovelace',
      phoneNumbers: [number],
      externalId: 'athena-p-1001',
      idempotencyKey: k,
    });
    assert.equal(again.created, false);
    assert.equal(again.contact.id, first.contact.id);
    const search = await spruce.searchContacts({ freeText: 'lovelace' });
    assert.equal(search.contacts.length, 1);
  });

  it('recovers a contact whose create answer was lost: the retry gets 422, finds it and links it', async () => {
    const k = key('contact');
    const input = {
      givenName: 'Grace',
      familyName: 'Hopper',
      phoneNumbers: [phone()],
      externalId: 'athena-p-2002',
      idempotencyKey: k,
    };
    fake.failNext({ kind: 'hang', afterProcessing: true }, 1, { path: '^/v1/contacts$' });
    const error = await expectSpruceError(spruce.createContact(input));
    assert.equal(error.kind, 'retryable');
    assert.equal(error.ambiguous, true);

    const retried = await spruce.createContact(input);
    assert.equal(retried.created, false, 'the first attempt created it');
    assert.equal((await spruce.searchContacts({ freeText: 'hopper' })).contacts.length, 1, 'still exactly one contact');
    assert.equal((await spruce.findContactByIntegration({ externalId: 'athena-p-2002' }))?.id, retried.contact.id);
  });

  it('maps a wrong token to an auth error (403)', async () => {
    const wrong = createSpruceClient({ baseUrl: fake.apiBaseUrl, token: 'nope' });
    const error = await expectSpruceError(wrong.listInternalEndpoints());
    assert.equal(error.kind, 'auth');
    assert.equal(error.status, 403);
    assert.equal(error.type, 'FORBIDDEN');
    assert.ok(error.requestId, 'every response carries s-request-id');
  });

  it('maps 404 to permanent', async () => {
    const error = await expectSpruceError(spruce.getContact('entity_DOESNOTEXIST'));
    assert.equal(error.kind, 'permanent');
    assert.equal(error.status, 404);
    assert.equal(error.type, 'NOT_FOUND');
  });

  it('a secure conversation needs a Spruce account or a pending invite; invite fixes it, then the key dedupes', async () => {
    const { id, phoneIds } = fake.seedContact({ givenName: 'No', familyName: 'App', phone: phone() });
    const k = key('conv');
    const refused = await expectSpruceError(
      spruce.createSecureConversation({
        contactId: id,
        internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
        subject: 'Your results',
        idempotencyKey: k,
      }),
    );
    assert.equal(refused.kind, 'permanent');
    assert.equal(refused.status, 400);
    assert.equal(refused.type, 'BAD_PARAMETER');

    const invited = await spruce.invite(id, { internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID });
    assert.equal(invited.contact?.hasPendingInvite, true);
    assert.match(invited.conversationId ?? '', /^t_/);
    const reinvited = await spruce.invite(id, {
      internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      destinationId: phoneIds[0],
    });
    assert.equal(reinvited.conversationId, invited.conversationId, 're-invite reuses the secure conversation');

    const created = await spruce.createSecureConversation({
      contactId: id,
      internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      subject: 'Your results',
      idempotencyKey: k,
    });
    assert.equal(created.alreadyDone, false);
    const duplicate = await spruce.createSecureConversation({
      contactId: id,
      internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      subject: 'Your results',
      idempotencyKey: k,
    });
    assert.deepEqual(duplicate, { alreadyDone: true });
    const conversations = await spruce.listContactConversations(id);
    assert.equal(conversations.length, 2, 'the invite conversation and the one created (not a third)');
  });

  it('inviting a patient already on Spruce is a permanent error', async () => {
    const { id } = fake.seedContact({ givenName: 'On', familyName: 'Spruce', phone: phone(), hasSpruceAccount: true });
    assert.equal((await spruce.getContact(id)).hasAccount, true);
    const error = await expectSpruceError(spruce.invite(id, { internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID }));
    assert.equal(error.kind, 'permanent');
    assert.equal(error.status, 400);
  });

  it('posts a message (requestId), and a repeat with the same key is alreadyDone, not an error', async () => {
    const conv = await newSecureConversation();
    const k = key('msg');
    const posted = await spruce.postMessage({
      conversationId: conv.conversationId,
      text: 'Your results are ready.',
      idempotencyKey: k,
    });
    assert.ok(!posted.alreadyDone);
    assert.match(posted.requestId, /^asyncRequest_/);
    const repeat = await spruce.postMessage({
      conversationId: conv.conversationId,
      text: 'Your results are ready.',
      idempotencyKey: k,
    });
    assert.deepEqual(repeat, { alreadyDone: true });
    await fake.idle();
    const items = fake.items().filter((i) => i.conversationId === conv.conversationId);
    assert.equal(items.length, 1, 'the duplicate did not post a second message');
    assert.equal(items[0]?.requestId, posted.requestId);
    assert.equal(items[0]?.kind, 'secure-message');
  });

  it('a hang after the write landed times out as ambiguous; the retry with the same key reports alreadyDone', async () => {
    const conv = await newSecureConversation();
    const k = key('msg');
    fake.failNext({ kind: 'hang', afterProcessing: true });
    const started = Date.now();
    const error = await expectSpruceError(
      spruce.postMessage({ conversationId: conv.conversationId, text: 'Hello', idempotencyKey: k }),
    );
    assert.equal(error.kind, 'retryable');
    assert.equal(error.ambiguous, true);
    assert.ok(Date.now() - started >= TEST_TIMEOUT_MS - 20);
    const retry = await spruce.postMessage({ conversationId: conv.conversationId, text: 'Hello', idempotencyKey: k });
    assert.deepEqual(retry, { alreadyDone: true });
    await fake.idle();
    assert.equal(fake.items().filter((i) => i.conversationId === conv.conversationId).length, 1);
  });

  it('maps 429 (with Retry-After), 500 and an outage to retryable; nothing is written', async () => {
    fake.failNext({ kind: 'rate-limit', retryAfterSeconds: 3 });
    const limited = await expectSpruceError(spruce.listInternalEndpoints());
    assert.equal(limited.kind, 'retryable');
    assert.equal(limited.status, 429);
    assert.equal(limited.retryAfterMs, 3_000);

    fake.failNext({ kind: 'error', status: 500 });
    const k = key('contact');
    const input = {
      givenName: 'Kat',
      familyName: 'Johnson',
      phoneNumbers: [phone()],
      externalId: 'athena-p-3003',
      idempotencyKey: k,
    };
    const broken = await expectSpruceError(spruce.createContact(input));
    assert.equal(broken.kind, 'retryable');
    assert.equal(broken.status, 500);
    assert.equal(broken.ambiguous, false);

    fake.failures.startOutage(503);
    const down = await expectSpruceError(spruce.listInternalEndpoints());
    assert.equal(down.kind, 'retryable');
    assert.equal(down.status, 503);
    fake.failures.endOutage();

    // the 500 happened before processing, so the same key still works (it was never recorded)
    const created = await spruce.createContact(input);
    assert.equal(created.created, true);
  });

  it('network failures are retryable; a refused connection is not ambiguous', async () => {
    const nowhere = createSpruceClient({
      baseUrl: `http://127.0.0.1:${await freePort()}/v1`,
      token: TOKEN,
      timeoutMs: TEST_TIMEOUT_MS,
    });
    const error = await expectSpruceError(
      nowhere.postMessage({ conversationId: 't_X', text: 'x', idempotencyKey: key('m') }),
    );
    assert.equal(error.kind, 'retryable');
    assert.equal(error.ambiguous, false);
    fake.failNext({ kind: 'reset' });
    const reset = await expectSpruceError(
      spruce.postMessage({ conversationId: 't_X', text: 'x', idempotencyKey: key('m') }),
    );
    assert.equal(reset.kind, 'retryable');
    assert.equal(reset.ambiguous, true);
  });

  it('uploads media as multipart and the fake keeps bytes, size, type and filename; attachments reference it', async () => {
    const { mediaId } = await spruce.uploadMedia({
      filename: 'result-2024-05-01.pdf',
      contentType: 'application/pdf',
      data: PDF_BYTES,
    });
    const stored = fake.media(mediaId);
    assert.ok(stored);
    assert.equal(stored.filename, 'result-2024-05-01.pdf');
    assert.equal(stored.contentType, 'application/pdf');
    assert.equal(stored.size, PDF_BYTES.length);
    assert.ok(stored.data.equals(PDF_BYTES));
    const download = await fetch(`${fake.url}/__fake/media/${mediaId}`);
    assert.equal(download.headers.get('content-type'), 'application/pdf');
    assert.ok(Buffer.from(await download.arrayBuffer()).equals(PDF_BYTES));

    const conv = await newSecureConversation();
    await spruce.postMessage({
      conversationId: conv.conversationId,
      text: 'Your result is attached.',
      attachments: [{ mediaId, title: 'Lab result' }],
      idempotencyKey: key('msg'),
    });
    await fake.idle();
    const [item] = fake.items().filter((i) => i.conversationId === conv.conversationId);
    assert.deepEqual(item?.attachments, [
      {
        mediaId,
        title: 'Lab result',
        filename: 'result-2024-05-01.pdf',
        contentType: 'application/pdf',
        size: PDF_BYTES.length,
      },
    ]);

    const unknown = await expectSpruceError(
      spruce.postMessage({
        conversationId: conv.conversationId,
        text: 'x',
        attachments: [{ mediaId: 'not-uploaded', title: 'x' }],
        idempotencyKey: key('msg'),
      }),
    );
    assert.equal(unknown.status, 400);
    await assert.rejects(
      spruce.postMessage({
        conversationId: conv.conversationId,
        text: 'x',
        attachments: Array.from({ length: 6 }, () => ({ mediaId, title: 't' })),
        idempotencyKey: key('msg'),
      }),
      /at most 5 attachments/,
    );
  });

  it('pages providers through a note conversation, and posts internal notes on a patient thread', async () => {
    const note = await spruce.createNoteConversation({
      memberIds: [MEMBERS[0].id, MEMBERS[1].id],
      title: 'Result awaiting sign-off',
      text: 'A result is waiting for review in labloop.',
      idempotencyKey: key('note'),
    });
    assert.ok(!note.alreadyDone);
    assert.match(note.postMessageRequestId ?? '', /^asyncRequest_/);

    const conv = await newSecureConversation();
    await spruce.postMessage({
      conversationId: conv.conversationId,
      text: 'Staff only: called the lab.',
      internal: true,
      idempotencyKey: key('n'),
    });
    await spruce.postMessage({
      conversationId: conv.conversationId,
      text: 'Please review.',
      internal: true,
      pageMemberIds: [MEMBERS[0].id],
      idempotencyKey: key('p'),
    });
    await fake.idle();
    const items = fake.items();
    const page = items.find((i) => i.conversationId === note.conversationId);
    assert.equal(page?.kind, 'page');
    assert.deepEqual(page?.pages, [MEMBERS[0].id, MEMBERS[1].id]);
    assert.equal(page?.conversationType, 'note');
    const onThread = items.filter((i) => i.conversationId === conv.conversationId).map((i) => [i.kind, i.direction]);
    assert.deepEqual(onThread, [
      ['internal-note', 'none'],
      ['page', 'none'],
    ]);

    await assert.rejects(
      spruce.postMessage({
        conversationId: conv.conversationId,
        text: 'x',
        pageMemberIds: [MEMBERS[0].id],
        idempotencyKey: key('p'),
      }),
      /pages are only allowed on internal messages/,
    );
    const unknownMember = await expectSpruceError(
      spruce.createNoteConversation({
        memberIds: ['entity_NOBODY'],
        title: 't',
        text: 'x',
        idempotencyKey: key('note'),
      }),
    );
    assert.equal(unknownMember.status, 400);
  });

  it('sends a plain SMS and a secure message from internal endpoints', async () => {
    const endpoints = await spruce.listInternalEndpoints();
    assert.deepEqual(endpoints.map((e) => e.channel).sort(), ['phone', 'secure']);
    const number = phone();
    const sms = await spruce.postFromEndpoint({
      internalEndpointId: DEFAULT_PHONE_ENDPOINT_ID,
      destination: { kind: 'sms-or-email', address: number },
      text: 'New results are ready from Test Clinic.',
      idempotencyKey: key('sms'),
    });
    assert.ok(!sms.alreadyDone);
    const contactId = invitedPatient();
    const secure = await spruce.postFromEndpoint({
      internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      destination: { kind: 'secure', contactId, subject: 'Results' },
      text: 'Your results are available.',
      idempotencyKey: key('sec'),
    });
    assert.ok(!secure.alreadyDone);
    const { id: notOnSpruce } = fake.seedContact({ givenName: 'No', familyName: 'Invite', phone: phone() });
    const refused = await expectSpruceError(
      spruce.postFromEndpoint({
        internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
        destination: { kind: 'secure', contactId: notOnSpruce },
        text: 'x',
        idempotencyKey: key('sec'),
      }),
    );
    assert.equal(refused.status, 400);
    await fake.idle();
    assert.deepEqual(
      fake.items().map((i) => i.kind),
      ['sms', 'secure-message'],
    );
  });

  it('reads rate-limit headers, and exhausting the window gives a retryable 429', async () => {
    const limited = await startSpruceFake({ token: TOKEN, rateLimit: { perMinute: 3, daily: 1000 } });
    try {
      const client = createSpruceClient({ baseUrl: limited.apiBaseUrl, token: TOKEN });
      await client.listInternalEndpoints();
      assert.deepEqual(client.lastRateLimit(), { limit: 3, remaining: 2, dailyLimit: 1000, dailyRemaining: 999 });
      await client.listInternalEndpoints();
      await client.listInternalEndpoints();
      assert.equal(client.lastRateLimit().remaining, 0);
      const error = await expectSpruceError(client.listInternalEndpoints());
      assert.equal(error.kind, 'retryable');
      assert.equal(error.status, 429);
    } finally {
      await limited.close();
    }
  });

  it('idempotency keys expire (24 h in Spruce; shortened here)', async () => {
    const shortLived = await startSpruceFake({ token: TOKEN, idempotencyTtlMs: 50, messageDelayMs: 1 });
    try {
      const client = createSpruceClient({ baseUrl: shortLived.apiBaseUrl, token: TOKEN });
      const { id } = shortLived.seedContact({
        givenName: 'A',
        familyName: 'B',
        phone: phone(),
        hasSpruceAccount: true,
      });
      const input = {
        contactId: id,
        internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
        subject: 's',
        idempotencyKey: 'same-key',
      };
      assert.equal((await client.createSecureConversation(input)).alreadyDone, false);
      assert.equal((await client.createSecureConversation(input)).alreadyDone, true);
      await new Promise((resolve) => setTimeout(resolve, 80));
      assert.equal((await client.createSecureConversation(input)).alreadyDone, false);
      await shortLived.idle();
    } finally {
      await shortLived.close();
    }
  });

  it('rejects bad input before calling Spruce, naming the field', async () => {
    await assert.rejects(
      spruce.postMessage({ conversationId: 't_1', text: '', idempotencyKey: 'k' }),
      /Invalid message: text: text is required/,
    );
    await assert.rejects(
      spruce.postMessage({ conversationId: 't_1', text: 'x', idempotencyKey: 'k'.repeat(256) }),
      /idempotencyKey must be at most 255/,
    );
    await assert.rejects(
      spruce.createContact({
        givenName: 'A',
        familyName: 'B',
        phoneNumbers: ['555-0100'],
        externalId: 'x',
        idempotencyKey: 'k',
      }),
      (error: Error) => /phoneNumbers\.0: must be E\.164/.test(error.message) && !error.message.includes('555-0100'),
    );
    await assert.rejects(
      spruce.uploadMedia({ filename: 'x.pdf', contentType: 'application/pdf', data: Buffer.alloc(0) }),
      /data must not be empty/,
    );
    assert.throws(() => createSpruceClient({ baseUrl: 'not a url', token: TOKEN }), /baseUrl must be a URL/);
  });
});
