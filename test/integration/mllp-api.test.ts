import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { workflowIdForResult } from '../../lib/ingest/handoff';
import { frameMllp, MllpFramer, startMllpServer, type MllpServer } from '../../api/mllp';
import { startApi, type RunningApi } from '../../api/start-api';
import { identifyMllpSender } from '../../api/mllp/sender-identity';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { TEST_CODEC_KEYS } from '../support/temporal';
import { testSenders } from '../support/senders';
import {
  API_TOKEN,
  hl7Fixture,
  ingestRows,
  PRACTICE_ID,
  signalCount,
  startIngestHarness,
  unreachableTemporalClient,
  workflowExists,
  workflowIdsOnQueue,
  type IngestHarness,
} from './ingest-harness';

/**
 * The running API (startApi: HTTP listener + MLLP listener, as in production) over real sockets:
 * AA once the result is with Temporal, retransmissions re-acknowledged without a second workflow,
 * every bad message refused with AE/AR naming segment and field while the connection stays usable,
 * and AR (nothing handed off) while Temporal is unreachable.
 */

const tag = () => randomBytes(4).toString('hex');
/** Per-ACK wait: a hand-off takes milliseconds; seconds mean something is stuck. */
const ACK_TIMEOUT_MS = 10_000;

interface ParsedAck {
  code: string;
  controlId: string;
  errSegment?: string;
  errField?: string;
  text?: string;
}

function parseAck(ack: string): ParsedAck {
  const segments = ack.split('\r').filter(Boolean);
  const msa = segments.find((s) => s.startsWith('MSA|'))?.split('|') ?? [];
  const err = segments.find((s) => s.startsWith('ERR|'))?.split('|');
  const location = err?.[2]?.split('^');
  return {
    code: msa[1] ?? '',
    controlId: msa[2] ?? '',
    errSegment: location?.[0],
    errField: location?.[2],
    text: err?.[8],
  };
}

/** One long-lived MLLP connection, as an interface engine keeps one: messages in order, one ACK each. */
class MllpSession {
  private readonly socket: Socket;
  private readonly framer = new MllpFramer(1024 * 1024);
  private readonly acks: string[] = [];
  private waiting: (() => void) | undefined;

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.on('data', (chunk: Buffer) => {
      for (const event of this.framer.push(chunk))
        if (event.type === 'frame') this.acks.push(event.payload.toString('utf8'));
      this.waiting?.();
    });
  }

  async send(message: string | Buffer): Promise<ParsedAck> {
    this.socket.write(Buffer.isBuffer(message) ? message : frameMllp(message));
    const deadline = Date.now() + ACK_TIMEOUT_MS;
    while (this.acks.length === 0) {
      if (Date.now() > deadline || this.socket.destroyed) throw new Error('no ACK on the MLLP connection');
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 100);
      });
    }
    return parseAck(this.acks.shift() ?? '');
  }

  get open(): boolean {
    return !this.socket.destroyed;
  }

  close(): void {
    this.socket.destroy();
  }
}

void describe('MLLP in the running API, end to end', () => {
  let h: IngestHarness;
  let api: RunningApi;
  before(async () => {
    h = await startIngestHarness({ label: 'mllp_api' });
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      LABLOOP_CODEC_KEYS: TEST_CODEC_KEYS,
      LABLOOP_ID_SECRET: h.idSecret,
      API_HOST: '127.0.0.1',
      API_PORT: '0',
      MLLP_HOST: '127.0.0.1',
      MLLP_PORT: '0',
      PUBLIC_BASE_URL: 'http://127.0.0.1:3000',
      LABLOOP_API_TOKENS: `mllp-test:${API_TOKEN}`,
      TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'twilio-test-auth-token-0000',
      TWILIO_MESSAGING_SERVICE_SID: `MG${'0'.repeat(32)}`,
      SPRUCE_API_TOKEN: 'spruce-test-token',
      SPRUCE_WEBHOOK_SECRET: 'spruce-test-webhook-secret',
      ATHENA_CLIENT_ID: 'athena-test-client',
      ATHENA_CLIENT_SECRET: 'athena-test-secret',
      ATHENA_WEBHOOK_SECRET: 'athena-test-webhook-secret',
    });
    api = await startApi({
      config,
      pool: h.db.pool,
      temporal: h.client,
      practices: h.practices,
      senders: testSenders(h.practices, ['mllp-test']),
      logger: createLogger('silent', 'mllp-api-test'),
      taskQueue: h.taskQueue,
    });
  });
  after(async () => {
    await api?.close();
    await h?.close();
  });

  void it('answers AA after the hand-off; a retransmitted MSH-10 gets AA again with still one workflow and one signal', async () => {
    const t = tag();
    const session = new MllpSession(api.mllpPort);
    try {
      const message = hl7Fixture('critical-potassium-hh', { controlId: `MLLP-${t}`, tag: t });
      const ack = await session.send(message);
      assert.equal(ack.code, 'AA');
      assert.equal(ack.controlId, `MLLP-${t}`, 'MSA-2 echoes MSH-10');
      const workflowId = workflowIdForResult(h.idSecret, {
        practiceId: PRACTICE_ID,
        issuer: 'RIVERSIDE',
        resultId: `FIL-${t}-88004`,
      });
      assert.equal(await workflowExists(h.client, workflowId), true);

      const again = await session.send(message);
      assert.equal(again.code, 'AA');
      assert.equal(again.controlId, `MLLP-${t}`);
      const onQueue = (await workflowIdsOnQueue(h.client, h.taskQueue)).filter((id) => id === workflowId);
      assert.deepEqual(onQueue, [workflowId], 'still one workflow');
      assert.equal(await signalCount(h.client, workflowId), 1, 'no second signal');
    } finally {
      session.close();
    }
  });

  void it('refuses every bad message naming segment and field, starts nothing, and the next good message on the same connection succeeds', async () => {
    const session = new MllpSession(api.mllpPort);
    try {
      const rowsBefore = (await ingestRows(h)).length;
      const workflowsBefore = await workflowIdsOnQueue(h.client, h.taskQueue);
      const t = tag();
      const cases: { message: string; code: string; segment: string; field?: string }[] = [
        { message: 'this is not an HL7 message', code: 'AR', segment: 'MSH' },
        { message: hl7Fixture('bad-adt-a01', { controlId: `A-${t}`, tag: t }), code: 'AR', segment: 'MSH', field: '9' },
        {
          message: hl7Fixture('bad-version', { controlId: `V-${t}`, tag: t }),
          code: 'AR',
          segment: 'MSH',
          field: '12',
        },
        { message: hl7Fixture('bad-no-pid3', { controlId: `P-${t}`, tag: t }), code: 'AE', segment: 'PID', field: '3' },
        { message: hl7Fixture('bad-no-obr', { controlId: `O-${t}`, tag: t }), code: 'AE', segment: 'OBR' },
        { message: hl7Fixture('bad-obx-before-obr', { controlId: `X-${t}`, tag: t }), code: 'AE', segment: 'OBX' },
        {
          message: hl7Fixture('cbc-normal-final', { controlId: `U-${t}`, tag: t, facility: 'NOWHERE' }),
          code: 'AR',
          segment: 'MSH',
          field: '4',
        },
      ];
      for (const bad of cases) {
        const ack = await session.send(bad.message);
        assert.equal(ack.code, bad.code, `${bad.segment}: ${ack.text ?? ''}`);
        assert.equal(ack.errSegment, bad.segment, ack.text);
        if (bad.field !== undefined) assert.equal(ack.errField, bad.field, ack.text);
        assert.ok((ack.text ?? '').length > 10, 'ERR says what is wrong');
      }
      // An oversize frame is refused (AR) without closing the connection.
      const oversize = await session.send(
        frameMllp(`MSH|^~\\&|X|RIVERSIDE|||||ORU^R01|BIG|P|2.5.1\r${'x'.repeat(1024 * 1024 + 10)}`),
      );
      assert.equal(oversize.code, 'AR');
      assert.match(oversize.text ?? '', /larger than/);
      assert.equal((await ingestRows(h)).length, rowsBefore, 'nothing recorded');
      assert.deepEqual(await workflowIdsOnQueue(h.client, h.taskQueue), workflowsBefore, 'nothing started');

      assert.equal(session.open, true);
      const good = await session.send(hl7Fixture('cbc-normal-final', { controlId: `G-${t}`, tag: t }));
      assert.equal(good.code, 'AA');
      assert.equal(good.controlId, `G-${t}`);
      assert.equal(
        await workflowExists(
          h.client,
          workflowIdForResult(h.idSecret, { practiceId: PRACTICE_ID, issuer: 'NORTHLAB', resultId: `FIL-${t}-88001` }),
        ),
        true,
      );
    } finally {
      session.close();
    }
  });

  void it('serves HL7 over HTTPS on the same running API', async () => {
    const t = tag();
    const response = await fetch(`${api.url}/v1/hl7`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/hl7-v2' },
      body: hl7Fixture('cbc-normal-final', { controlId: `H-${t}`, tag: t }),
    });
    assert.equal(response.status, 202);
    assert.equal(parseAck(await response.text()).code, 'AA');
  });

  void it('answers AR while Temporal is unreachable, records nothing as handed off, and the resend succeeds once it is back', async () => {
    const down = await h.buildApi({ temporal: await unreachableTemporalClient(), temporalDeadlineMs: 500 });
    // The listener exactly as startApi wires it, in front of an API whose Temporal is gone.
    const server: MllpServer = await startMllpServer({
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 1024 * 1024,
      idleTimeoutMs: 60_000,
      identify: (peer) => identifyMllpSender(h.senders, peer),
      onMessage: async (text, from) => (await down.ingestHl7(text, from)).ack,
    });
    const t = tag();
    const message = hl7Fixture('cbc-normal-final', { controlId: `D-${t}`, tag: t });
    const session = new MllpSession(server.port);
    try {
      const ack = await session.send(message);
      assert.equal(ack.code, 'AR');
      assert.equal(ack.controlId, `D-${t}`);
      assert.match(ack.text ?? '', /resend/);
    } finally {
      session.close();
      await server.close();
    }
    const workflowId = workflowIdForResult(h.idSecret, {
      practiceId: PRACTICE_ID,
      issuer: 'NORTHLAB',
      resultId: `FIL-${t}-88001`,
    });
    assert.notEqual((await ingestRows(h)).find((r) => r.message_id === `D-${t}`)?.status, 'handed-off');
    assert.equal(await workflowExists(h.client, workflowId), false);

    const resend = new MllpSession(api.mllpPort);
    try {
      assert.equal((await resend.send(message)).code, 'AA');
    } finally {
      resend.close();
    }
    assert.equal(await signalCount(h.client, workflowId), 1);
  });
});
