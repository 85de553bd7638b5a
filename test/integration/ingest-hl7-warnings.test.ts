import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parsePracticeRegistry } from '../../lib/practices';
import { AUTH, hl7Fixture, startIngestHarness, workflowExists, type IngestHarness } from './ingest-harness';

/**
 * Issue 13 §6: a malformed field labloop does not need does not refuse the result. PID-7
 * `196203520` (the date of birth in the HL7 normative example) is accepted: AA with an ERR of
 * severity W naming PID-7, the workflow started, and a data-quality audit row that names the field
 * but not its value; a retransmission adds no second row. What routing needs (PID-3) still refuses.
 * The practice here honours enhanced acknowledgement mode, so the fixtures' `AL|NE` (MSH-15/16)
 * get commit ACKs (CA/CE).
 */

const tag = () => randomBytes(4).toString('hex');

/** The fixture's PID-7 replaced (PID fields are `|`-separated; PID-7 is the 8th piece). */
function withBirthDate(message: string, dob: string): string {
  return message
    .split('\r')
    .map((segment) => {
      if (!segment.startsWith('PID|')) return segment;
      const fields = segment.split('|');
      fields[7] = dob;
      return fields.join('|');
    })
    .join('\r');
}

/** The fixture's MSH-15 and MSH-16 set (MSH pieces are MSH-1-based: piece k is MSH-(k+1)). */
function withAckTypes(message: string, accept: string, application: string): string {
  return message
    .split('\r')
    .map((segment) => {
      if (!segment.startsWith('MSH|')) return segment;
      const fields = segment.split('|');
      while (fields.length < 16) fields.push('');
      fields[14] = accept;
      fields[15] = application;
      return fields.join('|');
    })
    .join('\r');
}

interface JsonAck {
  ack: 'AA' | 'AE' | 'AR';
  duplicate: boolean;
  results: { workflowId: string }[];
  hl7Ack: string;
}

void describe('HL7: accepted with warnings; enhanced acknowledgement mode', () => {
  let h: IngestHarness;
  before(async () => {
    // The sandbox practice, with enhanced acknowledgement mode honoured (off by default).
    const registry = JSON.parse(readFileSync('config/practices.sandbox.json', 'utf8')) as {
      practices: { routing: Record<string, unknown> }[];
    };
    for (const practice of registry.practices) practice.routing.hl7EnhancedAcknowledgements = true;
    h = await startIngestHarness({ label: 'ingest_hl7_warnings', practices: parsePracticeRegistry(registry) });
  });
  after(async () => {
    await h?.close();
  });

  const post = (body: string) =>
    h.built.app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { ...AUTH, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      payload: body,
    });

  const qualityRows = async (workflowId: string) =>
    (
      await h.db.pool.query<{ outcome: string; actor_type: string; details: Record<string, unknown> }>(
        `SELECT outcome, actor_type, details FROM audit_log WHERE workflow_id = $1 AND action = 'ingest'`,
        [workflowId],
      )
    ).rows.filter((r) => r.outcome === 'data-quality-warning');

  void it('a bad PID-7 is AA (202) with ERR severity W naming PID-7, starts the workflow and writes one data-quality row', async () => {
    const t = tag();
    const message = withBirthDate(hl7Fixture('cbc-normal-final', { controlId: `MSG-${t}`, tag: t }), '196203520');
    assert.ok(message.includes('|196203520|'));
    const response = await post(message);
    assert.equal(response.statusCode, 202, response.body);
    const ack = response.json<JsonAck>();
    assert.equal(ack.ack, 'AA');
    const err = ack.hl7Ack.split('\r').find((s) => s.startsWith('ERR|'));
    assert.ok(err !== undefined, ack.hl7Ack);
    const fields = err.split('|');
    assert.deepEqual([fields[2], fields[3]?.split('^')[0], fields[4]], ['PID^1^7', '102', 'W']);
    assert.ok(!ack.hl7Ack.includes('196203520'), 'the value is not echoed');
    const workflowId = ack.results[0]?.workflowId ?? '';
    assert.equal(await workflowExists(h.client, workflowId), true, 'the result was taken in');

    const rows = await qualityRows(workflowId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.actor_type, 'source');
    assert.deepEqual(rows[0]?.details, { messageId: `MSG-${t}`, fields: ['PID-7'], errorCodes: [102] });

    const again = await post(message);
    assert.equal(again.json<JsonAck>().ack, 'AA');
    assert.equal(again.json<JsonAck>().duplicate, true);
    assert.match(again.json<JsonAck>().hl7Ack, /\rERR\|[^\r]*\|W\|/, 'the resend is answered with the warning too');
    assert.equal((await qualityRows(workflowId)).length, 1, 'no second row for a retransmission');
  });

  void it('a clean message has no ERR and no data-quality row; a missing PID-3 is still refused', async () => {
    const t = tag();
    const clean = await post(hl7Fixture('cbc-normal-final', { controlId: `MSG-${t}`, tag: t }));
    const ack = clean.json<JsonAck>();
    assert.equal(ack.ack, 'AA');
    assert.ok(!ack.hl7Ack.includes('\rERR|'));
    assert.deepEqual(await qualityRows(ack.results[0]?.workflowId ?? ''), []);

    const refused = await post(hl7Fixture('bad-no-pid3', { controlId: `MSG-${tag()}`, tag: tag() }));
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json<JsonAck>().ack, 'AE');
  });

  void it('enhanced mode: MSH-15 AL gets a commit ACK (CA), with the warning; NE/NE gets no ACK body, still 202', async () => {
    const t = tag();
    const base = withBirthDate(hl7Fixture('cbc-normal-final', { controlId: `MSG-${t}`, tag: t }), '196203520');
    const commit = await post(withAckTypes(base, 'AL', 'NE'));
    assert.equal(commit.statusCode, 202, commit.body);
    const ack = commit.json<JsonAck>();
    assert.match(ack.hl7Ack, new RegExp(`\\rMSA\\|CA\\|MSG-${t}`));
    assert.match(ack.hl7Ack, /\rERR\|[^\r]*\|W\|/);

    const u = tag();
    const silent = await post(
      withAckTypes(hl7Fixture('cbc-normal-final', { controlId: `MSG-${u}`, tag: u }), 'NE', 'NE'),
    );
    assert.equal(silent.statusCode, 202);
    assert.equal(silent.json<JsonAck>().ack, 'AA', 'the outcome is still reported to an HTTPS client');
    assert.equal(silent.json<JsonAck>().hl7Ack, '', 'but no HL7 acknowledgement was asked for');
    assert.equal(await workflowExists(h.client, silent.json<JsonAck>().results[0]?.workflowId ?? ''), true);

    const refused = await post(
      withAckTypes(hl7Fixture('bad-no-pid3', { controlId: `MSG-${tag()}`, tag: tag() }), 'ER', 'NE'),
    );
    assert.equal(refused.statusCode, 400);
    assert.match(refused.json<JsonAck>().hl7Ack, /\rMSA\|CE\|/, 'ER: a commit ACK on error only');
  });

  void it('a batch file (FHS/BHS…BTS/FTS) is taken message by message, each with its own ACK in a batch ACK', async () => {
    const t = tag();
    const batch = hl7Fixture('batch-three-messages', { controlId: `BAT-${t}`, tag: t })
      .split('\r')
      .map((segment, i) => (segment.startsWith('MSH|') ? segment.replace(`BAT-${t}`, `BAT-${t}-${i}`) : segment))
      .join('\r')
      // The second message loses its patient ID: refused on its own, the others still taken in.
      .replace('PID|1||MRN800002^^^BAYCLINIC^MR|', 'PID|1|||');
    const response = await post(batch);
    assert.equal(response.statusCode, 207, response.body);
    const body = response.json<{ batch: true; messages: JsonAck[]; hl7Ack: string }>();
    assert.deepEqual(
      body.messages.map((m) => m.ack),
      ['AA', 'AE', 'AA'],
    );
    for (const i of [0, 2]) {
      assert.equal(await workflowExists(h.client, body.messages[i]?.results[0]?.workflowId ?? ''), true);
    }
    const segments = body.hl7Ack.split('\r').filter((s) => s !== '');
    assert.deepEqual(
      segments.map((s) => s.slice(0, 3)),
      ['FHS', 'BHS', 'MSH', 'MSA', 'MSH', 'MSA', 'ERR', 'MSH', 'MSA', 'BTS', 'FTS'],
    );
    assert.equal(segments[1]?.split('|')[2], 'LABLOOP', 'BHS-3: we are the sender of the reply');
    assert.equal(segments.at(-2), 'BTS|3');
    assert.deepEqual(
      segments.filter((s) => s.startsWith('MSA|')).map((s) => s.split('|').slice(0, 2).join('|')),
      ['MSA|AA', 'MSA|AE', 'MSA|AA'],
    );

    const again = await post(batch);
    const resent = again.json<{ messages: JsonAck[] }>();
    assert.deepEqual(
      resent.messages.map((m) => [m.ack, m.duplicate]),
      [
        ['AA', true],
        ['AE', false],
        ['AA', true],
      ],
      'a resent batch is answered again without starting anything twice',
    );
  });
});
