import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BuiltApp } from '../../api/app';
import { workflowIdForResult } from '../../lib/ingest/handoff';
import { sendMllp } from '../../api/mllp';
import { startApi, type RunningApi } from '../../api/start-api';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { parsePracticeRegistry } from '../../lib/practices';
import { parseSenderRegistry } from '../../lib/senders';
import { issueMllpCertificates, type MllpCertificates } from '../../sandbox/certificates';
import type { ResultStatusView } from '../../workflows/definitions';
import { TEST_CODEC_KEYS } from '../support/temporal';
import { eventually, startIngestHarness, workflowExists, type IngestHarness } from './ingest-harness';

/**
 * Sender identity on every ingest channel, end to end (real Temporal, worker, PostgreSQL, the API as
 * startApi runs it, MLLP over real mutual TLS with certificates issued here): each refusal is a test.
 * A sender may send only for its practices and facilities and perform only its operations; a result
 * arrives signed only from a sender configured as reviewed; the sender is stored with the message
 * and in the audit rows it causes.
 */

const A = '195900';
const B = 'pb-senders';
const TOKENS = {
  labA: 'lab-a-token-0123456789abcdef0123',
  labB: 'lab-b-token-0123456789abcdef0123',
  athenaOru: 'athena-oru-token-0123456789abcdef',
  claimsReviewed: 'claims-reviewed-token-0123456789ab',
  statusOnly: 'status-only-token-0123456789abcde',
  auditor: 'auditor-a-token-0123456789abcdef01',
};
const tag = () => randomBytes(4).toString('hex');

function practices() {
  const sandbox = JSON.parse(readFileSync(path.resolve(__dirname, '../../config/practices.sandbox.json'), 'utf8')) as {
    practices: { policy: Record<string, unknown> }[];
  };
  const policy = sandbox.practices[0]?.policy ?? {};
  return parsePracticeRegistry({
    practices: [
      {
        policy,
        routing: { hl7SendingFacilities: ['RIVERSIDE'], hl7ReviewedFacilities: ['RIVERSIDE-ATHENA'] },
      },
      { policy: { ...policy, practiceId: B }, routing: { hl7SendingFacilities: ['OTHERLAB'] } },
    ],
  });
}

function senders(certs: MllpCertificates) {
  const labA = certs.clients['lab-a']?.fingerprint256 ?? '';
  return parseSenderRegistry({
    senders: [
      {
        id: 'lab-a',
        token: 'lab-a',
        mllp: { certificateSha256: [labA] },
        practices: [A],
        hl7Facilities: ['RIVERSIDE'],
        operations: ['ingest', 'status', 'consent'],
      },
      {
        id: 'lab-b',
        token: 'lab-b',
        mllp: { certificateSubject: ['CN=lab-b'] },
        practices: [B],
        hl7Facilities: ['OTHERLAB'],
        operations: ['ingest', 'status', 'consent'],
      },
      {
        id: 'athena-oru',
        token: 'athena-oru',
        practices: [A],
        hl7Facilities: ['RIVERSIDE-ATHENA'],
        operations: ['ingest', 'status'],
        arrivesSigned: true,
      },
      {
        id: 'claims-reviewed',
        token: 'claims-reviewed',
        practices: [A],
        hl7Facilities: ['RIVERSIDE-ATHENA'],
        operations: ['ingest'],
      },
      { id: 'status-only', token: 'status-only', practices: [A], operations: ['status'] },
      { id: 'auditor-a', token: 'auditor-a', practices: [A], operations: ['audit-export'] },
    ],
  });
}

function oru(input: { facility: string; controlId: string; obr3: string; orderingNpi?: string }): string {
  return [
    `MSH|^~\\&|LIS|${input.facility}|LABLOOP|RIVERSIDE|20261124093000-0500||ORU^R01^ORU_R01|${input.controlId}|P|2.5.1`,
    `PID|1||MRN-${input.controlId}^^^RIVERSIDE^MR||Whitfield^Dana||19800402|F`,
    `OBR|1|PLC-${input.controlId}|${input.obr3}|2951-2^Sodium^LN|||20261124081500|||||||||${input.orderingNpi ?? '1234567890'}^Chen^Avery||||||20261124092900-0500|||F`,
    'OBX|1|NM|2951-2^Sodium^LN||140|mmol/L|135-145|N|||F',
  ].join('\r');
}

function msa(ack: string): { code: string; errLocation?: string; errText?: string } {
  const segments = ack.split('\r');
  const fields = segments.find((s) => s.startsWith('MSA|'))?.split('|') ?? [];
  const err = segments.find((s) => s.startsWith('ERR|'))?.split('|');
  return { code: fields[1] ?? '', errLocation: err?.[2], errText: err?.[8] };
}

void describe('sender identity on every ingest channel', () => {
  let h: IngestHarness;
  let api: RunningApi;
  let app: BuiltApp['app'];
  let certs: MllpCertificates;
  let certDir: string;
  let config: ReturnType<typeof loadConfig>;

  before(async () => {
    certDir = mkdtempSync(path.join(tmpdir(), 'labloop-senders-test-'));
    certs = issueMllpCertificates(certDir, ['lab-a', 'lab-b', 'not-a-sender'], { days: 1 });
    h = await startIngestHarness({ label: 'ingest_senders', practices: practices(), senders: () => senders(certs) });
    const apiTokens = new Map([
      [TOKENS.labA, 'lab-a'],
      [TOKENS.labB, 'lab-b'],
      [TOKENS.athenaOru, 'athena-oru'],
      [TOKENS.claimsReviewed, 'claims-reviewed'],
      [TOKENS.statusOnly, 'status-only'],
      [TOKENS.auditor, 'auditor-a'],
    ]);
    ({ app } = await h.buildApi({ apiTokens }));
    config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      LABLOOP_CODEC_KEYS: TEST_CODEC_KEYS,
      LABLOOP_ID_SECRET: h.idSecret,
      API_HOST: '127.0.0.1',
      API_PORT: '0',
      MLLP_HOST: '127.0.0.1',
      MLLP_PORT: '0',
      MLLP_TLS_CERT_FILE: certs.server.certFile,
      MLLP_TLS_KEY_FILE: certs.server.keyFile,
      MLLP_TLS_CLIENT_CA_FILE: certs.caFile,
      PUBLIC_BASE_URL: 'https://labloop.example.org',
      LABLOOP_API_TOKENS: [...apiTokens].map(([token, name]) => `${name}:${token}`).join(','),
      TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'twilio-test-auth-token-0000',
      TWILIO_MESSAGING_SERVICE_SID: `MG${'0'.repeat(32)}`,
      SPRUCE_API_TOKEN: 'spruce-test-token',
      SPRUCE_WEBHOOK_SECRET: 'spruce-test-webhook-secret',
      SPRUCE_INTERNAL_ENDPOINT_ID: 'endpoint-test',
      ATHENA_CLIENT_ID: 'athena-test-client',
      ATHENA_CLIENT_SECRET: 'athena-test-secret',
      ATHENA_WEBHOOK_SECRET: 'athena-test-webhook-secret',
      OIDC_ISSUER_URL: 'https://idp.example.org',
      OIDC_CLIENT_ID: 'labloop',
      OIDC_CLIENT_SECRET: 'oidc-client-secret-0123456789',
      SESSION_SECRET: 'session-secret-0123456789abcdef0123456789abcdef',
    });
    api = await startApi({
      config,
      pool: h.db.pool,
      temporal: h.client,
      practices: h.practices,
      senders: h.senders,
      logger: createLogger('silent', 'ingest-senders-test'),
      taskQueue: h.taskQueue,
    });
  });
  after(async () => {
    await api?.close();
    await h?.close();
    if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
  });

  const postHl7 = (token: string, body: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/hl7',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/hl7-v2', accept: 'application/json' },
      payload: body,
    });
  const ingestRow = async (messageId: string) =>
    (
      await h.db.pool.query<{ authenticated_sender: string; authenticated_by: string; status: string }>(
        'SELECT authenticated_sender, authenticated_by, status FROM ingest_message WHERE message_id = $1',
        [messageId],
      )
    ).rows;
  const ingestAudit = async (messageId: string) =>
    (
      await h.db.pool.query<{ outcome: string; practice_id: string; details: Record<string, unknown> }>(
        `SELECT outcome, practice_id, details FROM audit_log WHERE action = 'ingest' AND details->>'messageId' = $1 ORDER BY seq`,
        [messageId],
      )
    ).rows;
  const statusOf = async (token: string, workflowId: string) => {
    const response = await app.inject({
      method: 'GET',
      url: `/v1/results/${workflowId}`,
      headers: { authorization: `Bearer ${token}` },
    });
    return response;
  };
  const mllpTls = (client: string | undefined) => ({
    ca: certs.ca,
    ...(client === undefined ? {} : { cert: certs.clients[client]?.cert, key: certs.clients[client]?.key }),
  });

  void it('HTTPS: practice A’s token posting practice B’s facility gets 403, an AR naming MSH-4, an audit row, and nothing else', async () => {
    const t = tag();
    const controlId = `XB-${t}`;
    const response = await postHl7(TOKENS.labA, oru({ facility: 'OTHERLAB', controlId, obr3: `ACC-${t}` }));
    assert.equal(response.statusCode, 403, response.body);
    const body = response.json<{ ack: string; error: { segment: string; field: number; message: string } }>();
    assert.equal(body.ack, 'AR');
    assert.deepEqual([body.error.segment, body.error.field], ['MSH', 4]);
    assert.match(body.error.message, /MSH-4 .*"OTHERLAB".* not a facility this sender \(lab-a\) may send for/);
    assert.deepEqual(await ingestRow(controlId), [], 'nothing recorded');
    const wouldBe = workflowIdForResult(h.idSecret, { practiceId: B, issuer: 'OTHERLAB', resultId: `ACC-${t}` });
    assert.equal(await workflowExists(h.client, wouldBe), false, 'nothing started');
    const audit = await ingestAudit(controlId);
    assert.equal(audit.length, 1);
    assert.equal(audit[0]?.outcome, 'refused-sender');
    assert.equal(audit[0]?.practice_id, B, 'audited under the practice the message claimed');
    assert.equal(audit[0]?.details.sender, 'lab-a');
    assert.equal(audit[0]?.details.senderChannel, 'bearer-token');
  });

  void it('HTTPS: the sender’s own facility is taken in, with the sender stored with the message and in its audit row', async () => {
    const t = tag();
    const controlId = `OK-${t}`;
    const response = await postHl7(TOKENS.labB, oru({ facility: 'OTHERLAB', controlId, obr3: `ACC-${t}` }));
    assert.equal(response.statusCode, 202, response.body);
    assert.deepEqual(await ingestRow(controlId), [
      { authenticated_sender: 'lab-b', authenticated_by: 'bearer-token', status: 'handed-off' },
    ]);
    const audit = await ingestAudit(controlId);
    assert.deepEqual(
      audit.map((r) => [r.outcome, r.details.sender, r.details.senderChannel, r.details.arrivedSigned]),
      [['accepted', 'lab-b', 'bearer-token', false]],
    );
  });

  void it('a token without the operation gets 403; FHIR’s practice must be in the token’s scope; status and consent too', async () => {
    const t = tag();
    const statusOnly = await postHl7(
      TOKENS.statusOnly,
      oru({ facility: 'RIVERSIDE', controlId: `SO-${t}`, obr3: `A-${t}` }),
    );
    assert.equal(statusOnly.statusCode, 403);
    assert.match(statusOnly.body, /sender status-only may not ingest/);

    const report = {
      resourceType: 'DiagnosticReport',
      id: `dr-${t}`,
      status: 'final',
      code: { text: 'Sodium' },
      subject: { identifier: { value: `MRN-${t}` } },
      result: [],
    };
    const fhir = await app.inject({
      method: 'POST',
      url: `/v1/fhir?practice=${B}`,
      headers: { authorization: `Bearer ${TOKENS.labA}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(report),
    });
    assert.equal(fhir.statusCode, 403, fhir.body);
    const outcome = fhir.json<{ resourceType: string; issue: { code: string; diagnostics: string }[] }>();
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.equal(outcome.issue[0]?.code, 'forbidden');
    assert.match(outcome.issue[0]?.diagnostics ?? '', /lab-a may not send results for practice "pb-senders"/);
    const fhirRows = await h.db.pool.query(`SELECT 1 FROM ingest_message WHERE source = 'fhir' AND practice_id = $1`, [
      B,
    ]);
    assert.equal(fhirRows.rowCount, 0, 'nothing recorded');

    // Status of another practice's result: refused before Temporal is asked.
    const otherPractice = workflowIdForResult(h.idSecret, { practiceId: B, issuer: 'OTHERLAB', resultId: 'ANY' });
    assert.equal((await statusOf(TOKENS.labA, otherPractice)).statusCode, 403);
    assert.equal((await statusOf(TOKENS.claimsReviewed, otherPractice)).statusCode, 403, 'no status operation');

    const consent = await app.inject({
      method: 'PUT',
      url: `/v1/practices/${B}/patients/MRN-${t}/sms-consent`,
      headers: { authorization: `Bearer ${TOKENS.labA}`, 'content-type': 'application/json' },
      payload: { phone: '+16175550142', consented: true },
    });
    assert.equal(consent.statusCode, 403, consent.body);
    const consentRows = await h.db.pool.query('SELECT 1 FROM sms_consent WHERE patient_id = $1', [`MRN-${t}`]);
    assert.equal(consentRows.rowCount, 0);
  });

  void it('audit export: only a sender with the operation, and only its own practice', async () => {
    // A row of practice A to export (and practice B has rows from the tests above).
    const t = tag();
    const accepted = await postHl7(TOKENS.labA, oru({ facility: 'RIVERSIDE', controlId: `AX-${t}`, obr3: `AX-${t}` }));
    assert.equal(accepted.statusCode, 202, accepted.body);
    const exportAs = (token: string, query = '') =>
      app.inject({ method: 'GET', url: `/v1/audit/export${query}`, headers: { authorization: `Bearer ${token}` } });
    assert.equal((await exportAs(TOKENS.labA)).statusCode, 401, 'an ingest token opens nothing here');
    const other = await exportAs(TOKENS.auditor, `?practiceId=${B}`);
    assert.equal(other.statusCode, 403, other.body);
    assert.match(other.body, /sender auditor-a may export 195900 only/);
    const own = await exportAs(TOKENS.auditor);
    assert.equal(own.statusCode, 200, own.body);
    const rows = own.body
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { seq?: string; practice_id: string | null })
      // The last line is the export's trailer (the chain head), not a row.
      .filter((r) => r.seq !== undefined);
    assert.ok(rows.length > 0);
    assert.ok(
      rows.every((r) => r.practice_id === A),
      'practice A’s rows only',
    );
    const exported = await h.db.pool.query<{ actor_type: string; actor_id: string; details: { practiceId?: string } }>(
      `SELECT actor_type, actor_id, details FROM audit_log WHERE action = 'export' ORDER BY seq DESC LIMIT 1`,
    );
    assert.deepEqual([exported.rows[0]?.actor_type, exported.rows[0]?.actor_id], ['source', 'auditor-a']);
  });

  void it('a reviewed-facility claim from a sender not configured as reviewed arrives unsigned; the reviewed sender’s arrives signed', async () => {
    const t = tag();
    const unsigned = await postHl7(
      TOKENS.claimsReviewed,
      oru({ facility: 'RIVERSIDE-ATHENA', controlId: `CL-${t}`, obr3: `CL-${t}` }),
    );
    assert.equal(unsigned.statusCode, 202, unsigned.body);
    const signed = await postHl7(
      TOKENS.athenaOru,
      oru({ facility: 'RIVERSIDE-ATHENA', controlId: `RV-${t}`, obr3: `RV-${t}` }),
    );
    assert.equal(signed.statusCode, 202, signed.body);
    // The reviewed sender names a signer who is not a provider of the practice: it waits for the review app.
    const notProvider = await postHl7(
      TOKENS.athenaOru,
      oru({ facility: 'RIVERSIDE-ATHENA', controlId: `NP-${t}`, obr3: `NP-${t}`, orderingNpi: '9999999999' }),
    );
    assert.equal(notProvider.statusCode, 202, notProvider.body);

    const viewOf = async (response: typeof signed) => {
      const workflowId = response.json<{ results: { workflowId: string }[] }>().results[0]?.workflowId ?? '';
      return eventually(`the status of ${workflowId}`, async () => {
        const answer = await statusOf(TOKENS.athenaOru, workflowId);
        return answer.statusCode === 200 ? answer.json<ResultStatusView>() : undefined;
      });
    };
    assert.equal((await viewOf(unsigned)).signed, false, 'MSH-4 alone never signs');
    assert.equal((await viewOf(notProvider)).signed, false, 'the signer must be a provider of the practice');
    const signedView = await eventually('the signed result', async () => {
      const view = await viewOf(signed);
      return view.signed ? view : undefined;
    });
    assert.equal(signedView.signed, true);
    assert.deepEqual(
      (await ingestAudit(`RV-${t}`)).map((r) => [r.outcome, r.details.sender, r.details.arrivedSigned]),
      [['accepted', 'athena-oru', true]],
    );
    assert.deepEqual(
      (await ingestAudit(`CL-${t}`)).map((r) => [r.outcome, r.details.sender, r.details.arrivedSigned]),
      [['accepted', 'claims-reviewed', false]],
    );
  });

  void it('MLLP: a client without a certificate is refused at the handshake, and so is one the CA did not issue', async () => {
    const t = tag();
    const message = oru({ facility: 'RIVERSIDE', controlId: `NC-${t}`, obr3: `NC-${t}` });
    await assert.rejects(
      sendMllp({ host: '127.0.0.1', port: api.mllpPort, message, timeoutMs: 5_000, tls: mllpTls(undefined) }),
      /certificate|alert|ECONNRESET|socket hang up|closed before an ACK/i,
    );
    const stranger = issueMllpCertificates(path.join(certDir, 'stranger'), ['lab-a'], {
      days: 1,
      caName: 'someone else',
    });
    await assert.rejects(
      sendMllp({
        host: '127.0.0.1',
        port: api.mllpPort,
        message,
        timeoutMs: 5_000,
        tls: { ca: certs.ca, cert: stranger.clients['lab-a']?.cert, key: stranger.clients['lab-a']?.key },
      }),
      /certificate|alert|ECONNRESET|socket hang up|closed before an ACK/i,
    );
    // Plaintext to the TLS listener: no MLLP answer at all.
    await assert.rejects(
      sendMllp({ host: '127.0.0.1', port: api.mllpPort, message, timeoutMs: 5_000 }),
      /closed before an ACK|ECONNRESET|no ACK/,
    );
    // A certificate the CA issued, but to nobody in the sender registry: disconnected unanswered.
    await assert.rejects(
      sendMllp({ host: '127.0.0.1', port: api.mllpPort, message, timeoutMs: 5_000, tls: mllpTls('not-a-sender') }),
      /closed before an ACK|ECONNRESET/,
    );
    assert.deepEqual(await ingestRow(`NC-${t}`), [], 'nothing recorded');
  });

  void it('MLLP: facility A’s certificate sending facility B’s MSH-4 gets AR with ERR naming MSH-4, is audited, and starts nothing', async () => {
    const t = tag();
    const controlId = `MX-${t}`;
    const ack = msa(
      await sendMllp({
        host: '127.0.0.1',
        port: api.mllpPort,
        message: oru({ facility: 'OTHERLAB', controlId, obr3: `MX-${t}` }),
        timeoutMs: 10_000,
        tls: mllpTls('lab-a'),
      }),
    );
    assert.equal(ack.code, 'AR');
    assert.equal(ack.errLocation, 'MSH^1^4', 'ERR-2 names MSH-4');
    assert.match(ack.errText ?? '', /not a facility this sender \(lab-a\) may send for/);
    assert.deepEqual(await ingestRow(controlId), []);
    const wouldBe = workflowIdForResult(h.idSecret, { practiceId: B, issuer: 'OTHERLAB', resultId: `MX-${t}` });
    assert.equal(await workflowExists(h.client, wouldBe), false);
    const audit = await ingestAudit(controlId);
    assert.deepEqual(
      audit.map((r) => [r.outcome, r.details.sender, r.details.senderChannel]),
      [['refused-sender', 'lab-a', 'mllp-certificate']],
    );

    // Another facility of its own practice (athena's reviewed feed) is still not its facility.
    const samePractice = msa(
      await sendMllp({
        host: '127.0.0.1',
        port: api.mllpPort,
        message: oru({ facility: 'RIVERSIDE-ATHENA', controlId: `MS-${t}`, obr3: `MS-${t}` }),
        timeoutMs: 10_000,
        tls: mllpTls('lab-a'),
      }),
    );
    assert.deepEqual([samePractice.code, samePractice.errLocation], ['AR', 'MSH^1^4']);
    assert.deepEqual(await ingestRow(`MS-${t}`), []);

    // Its own facility over the same listener: AA, stored as sent by the certificate's sender.
    const own = `MA-${t}`;
    const accepted = msa(
      await sendMllp({
        host: '127.0.0.1',
        port: api.mllpPort,
        message: oru({ facility: 'RIVERSIDE', controlId: own, obr3: `MA-${t}` }),
        timeoutMs: 10_000,
        tls: mllpTls('lab-a'),
      }),
    );
    assert.equal(accepted.code, 'AA');
    assert.deepEqual(await ingestRow(own), [
      { authenticated_sender: 'lab-a', authenticated_by: 'mllp-certificate', status: 'handed-off' },
    ]);
    // lab-b is named by its certificate's subject.
    const bAck = msa(
      await sendMllp({
        host: '127.0.0.1',
        port: api.mllpPort,
        message: oru({ facility: 'OTHERLAB', controlId: `MB-${t}`, obr3: `MB-${t}` }),
        timeoutMs: 10_000,
        tls: mllpTls('lab-b'),
      }),
    );
    assert.equal(bAck.code, 'AA');
  });

  void it('MLLP in plaintext: a connection from a source no sender lists is closed before a byte is read', async () => {
    // startApi's wiring without TLS (development): lab-a lists no plaintext source, so loopback is refused.
    const plain = await startApi({
      config: {
        ...config,
        MLLP_TLS_CERT_FILE: undefined,
        MLLP_TLS_KEY_FILE: undefined,
        MLLP_TLS_CLIENT_CA_FILE: undefined,
        MLLP_PLAINTEXT: true,
      },
      pool: h.db.pool,
      temporal: h.client,
      practices: h.practices,
      senders: h.senders,
      logger: createLogger('silent', 'ingest-senders-plain'),
      taskQueue: h.taskQueue,
    });
    try {
      const closed = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: plain.mllpPort });
        socket.on('data', () => resolve(false));
        socket.on('close', () => resolve(true));
        socket.on('error', () => undefined);
        socket.setTimeout(5_000, () => {
          socket.destroy();
          resolve(false);
        });
      });
      assert.equal(closed, true, 'the listener closed the connection');
    } finally {
      await plain.close();
    }
  });
});
