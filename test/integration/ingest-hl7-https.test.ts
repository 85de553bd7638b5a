import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { workflowIdForResult } from '../../lib/ingest/handoff';
import { PRACTICE_ID } from './ingest-harness';
import {
  AUTH,
  hl7Fixture,
  ingestRows,
  signalCount,
  startIngestHarness,
  unreachableTemporalClient,
  workflowExists,
  workflowIdsOnQueue,
  type IngestHarness,
} from './ingest-harness';

/**
 * HL7 v2 over HTTPS (`POST /v1/hl7`) against a real Temporal dev server, a real worker running the
 * real lab-result workflow, and PostgreSQL: AA only after the hand-off, retransmissions
 * acknowledged again without a second workflow or signal, every class of bad input refused with a
 * reason naming segment and field and nothing started, Temporal down → 503/AR and nothing recorded
 * as handed off.
 */

const tag = () => randomBytes(4).toString('hex');

interface JsonAck {
  ack: 'AA' | 'AE' | 'AR';
  duplicate: boolean;
  error?: { segment: string; field?: number; message: string };
  results: { workflowId: string; statusUrl: string }[];
  hl7Ack: string;
}

void describe('HL7 over HTTPS, end to end', () => {
  let h: IngestHarness;
  before(async () => {
    h = await startIngestHarness({ label: 'ingest_hl7_https' });
  });
  after(async () => {
    await h?.close();
  });

  const post = (body: string, headers: Record<string, string> = {}) =>
    h.built.app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { ...AUTH, 'content-type': 'application/hl7-v2', accept: 'application/json', ...headers },
      payload: body,
    });

  void it('answers AA (202) only once the result is with its workflow, and a retransmission gets AA again without a second signal', async () => {
    const t = tag();
    const message = hl7Fixture('cbc-normal-final', { controlId: `MSG-${t}`, tag: t });
    const first = await post(message);
    assert.equal(first.statusCode, 202, first.body);
    const ack = first.json<JsonAck>();
    assert.equal(ack.ack, 'AA');
    assert.equal(ack.duplicate, false);
    assert.match(ack.hl7Ack, new RegExp(`MSA\\|AA\\|MSG-${t}`));
    const workflowId = ack.results[0]?.workflowId ?? '';
    assert.equal(
      workflowId,
      workflowIdForResult(h.idSecret, { practiceId: PRACTICE_ID, issuer: 'NORTHLAB', resultId: `FIL-${t}-88001` }),
    );
    assert.equal(first.headers.location, ack.results[0]?.statusUrl);
    // Durable before the ACK: the workflow exists the moment AA is answered.
    assert.equal(await workflowExists(h.client, workflowId), true);
    assert.equal(await signalCount(h.client, workflowId), 1);

    const again = await post(message);
    assert.equal(again.statusCode, 202);
    const second = again.json<JsonAck>();
    assert.equal(second.ack, 'AA');
    assert.equal(second.duplicate, true);
    assert.deepEqual(
      second.results.map((r) => r.workflowId),
      [workflowId],
    );
    assert.equal(await signalCount(h.client, workflowId), 1, 'a retransmission must not signal again');
    const rows = (await ingestRows(h)).filter((r) => r.message_id === `MSG-${t}`);
    assert.deepEqual(
      rows.map((r) => r.status),
      ['handed-off'],
    );
  });

  void it('a correction (new MSH-10, same filler order number) signals the same workflow', async () => {
    const t = tag();
    const original = (await post(hl7Fixture('cbc-normal-final', { controlId: `ORIG-${t}`, tag: t }))).json<JsonAck>();
    const workflowId = original.results[0]?.workflowId ?? '';
    const corrected = await post(
      hl7Fixture('cbc-normal-final', { controlId: `CORR-${t}`, tag: t }).replace(/\|F\r/g, '|C\r'),
    );
    assert.equal(corrected.statusCode, 202, corrected.body);
    assert.deepEqual(
      corrected.json<JsonAck>().results.map((r) => r.workflowId),
      [workflowId],
    );
    assert.equal(await signalCount(h.client, workflowId), 2);
  });

  void it('the same MSH-10 with different content is refused (AE naming MSH-10), and nothing more is signalled', async () => {
    const t = tag();
    const first = (await post(hl7Fixture('cbc-normal-final', { controlId: `DUP-${t}`, tag: t }))).json<JsonAck>();
    const other = await post(hl7Fixture('cmp-abnormal-lf', { controlId: `DUP-${t}`, tag: t }));
    assert.equal(other.statusCode, 400);
    const ack = other.json<JsonAck>();
    assert.equal(ack.ack, 'AE');
    assert.equal(ack.error?.segment, 'MSH');
    assert.equal(ack.error?.field, 10);
    // Table 0357 code 205 (duplicate key identifier), not 102 (data type error): the value is well-typed.
    assert.match(ack.hl7Ack, /\rERR\|[^\r]*\|205\^Duplicate key identifier\^HL70357\|/);
    assert.doesNotMatch(ack.hl7Ack, /\|102\^/);
    assert.equal(await signalCount(h.client, first.results[0]?.workflowId ?? ''), 1);
  });

  void it('two facilities reusing one MSH-10 are two messages: both AA, both results taken in', async () => {
    const t = tag();
    // No namespace in OBR-3: each facility's filler number is its own, so each is its own result too.
    const riverside = await post(hl7Fixture('critical-potassium-hh', { controlId: `SAME-${t}`, tag: t }));
    const other = await post(
      hl7Fixture('critical-potassium-hh', { controlId: `SAME-${t}`, tag: t, facility: '195900' }),
    );
    for (const response of [riverside, other]) {
      assert.equal(response.statusCode, 202, response.body);
      assert.equal(response.json<JsonAck>().ack, 'AA');
      assert.equal(response.json<JsonAck>().duplicate, false);
    }
    const ids = [riverside, other].map((r) => r.json<JsonAck>().results[0]?.workflowId ?? '');
    assert.notEqual(ids[0], ids[1], 'one filler number from two facilities is two results');
    for (const id of ids) assert.equal(await signalCount(h.client, id), 1, id);
    const rows = (await ingestRows(h)).filter((r) => r.message_id === `SAME-${t}`);
    assert.deepEqual(
      rows.map((r) => r.status),
      ['handed-off', 'handed-off'],
    );
  });

  void it('a resend that differs only in terminators, a trailing newline or a restamped MSH-7 is the same message: AA, no second signal', async () => {
    const t = tag();
    const message = hl7Fixture('cbc-normal-final', { controlId: `RE-${t}`, tag: t });
    const first = await post(message);
    assert.equal(first.statusCode, 202, first.body);
    const workflowId = first.json<JsonAck>().results[0]?.workflowId ?? '';
    assert.ok(message.includes('|20240305143000-0500||ORU'), 'the fixture carries the MSH-7 the engine restamps');
    const resends = {
      crlf: message.replace(/\r/g, '\r\n'),
      lf: message.replace(/\r/g, '\n'),
      'trailing newline': `${message}\r\n`,
      'MSH-7 restamped': message.replace('|20240305143000-0500||ORU', '|20240305143512-0500||ORU'),
      'all at once': `${message.replace('|20240305143000-0500||ORU', '|20991231235959||ORU').replace(/\r/g, '\r\n')}\n`,
    };
    for (const [how, body] of Object.entries(resends)) {
      const again = await post(body);
      assert.equal(again.statusCode, 202, `${how}: ${again.body}`);
      assert.equal(again.json<JsonAck>().ack, 'AA', how);
      assert.equal(again.json<JsonAck>().duplicate, true, how);
      assert.deepEqual(
        again.json<JsonAck>().results.map((r) => r.workflowId),
        [workflowId],
        how,
      );
    }
    assert.equal(await signalCount(h.client, workflowId), 1, 'no resend signalled again');

    // Any real change under the same control ID is still refused, clearly.
    const changed = await post(message.replace('|6.4|', '|6.5|'));
    assert.equal(changed.statusCode, 400, changed.body);
    const ack = changed.json<JsonAck>();
    assert.equal(ack.ack, 'AE');
    assert.equal(ack.error?.segment, 'MSH');
    assert.equal(ack.error?.field, 10);
    assert.match(ack.error?.message ?? '', /already used by this sender .* for a different message/);
    assert.equal(await signalCount(h.client, workflowId), 1);
  });

  void it('accepts Content-Type text/plain as well as application/hl7-v2 (AA)', async () => {
    const t = tag();
    const response = await post(hl7Fixture('bmp-normal-final-crlf', { controlId: `TXT-${t}`, tag: t }), {
      'content-type': 'text/plain; charset=utf-8',
    });
    assert.equal(response.statusCode, 202, response.body);
    const ack = response.json<JsonAck>();
    assert.equal(ack.ack, 'AA');
    assert.match(ack.hl7Ack, new RegExp(`\\rMSA\\|AA\\|TXT-${t}`));
    assert.equal(await workflowExists(h.client, ack.results[0]?.workflowId ?? ''), true);
  });

  const badInputs: {
    name: string;
    body: (t: string) => string;
    ack: 'AE' | 'AR';
    segment: string;
    field?: number;
    /** HTTP status: 400 unless said otherwise. */
    status?: number;
  }[] = [
    { name: 'not HL7 at all', body: () => readFixture('bad-garbage'), ack: 'AR', segment: 'MSH' },
    { name: 'truncated MSH', body: () => readFixture('bad-truncated-msh'), ack: 'AR', segment: 'MSH' },
    {
      name: 'wrong message type (ADT^A01)',
      body: (t) => hl7Fixture('bad-adt-a01', { controlId: `ADT-${t}`, tag: t }),
      ack: 'AR',
      segment: 'MSH',
      field: 9,
    },
    {
      name: 'unsupported version (2.6)',
      body: (t) => hl7Fixture('bad-version', { controlId: `VER-${t}`, tag: t }),
      ack: 'AR',
      segment: 'MSH',
      field: 12,
    },
    {
      name: 'missing PID-3',
      body: (t) => hl7Fixture('bad-no-pid3', { controlId: `PID-${t}`, tag: t }),
      ack: 'AE',
      segment: 'PID',
      field: 3,
    },
    {
      name: 'no OBR',
      body: (t) => hl7Fixture('bad-no-obr', { controlId: `OBR-${t}`, tag: t }),
      ack: 'AE',
      segment: 'OBR',
    },
    {
      name: 'OBX before any OBR',
      body: (t) => hl7Fixture('bad-obx-before-obr', { controlId: `OBX-${t}`, tag: t }),
      ack: 'AE',
      segment: 'OBX',
    },
    {
      // Well-formed, but from a facility that is no practice here: 422, as FHIR and the athena webhook answer.
      name: 'unknown practice (MSH-4)',
      body: (t) => hl7Fixture('cbc-normal-final', { controlId: `UNK-${t}`, tag: t, facility: 'NOWHERE-CLINIC' }),
      ack: 'AR',
      segment: 'MSH',
      field: 4,
      status: 422,
    },
  ];

  for (const bad of badInputs) {
    void it(`refuses ${bad.name}: ${bad.status ?? 400} ${bad.ack} naming ${bad.segment}${bad.field === undefined ? '' : `-${bad.field}`}, nothing started`, async () => {
      const rowsBefore = (await ingestRows(h)).length;
      const workflowsBefore = await workflowIdsOnQueue(h.client, h.taskQueue);
      const response = await post(bad.body(tag()));
      assert.equal(response.statusCode, bad.status ?? 400, response.body);
      const ack = response.json<JsonAck>();
      assert.equal(ack.ack, bad.ack);
      assert.equal(ack.error?.segment, bad.segment, ack.error?.message);
      if (bad.field !== undefined) assert.equal(ack.error?.field, bad.field, ack.error?.message);
      assert.ok((ack.error?.message ?? '').length > 10, 'the refusal says what is wrong');
      assert.match(ack.hl7Ack, new RegExp(`MSA\\|${bad.ack}\\|`));
      assert.match(ack.hl7Ack, /\rERR\|/);
      assert.deepEqual(ack.results, []);
      assert.equal((await ingestRows(h)).length, rowsBefore, 'nothing recorded');
      assert.deepEqual(await workflowIdsOnQueue(h.client, h.taskQueue), workflowsBefore, 'nothing started');
    });
  }

  void it('answers a plain HL7 ACK when JSON is not asked for', async () => {
    const t = tag();
    const response = await post(hl7Fixture('cbc-normal-final', { controlId: `RAW-${t}`, tag: t }), { accept: '*/*' });
    assert.equal(response.statusCode, 202);
    assert.match(String(response.headers['content-type']), /application\/hl7-v2/);
    assert.match(response.body, /^MSH\|/);
    assert.match(response.body, new RegExp(`\\rMSA\\|AA\\|RAW-${t}`));
  });

  void it('refuses a wrong content type (415), an oversize body (413) and a missing or unknown token (401), recording nothing', async () => {
    const rowsBefore = (await ingestRows(h)).length;
    const t = tag();
    const wrongType = await post(hl7Fixture('cbc-normal-final', { controlId: `CT-${t}`, tag: t }), {
      'content-type': 'application/xml',
    });
    assert.equal(wrongType.statusCode, 415);
    assert.match(wrongType.json<{ message: string }>().message, /application\/xml/i);

    const huge = `${hl7Fixture('cbc-normal-final', { controlId: `BIG-${t}`, tag: t })}\rNTE|1||${'x'.repeat(1024 * 1024)}`;
    const oversize = await post(huge);
    assert.equal(oversize.statusCode, 413);

    const noToken = await h.built.app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { 'content-type': 'application/hl7-v2' },
      payload: hl7Fixture('cbc-normal-final', { controlId: `TOK-${t}`, tag: t }),
    });
    assert.equal(noToken.statusCode, 401);
    assert.match(noToken.json<{ message: string }>().message, /bearer token/i);
    const badToken = await post(hl7Fixture('cbc-normal-final', { controlId: `TOK2-${t}`, tag: t }), {
      authorization: 'Bearer nope',
    });
    assert.equal(badToken.statusCode, 401);
    assert.equal((await ingestRows(h)).length, rowsBefore);
  });

  void it('Temporal unavailable: 503 with AR, not recorded as handed off; the resend after recovery is handed off once', async () => {
    const down = await h.buildApi({ temporal: await unreachableTemporalClient(), temporalDeadlineMs: 500 });
    const t = tag();
    const message = hl7Fixture('cbc-normal-final', { controlId: `DOWN-${t}`, tag: t });
    const started = Date.now();
    const refused = await down.app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { ...AUTH, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      payload: message,
    });
    assert.ok(
      Date.now() - started < 5_000,
      'the refusal comes within the deadline, not after the client retries for ~18 s',
    );
    assert.equal(refused.statusCode, 503, refused.body);
    assert.equal(refused.json<JsonAck>().ack, 'AR');
    const workflowId = workflowIdForResult(h.idSecret, {
      practiceId: PRACTICE_ID,
      issuer: 'NORTHLAB',
      resultId: `FIL-${t}-88001`,
    });
    const row = (await ingestRows(h)).find((r) => r.message_id === `DOWN-${t}`);
    assert.notEqual(row?.status, 'handed-off');
    assert.equal(await workflowExists(h.client, workflowId), false);

    // The sender keeps the message and resends once we are back: handed off, exactly once.
    const resent = await post(message);
    assert.equal(resent.statusCode, 202, resent.body);
    assert.equal(resent.json<JsonAck>().duplicate, false);
    assert.equal(await signalCount(h.client, workflowId), 1);
    assert.equal((await ingestRows(h)).find((r) => r.message_id === `DOWN-${t}`)?.status, 'handed-off');
  });
});

function readFixture(name: string): string {
  // Fixtures with no usable MSH are sent as they are.
  return hl7Fixture(name, { controlId: 'unused', tag: 'unused' });
}
