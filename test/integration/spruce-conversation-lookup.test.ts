import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import {
  createConversationContacts,
  createSpruceClient,
  type SpruceClient,
  type SpruceConversation,
} from '../../lib/clients/spruce';
import { sweepStuckInboundEvents } from '../../lib/inbound/sweeper';
import { getSmsConsent, setSmsConsent } from '../../lib/consent/repository';
import type { WorkflowSignaller } from '../../lib/consent/workflow-signaller';
import { freePort } from '../../sandbox/servers/free-port';
import { startWebhookReceiver } from '../../sandbox/fakes/shared';
import { DEFAULT_SECURE_ENDPOINT_ID, startSpruceFake, type SpruceFake } from '../../sandbox/fakes/spruce';
import { testApiDeps } from '../support/api-app';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * A patient's Spruce reply in a thread we never posted into (one the practice started in the
 * Spruce app, say). A documented conversation item names only its conversation (§3.3), so the API
 * asks Spruce for the conversation (`GET /conversations/{id}`, cached) and matches its contacts to
 * the patients it knows. The Spruce fake runs in documented-fields-only mode: its webhooks carry no
 * embedded conversation. Also: a Spruce revocation whose signals fail is finished by the sweeper.
 */

const TOKEN = 'spruce-lookup-token';
const PRACTICE = '195900';

interface Signalled {
  workflowId: string;
  signal: string;
  arg: Record<string, unknown>;
}

describe('Spruce replies: the thread resolved through the documented API', () => {
  let db: TestDatabase;
  let fake: SpruceFake;
  let app: FastifyInstance;
  let spruce: SpruceClient;
  const lookups: string[] = [];
  const signals: Signalled[] = [];
  let temporalDown = false;
  let seq = 0;

  before(async () => {
    db = await createTestDatabase('spruce_lookup');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    fake = await startSpruceFake({
      token: TOKEN,
      webhookUrl: `${base}/webhooks/spruce`,
      documentedFieldsOnly: true,
      webhookRetry: { maxAttempts: 3, retryDelayMs: 50 },
    });
    spruce = createSpruceClient({ baseUrl: fake.apiBaseUrl, token: TOKEN });
    const counted = {
      getConversation: (id: string): Promise<SpruceConversation> => {
        lookups.push(id);
        return spruce.getConversation(id);
      },
    };
    const signaller: WorkflowSignaller = {
      signal(workflowId, definition, ...args) {
        if (temporalDown) return Promise.reject(new Error('14 UNAVAILABLE'));
        signals.push({ workflowId, signal: definition.name, arg: args[0] as Record<string, unknown> });
        return Promise.resolve(true);
      },
    };
    ({ app } = await buildApp(
      testApiDeps({
        pool: db.pool,
        publicBaseUrl: base,
        spruceWebhookSecret: fake.webhookSecret,
        signaller,
        spruceConversations: createConversationContacts(counted),
      }),
    ));
    await app.listen({ host: '127.0.0.1', port });
  });
  after(async () => {
    await fake?.close();
    await app?.close();
    await db?.close();
  });

  /** A patient known to labloop by their Spruce contact, in a secure thread labloop never posted into. */
  async function patientInForeignThread() {
    seq += 1;
    const patientId = `sl-${seq}`;
    const phone = `+1555071${String(1000 + seq).slice(-4)}`;
    const contact = fake.seedContact({ givenName: 'Ana', familyName: `Ruiz${seq}`, phone, hasSpruceAccount: true });
    const conversation = await spruce.createSecureConversation({
      contactId: contact.id,
      internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
      subject: 'Hello from the front desk',
      idempotencyKey: `lookup-conv-${seq}`,
    });
    assert.ok(!conversation.alreadyDone);
    const workflowId = `lab-result-${PRACTICE}-${String(seq).padStart(32, '6')}`;
    await db.pool.query(`INSERT INTO spruce_contact (practice_id, patient_id, contact_id) VALUES ($1, $2, $3)`, [
      PRACTICE,
      patientId,
      contact.id,
    ]);
    await db.pool.query(
      `INSERT INTO workflow_patient (workflow_id, practice_id, patient_id, phone_e164) VALUES ($1, $2, $3, $4)`,
      [workflowId, PRACTICE, patientId, phone],
    );
    await setSmsConsent(db.pool, { practiceId: PRACTICE, patientId, phone, consented: true, source: 'staff' });
    return { patientId, phone, contactId: contact.id, conversationId: conversation.conversationId, workflowId };
  }
  const replies = (workflowId: string) =>
    signals.filter((s) => s.workflowId === workflowId && s.signal === 'patientReply').map((s) => s.arg.kind);
  const eventsOf = async (itemId: string) =>
    (
      await db.pool.query<{ status: string; kind: string | null }>(
        `SELECT status, kind FROM inbound_event WHERE channel = 'spruce' AND subject_id = $1`,
        [itemId],
      )
    ).rows;

  it('documented-only webhooks embed no conversation', async () => {
    const receiver = await startWebhookReceiver();
    const documented = await startSpruceFake({
      token: TOKEN,
      webhookUrl: `${receiver.url}/hook`,
      documentedFieldsOnly: true,
      messageDelayMs: 1,
    });
    try {
      const client = createSpruceClient({ baseUrl: documented.apiBaseUrl, token: TOKEN });
      const { id } = documented.seedContact({
        givenName: 'X',
        familyName: 'Y',
        phone: '+15550710999',
        hasSpruceAccount: true,
      });
      const conversation = await client.createSecureConversation({
        contactId: id,
        internalEndpointId: DEFAULT_SECURE_ENDPOINT_ID,
        subject: 'S',
        idempotencyKey: 'documented-conv',
      });
      assert.ok(!conversation.alreadyDone);
      await client.postMessage({
        conversationId: conversation.conversationId,
        text: 'Hi',
        idempotencyKey: 'documented-m',
      });
      await documented.idle();
      const object = (JSON.parse(receiver.requests[0]?.body ?? '{}') as { data?: { object?: Record<string, unknown> } })
        .data?.object;
      assert.equal(object?.conversationId, conversation.conversationId);
      assert.equal(object?.conversation, undefined, 'not in the reference: not sent');
      // What the documented API does give: the conversation and its contacts.
      const read = await client.getConversation(conversation.conversationId);
      assert.deepEqual(read.associatedContactIds, [id]);
    } finally {
      await documented.close();
      await receiver.close();
    }
  });

  it("a reply in a thread we never posted into reaches the patient's workflow; the lookup is cached", async () => {
    const p = await patientInForeignThread();
    const first = await fake.simulatePatientReply({ contactId: p.contactId, text: 'Is my appointment still on?' });
    assert.equal(first.webhookStatus, 200);
    assert.deepEqual(await eventsOf(first.itemId), [{ status: 'processed', kind: 'reply' }]);
    assert.deepEqual(replies(p.workflowId), ['text']);
    const second = await fake.simulatePatientReply({ contactId: p.contactId, text: 'Thanks!' });
    assert.deepEqual(await eventsOf(second.itemId), [{ status: 'processed', kind: 'reply' }]);
    assert.deepEqual(replies(p.workflowId), ['text', 'text']);
    assert.deepEqual(
      lookups.filter((id) => id === p.conversationId),
      [p.conversationId],
      'one lookup for the thread',
    );
  });

  it('Spruce failing the lookup fails the webhook, and its re-delivery is matched (not dropped as unknown)', async () => {
    const p = await patientInForeignThread();
    fake.failNext({ kind: 'error', status: 503 }, 1, { path: '/v1/conversations/' });
    const reply = await fake.simulatePatientReply({ contactId: p.contactId, text: 'hello?' });
    assert.equal(reply.webhookStatus, 200, 'the retry got through');
    const attempts = fake.webhookAttempts().filter((a) => a.eventId === reply.itemId);
    assert.deepEqual(
      attempts.map((a) => a.status),
      [500, 200],
    );
    assert.deepEqual(await eventsOf(reply.itemId), [{ status: 'processed', kind: 'reply' }]);
    assert.deepEqual(replies(p.workflowId), ['text']);
  });

  it('a revocation written in Spruce whose signals fail: revoked and audited at once, finished by the sweeper', async () => {
    const p = await patientInForeignThread();
    temporalDown = true;
    let reply;
    try {
      reply = await fake.simulatePatientReply({ contactId: p.contactId, text: 'please stop texting me' });
    } finally {
      temporalDown = false;
    }
    assert.equal(reply.webhookStatus, 500);
    assert.equal(await getSmsConsent(db.pool, { practiceId: PRACTICE, patientId: p.patientId, phone: p.phone }), false);
    assert.deepEqual(await eventsOf(reply.itemId), [{ status: 'received', kind: 'revocation' }]);
    assert.deepEqual(
      signals.filter((s) => s.workflowId === p.workflowId),
      [],
    );

    assert.deepEqual(await sweepStuckInboundEvents({ pool: db.pool, signaller: signallerOf() }, { minAgeMs: 0 }), {
      finished: 1,
      failed: 0,
    });
    assert.deepEqual(
      signals.filter((s) => s.workflowId === p.workflowId).map((s) => [s.signal, s.arg.smsConsent ?? s.arg.kind]),
      [
        ['consentChanged', false],
        ['patientReply', 'stop'],
      ],
    );
    assert.deepEqual(await eventsOf(reply.itemId), [{ status: 'processed', kind: 'revocation' }]);
    const { rows } = await db.pool.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE patient_id = $1 ORDER BY seq`,
      [p.patientId],
    );
    assert.deepEqual(
      rows.map((r) => r.action),
      ['consent-change', 'patient-reply'],
      'each audited exactly once, across three failed deliveries',
    );
  });

  function signallerOf(): WorkflowSignaller {
    return {
      signal(workflowId, definition, ...args) {
        signals.push({ workflowId, signal: definition.name, arg: args[0] as Record<string, unknown> });
        return Promise.resolve(true);
      },
    };
  }
});
