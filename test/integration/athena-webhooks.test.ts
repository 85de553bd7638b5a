import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  AthenaWebhookParseError,
  parseAthenaWebhook,
  verifyAthenaWebhookSignature,
  type AthenaWebhookEvent,
} from '../../lib/clients/athena';
import { startAthenaFake, type AthenaFake } from '../../sandbox/fakes/athena';

/**
 * The fake's Event Subscription sender against a real HTTP receiver: signed id-only Bundles,
 * at-least-once retries, duplicates and reordering; and the client's signature check and parser.
 */

const PRACTICE = '195900';
const SECRET = 'whsec-labloop-test-0123456789';

interface Received {
  rawBody: string;
  headers: IncomingHttpHeaders;
}

/** A webhook endpoint that records raw bodies and answers from a script (then 200). */
async function startReceiver(): Promise<{
  url: string;
  received: Received[];
  script: (number | 'hang')[];
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const script: (number | 'hang')[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ rawBody: Buffer.concat(chunks).toString('utf8'), headers: request.headers });
      const next = script.shift() ?? 200;
      if (next === 'hang') return;
      response.writeHead(next).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/athena`,
    received,
    script,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const signatureOf = (received: Received) => received.headers['x-hub-signature'];

function parseAll(received: Received[]): AthenaWebhookEvent[] {
  return received.flatMap((r) => parseAthenaWebhook(JSON.parse(r.rawBody)).events);
}

void describe('athena webhooks', () => {
  let fake: AthenaFake;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let patientId: string;

  const addResult = () =>
    fake.control.addLabResult({ practiceId: PRACTICE, patientId, resultstatus: 'Final' }).labResultId;

  before(async () => {
    receiver = await startReceiver();
    fake = await startAthenaFake({ clientId: 'id', clientSecret: 'secret' });
    patientId = fake.control.addPatient({
      practiceId: PRACTICE,
      firstName: 'Hook',
      lastName: 'Patient',
      dob: '1999-09-09',
      departmentId: '12',
    }).patientId;
  });
  after(async () => {
    await fake.close();
    await receiver.close();
  });
  beforeEach(async () => {
    await fake.control.webhooksSettled();
    fake.control.setWebhookMode({ duplicate: false, reorder: false });
    fake.control.configureWebhook({ url: receiver.url, secret: SECRET, retryBaseDelayMs: 5, timeoutMs: 300 });
    receiver.received.length = 0;
    receiver.script.length = 0;
  });

  void it('delivers a signed id-only Bundle that verifies and parses to the lab result, patient and department', async () => {
    const labResultId = addResult();
    await fake.control.webhooksSettled();
    assert.equal(receiver.received.length, 1);
    const [delivery] = receiver.received;
    assert.ok(delivery !== undefined);
    assert.match(delivery.headers['content-type'] ?? '', /application\/fhir\+json/);
    const expected = `sha256=${createHmac('sha256', SECRET).update(delivery.rawBody).digest('hex')}`;
    assert.equal(signatureOf(delivery), expected);
    assert.equal(
      verifyAthenaWebhookSignature({ secret: SECRET, rawBody: delivery.rawBody, header: signatureOf(delivery) }),
      true,
    );
    assert.equal(
      verifyAthenaWebhookSignature({
        secret: SECRET,
        rawBody: Buffer.from(delivery.rawBody),
        header: signatureOf(delivery),
      }),
      true,
      'raw bytes work as well as text',
    );

    const notification = parseAthenaWebhook(JSON.parse(delivery.rawBody));
    assert.equal(notification.notificationType, 'event-notification');
    assert.equal(notification.topic, 'LabResult.create');
    assert.match(notification.subscription ?? '', /^Subscription\//);
    assert.equal(notification.events.length, 1);
    const [event] = notification.events;
    assert.match(event?.id ?? '', /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(event?.timestamp ?? '')));
    assert.deepEqual(
      { ...event, id: undefined, timestamp: undefined },
      {
        id: undefined,
        timestamp: undefined,
        topic: 'LabResult.create',
        focus: { reference: undefined, identifier: `urn:athenahealth:athenanet:labresult:${PRACTICE}|${labResultId}` },
        focusType: 'labresult',
        practiceId: PRACTICE,
        labResultId,
        patientId,
        departmentId: '12',
      },
    );
  });

  void describe('signature verification rejects', () => {
    let body: string;
    let header: string;
    before(async () => {
      fake.control.configureWebhook({ url: receiver.url, secret: SECRET, retryBaseDelayMs: 5 });
      receiver.received.length = 0;
      addResult();
      await fake.control.webhooksSettled();
      const delivery = receiver.received[0];
      assert.ok(delivery !== undefined);
      body = delivery.rawBody;
      header = String(signatureOf(delivery));
    });

    void it('a tampered body', () => {
      const tampered = body
        .replace('"LabResult.create"', '"LabResult.close"')
        .replace(/"value":"(\d+)"/, '"value":"9$1"');
      assert.notEqual(tampered, body);
      assert.equal(verifyAthenaWebhookSignature({ secret: SECRET, rawBody: tampered, header }), false);
      assert.equal(verifyAthenaWebhookSignature({ secret: SECRET, rawBody: `${body} `, header }), false);
    });

    void it('the wrong secret', () => {
      assert.equal(verifyAthenaWebhookSignature({ secret: `${SECRET}x`, rawBody: body, header }), false);
    });

    void it('a missing header, a missing or unknown method prefix, or a malformed digest', () => {
      const hex = header.slice('sha256='.length);
      const sha1 = createHmac('sha1', SECRET).update(body).digest('hex');
      for (const bad of [
        undefined,
        null,
        '',
        hex,
        `sha1=${sha1}`,
        `sha512=${hex}`,
        `sha256:${hex}`,
        `sha256=${hex.slice(2)}`,
        `sha256=${hex}00`,
        `sha256=${'z'.repeat(64)}`,
        [header, header],
      ]) {
        assert.equal(
          verifyAthenaWebhookSignature({ secret: SECRET, rawBody: body, header: bad }),
          false,
          `accepted ${JSON.stringify(bad)}`,
        );
      }
      assert.equal(verifyAthenaWebhookSignature({ secret: SECRET, rawBody: body, header: [header] }), true);
    });

    void it('and refuses to run with an empty secret', () => {
      assert.throws(
        () => verifyAthenaWebhookSignature({ secret: '', rawBody: body, header }),
        /secret must not be empty/,
      );
    });
  });

  void it('retries a non-2xx answer until it is accepted (same body, same event id)', async () => {
    receiver.script.push(500, 503);
    addResult();
    await fake.control.webhooksSettled();
    assert.equal(receiver.received.length, 3);
    assert.equal(new Set(receiver.received.map((r) => r.rawBody)).size, 1);
    const log = fake.control.webhookDeliveries().slice(-3);
    assert.deepEqual(
      log.map((d) => [d.attempt, d.status, d.delivered]),
      [
        [1, 500, false],
        [2, 503, false],
        [3, 200, true],
      ],
    );
  });

  void it('retries after a receiver timeout', async () => {
    receiver.script.push('hang');
    addResult();
    await fake.control.webhooksSettled();
    const log = fake.control.webhookDeliveries().slice(-2);
    assert.equal(log[0]?.error, 'TimeoutError');
    assert.equal(log[1]?.delivered, true);
    assert.equal(new Set(parseAll(receiver.received).map((e) => e.id)).size, 1);
  });

  void it('gives up after a bounded number of attempts (dead letter)', async () => {
    fake.control.configureWebhook({ url: receiver.url, secret: SECRET, retryBaseDelayMs: 5, maxAttempts: 3 });
    receiver.script.push(500, 500, 500, 500, 500);
    addResult();
    await fake.control.webhooksSettled();
    assert.equal(receiver.received.length, 3);
    const last = fake.control.webhookDeliveries().at(-1);
    assert.equal(last?.delivered, false);
    assert.equal(last?.deadLettered, true);
    receiver.script.length = 0;
  });

  void it('duplicate deliveries parse to the same event ids, so de-duplication by id is exact', async () => {
    fake.control.setWebhookMode({ duplicate: true });
    const ids = [addResult(), addResult()];
    await fake.control.webhooksSettled();
    assert.equal(receiver.received.length, 4);
    for (const delivery of receiver.received) {
      assert.equal(
        verifyAthenaWebhookSignature({ secret: SECRET, rawBody: delivery.rawBody, header: signatureOf(delivery) }),
        true,
      );
    }
    const events = parseAll(receiver.received);
    const unique = new Map(events.map((e) => [e.id, e]));
    assert.equal(unique.size, 2);
    assert.deepEqual([...unique.values()].map((e) => e.labResultId).sort(), ids.sort());
  });

  void it('reordered deliveries parse, and event timestamps restore the order per lab result', async () => {
    fake.control.setWebhookMode({ reorder: true });
    const labResultId = addResult();
    fake.control.advanceTime(1000);
    fake.control.signOff(labResultId, '71');
    fake.control.advanceTime(1000);
    fake.control.closeLabResult(labResultId);
    await fake.control.webhooksSettled();
    assert.equal(receiver.received.length, 0, 'held until flushed');
    fake.control.flushWebhooks();
    await fake.control.webhooksSettled();
    fake.control.advanceTime(-2000);
    const events = parseAll(receiver.received);
    assert.deepEqual(
      events.map((e) => e.topic),
      ['LabResult.close', 'LabResult.update', 'LabResult.create'],
      'arrived newest first',
    );
    assert.ok(events.every((e) => e.labResultId === labResultId));
    const byTime = [...events].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    assert.deepEqual(
      byTime.map((e) => e.topic),
      ['LabResult.create', 'LabResult.update', 'LabResult.close'],
    );
  });

  void describe('parseAthenaWebhook', () => {
    const readmeExample = {
      resourceType: 'Bundle',
      id: '3945182f-d315-4dbf-9259-09d863c7e7da',
      type: 'history',
      timestamp: '2021-03-31T16:20:01.123Z',
      entry: [
        {
          fullUrl: 'urn:uuid:c144782b-da2f-4125-a9e2-9fa4b9085a40',
          resource: {
            resourceType: 'SubscriptionStatus',
            id: 'c144782b-da2f-4125-a9e2-9fa4b9085a40',
            status: 'active',
            type: 'event-notification',
            eventsSinceSubscriptionStart: '1',
            eventsInNotification: 1,
            subscription: { reference: 'Subscription/a9c3784c-9f56-4b32-95b0-882868d39e58' },
            topic: 'https://api.platform.athenahealth.com/fhir/r4/SubscriptionTopic/Patient.update',
            notificationEvent: [
              {
                eventNumber: '1',
                id: 'cb6cc377-ee38-31ba-9482-f93f821cd169',
                timestamp: '2021-03-31T16:20:12.000Z',
                focus: {
                  reference: 'Patient/a-432.E-528595',
                  identifier: { system: 'urn:athenahealth:athenanet:patient:432', value: '528595' },
                },
                additionalContext: [
                  {
                    reference: 'Organization/a-432.Department-123',
                    identifier: { system: 'urn:athenahealth:athenanet:department:432', value: '123' },
                  },
                ],
              },
            ],
          },
        },
      ],
    };

    void it("reads athena's published example (a Patient.update)", () => {
      const parsed = parseAthenaWebhook(readmeExample);
      assert.equal(parsed.bundleId, '3945182f-d315-4dbf-9259-09d863c7e7da');
      assert.equal(parsed.topic, 'Patient.update');
      assert.deepEqual(parsed.events, [
        {
          id: 'cb6cc377-ee38-31ba-9482-f93f821cd169',
          timestamp: '2021-03-31T16:20:12.000Z',
          topic: 'Patient.update',
          focus: { reference: 'Patient/a-432.E-528595', identifier: 'urn:athenahealth:athenanet:patient:432|528595' },
          focusType: 'patient',
          practiceId: '432',
          patientId: '528595',
          departmentId: '123',
        },
      ]);
    });

    void it('accepts the whole identifier token in `value`, and references without identifiers', () => {
      const event = {
        id: 'e1',
        timestamp: '2024-05-01T12:00:00Z',
        focus: { identifier: { value: 'urn:athenahealth:athenanet:labresult:195900|144777' } },
        additionalContext: [{ reference: 'Patient/a-195900.E-1001' }],
      };
      const body = structuredClone(readmeExample);
      const status = body.entry[0]?.resource as { notificationEvent: unknown[]; topic: string };
      status.notificationEvent = [event];
      status.topic = 'https://api.platform.athenahealth.com/fhir/r4/SubscriptionTopic/LabResult.update';
      const [parsed] = parseAthenaWebhook(body).events;
      assert.equal(parsed?.labResultId, '144777');
      assert.equal(parsed?.practiceId, '195900');
      assert.equal(parsed?.patientId, '1001');
      assert.equal(parsed?.topic, 'LabResult.update');
    });

    void it('a heartbeat has no events', () => {
      const body = structuredClone(readmeExample);
      const status = body.entry[0]?.resource as { notificationEvent?: unknown; type: string };
      status.type = 'heartbeat';
      delete status.notificationEvent;
      assert.deepEqual(parseAthenaWebhook(body).events, []);
    });

    void it('refuses what is not an athena notification, naming the problem', () => {
      const cases: [unknown, RegExp][] = [
        [null, /expected object/i],
        [{ ...readmeExample, resourceType: 'Patient' }, /resourceType/],
        [{ ...readmeExample, type: 'searchset' }, /type/],
        [{ ...readmeExample, entry: [] }, /entry.*first must be a SubscriptionStatus/],
        [{ ...readmeExample, entry: [{ resource: { resourceType: 'Patient' } }] }, /entry\.0\.resource\.resourceType/],
      ];
      const noId = structuredClone(readmeExample);
      (noId.entry[0]?.resource as { notificationEvent: { id?: string }[] }).notificationEvent[0].id = '';
      cases.push([noId, /notificationEvent\.0\.id: event id must not be empty/]);
      const badTime = structuredClone(readmeExample);
      (badTime.entry[0]?.resource as { notificationEvent: { timestamp: string }[] }).notificationEvent[0].timestamp =
        'yesterday';
      cases.push([badTime, /notificationEvent\.0\.timestamp: must be an ISO date-time/]);
      for (const [body, message] of cases) {
        assert.throws(
          () => parseAthenaWebhook(body),
          (error: unknown) => {
            assert.ok(error instanceof AthenaWebhookParseError);
            assert.match(error.message, message);
            return true;
          },
        );
      }
    });
  });
});
