import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { buildAck, parseOru } from '../../api/hl7';
import { tokenise } from '../../api/hl7/message';
import {
  frameMllp,
  MllpFramer,
  sendMllp,
  startMllpServer,
  type MllpServer,
  type MllpServerOptions,
} from '../../api/mllp';

const HOST = '127.0.0.1';
const FIXTURES = path.join(__dirname, '../fixtures/hl7');
/** Generous for loopback on a shared 2-core machine; a healthy run answers in milliseconds. */
const ACK_TIMEOUT_MS = 5_000;

function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

/** A message with a given control ID, to tell ACKs apart. */
function message(controlId: string): string {
  return fixture('cbc-normal-final.hl7').replace('NL-CBC-0001', controlId);
}

/** What a real handler does: parse, then ACK. */
function ackHandler(text: string): Promise<string> {
  const outcome = parseOru(text);
  const ack = outcome.ok
    ? buildAck({ header: outcome.header }, { code: 'AA' }, new Date())
    : buildAck(
        { header: outcome.header, rawMsh: text },
        { code: outcome.error.ackCode, problem: outcome.error },
        new Date(),
      );
  return Promise.resolve(ack);
}

function msa(ack: string): { code: string; controlId: string; text: string } {
  const tokens = tokenise(ack);
  if (!tokens.ok) assert.fail(`bad ACK: ${tokens.error.message}`);
  const segment = tokens.segments.find((s) => s.id === 'MSA');
  assert.ok(segment !== undefined, 'ACK without MSA');
  return {
    code: tokens.reader.value(segment, 1),
    controlId: tokens.reader.value(segment, 2),
    text: tokens.reader.value(segment, 3),
  };
}

const servers: MllpServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(overrides: Partial<MllpServerOptions<string>> = {}): Promise<MllpServer> {
  const started = await startMllpServer<string>({
    host: HOST,
    port: 0,
    maxFrameBytes: 64 * 1024,
    idleTimeoutMs: 10_000,
    identify: () => 'test-sender',
    onMessage: ackHandler,
    ...overrides,
  });
  servers.push(started);
  return started;
}

/** A raw client that collects ACK frames as they arrive. */
class RawClient {
  readonly socket: Socket;
  readonly acks: string[] = [];
  private readonly framer = new MllpFramer(1024 * 1024);
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const e of this.framer.push(chunk)) if (e.type === 'frame') this.acks.push(e.payload.toString('utf8'));
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: HOST, port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  async write(bytes: Buffer): Promise<void> {
    await new Promise<void>((done) => this.socket.write(bytes, () => done()));
  }

  /** Waits until `count` ACKs arrived (or the socket closed, or time ran out). */
  async waitForAcks(count: number): Promise<string[]> {
    const deadline = Date.now() + ACK_TIMEOUT_MS;
    while (this.acks.length < count && !this.closed && Date.now() < deadline) {
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), delay(50)]);
    }
    assert.equal(this.acks.length, count, `expected ${count} ACKs, got ${this.acks.length}`);
    return this.acks;
  }

  async waitForClose(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline)
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), delay(20)]);
    return this.closed;
  }

  end(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }
}

void describe('MLLP server and client over a real socket', () => {
  void it('answers sendMllp with the ACK for the message', async () => {
    const { port } = await server();
    const ack = await sendMllp({ host: HOST, port, message: message('CTL-SEND-1'), timeoutMs: ACK_TIMEOUT_MS });
    assert.deepEqual(msa(ack), { code: 'AA', controlId: 'CTL-SEND-1', text: '' });
    const refused = await sendMllp({
      host: HOST,
      port,
      message: fixture('bad-no-pid3.hl7'),
      timeoutMs: ACK_TIMEOUT_MS,
    });
    assert.equal(msa(refused).code, 'AE');
    assert.match(msa(refused).text, /PID-3/);
  });

  void it('decodes the payload as UTF-8', async () => {
    const received: string[] = [];
    const { port } = await server({
      onMessage: (text) => {
        received.push(text);
        return ackHandler(text);
      },
    });
    const text = message('CTL-UTF8').replace('Testpatient', 'Nuñez-Ødegård');
    await sendMllp({ host: HOST, port, message: text, timeoutMs: ACK_TIMEOUT_MS });
    assert.deepEqual(received, [text]);
  });

  void it('reassembles a frame split into single bytes, with FS and CR in separate writes', async () => {
    const { port } = await server();
    const client = await RawClient.connect(port);
    for (const byte of frameMllp(message('CTL-SPLIT'))) {
      await client.write(Buffer.of(byte));
    }
    const [ack] = await client.waitForAcks(1);
    assert.equal(msa(ack ?? '').controlId, 'CTL-SPLIT');
    client.end();
  });

  void it('answers two frames in one write, in order, one message at a time', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const { port } = await server({
      onMessage: async (text) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // The first message is the slow one: if ACKs were written as handlers finish, they would swap.
        await delay(text.includes('CTL-FIRST') ? 150 : 0);
        inFlight -= 1;
        return ackHandler(text);
      },
    });
    const client = await RawClient.connect(port);
    await client.write(Buffer.concat([frameMllp(message('CTL-FIRST')), frameMllp(message('CTL-SECOND'))]));
    const acks = await client.waitForAcks(2);
    assert.deepEqual(
      acks.map((a) => msa(a).controlId),
      ['CTL-FIRST', 'CTL-SECOND'],
    );
    assert.equal(maxInFlight, 1);
    client.end();
  });

  void it('answers an oversized frame with AR naming the limit, and the connection stays usable', async () => {
    const { port } = await server({ maxFrameBytes: 2_000 });
    const client = await RawClient.connect(port);
    await client.write(frameMllp(`${message('CTL-BIG')}\r${'NTE|1||padding\r'.repeat(300)}`));
    await client.write(frameMllp(message('CTL-AFTER')));
    const [big, after] = await client.waitForAcks(2);
    assert.equal(msa(big ?? '').code, 'AR');
    assert.match(msa(big ?? '').text, /larger than the 2000-byte limit/);
    assert.deepEqual(msa(after ?? ''), { code: 'AA', controlId: 'CTL-AFTER', text: '' });
    client.end();
  });

  void it('answers AR when the handler fails, echoing MSH-10, and keeps going', async () => {
    const { port } = await server({
      onMessage: (text) => (text.includes('CTL-BOOM') ? Promise.reject(new Error('database down')) : ackHandler(text)),
    });
    const client = await RawClient.connect(port);
    await client.write(Buffer.concat([frameMllp(message('CTL-BOOM')), frameMllp(message('CTL-FINE'))]));
    const [boom, fine] = await client.waitForAcks(2);
    assert.equal(msa(boom ?? '').code, 'AR');
    assert.equal(msa(boom ?? '').controlId, 'CTL-BOOM');
    assert.ok(!(boom ?? '').includes('database down'), 'internal errors are not sent to the peer');
    assert.equal(msa(fine ?? '').code, 'AA');
    client.end();
  });

  void it('ignores bytes outside frames', async () => {
    const { port } = await server();
    const client = await RawClient.connect(port);
    await client.write(Buffer.concat([Buffer.from('\r\nnoise'), frameMllp(message('CTL-NOISE')), Buffer.from('\n')]));
    const [ack] = await client.waitForAcks(1);
    assert.equal(msa(ack ?? '').controlId, 'CTL-NOISE');
    client.end();
  });

  void it('closes an idle connection', async () => {
    const { port } = await server({ idleTimeoutMs: 100 });
    const client = await RawClient.connect(port);
    assert.ok(await client.waitForClose(3_000), 'the idle connection was not closed');
  });

  void it('closes a connection beyond the cap at once, and takes one again when a slot is free', async () => {
    const diagnostics: string[] = [];
    const { port } = await server({
      maxConnections: 2,
      onDiagnostic: (event) => diagnostics.push(event.kind === 'refused-connection' ? event.reason : event.kind),
    });
    const first = await RawClient.connect(port);
    const second = await RawClient.connect(port);
    // Both are held by the server before the third arrives (each got an ACK).
    await first.write(frameMllp(message('CTL-CAP-1')));
    await second.write(frameMllp(message('CTL-CAP-2')));
    await first.waitForAcks(1);
    await second.waitForAcks(1);
    const third = await RawClient.connect(port);
    assert.ok(await third.waitForClose(3_000), 'the connection over the cap was not closed');
    assert.deepEqual(diagnostics, ['connection-limit']);
    first.end();
    await first.waitForClose(3_000);
    await delay(50);
    const fourth = await RawClient.connect(port);
    await fourth.write(frameMllp(message('CTL-CAP-4')));
    const [ack] = await fourth.waitForAcks(1);
    assert.equal(msa(ack ?? '').controlId, 'CTL-CAP-4');
    second.end();
    fourth.end();
  });

  void it('closes a connection whose peer names no sender before reading a byte', async () => {
    const diagnostics: string[] = [];
    const { port } = await server({
      identify: () => undefined,
      onDiagnostic: (event) => diagnostics.push(event.kind === 'refused-connection' ? event.reason : event.kind),
    });
    const client = await RawClient.connect(port);
    await client.write(frameMllp(message('CTL-NOBODY'))).catch(() => undefined);
    assert.ok(await client.waitForClose(3_000));
    assert.deepEqual(client.acks, [], 'no answer');
    assert.deepEqual(diagnostics, ['no-sender']);
  });

  void it('does not count time spent handling a message as idle', async () => {
    const { port } = await server({
      idleTimeoutMs: 100,
      onMessage: async (text) => {
        await delay(300);
        return ackHandler(text);
      },
    });
    const client = await RawClient.connect(port);
    await client.write(frameMllp(message('CTL-SLOW')));
    const [ack] = await client.waitForAcks(1);
    assert.equal(msa(ack ?? '').controlId, 'CTL-SLOW');
  });

  void it('close() stops accepting but answers the message in hand first', async () => {
    let started!: () => void;
    const handling = new Promise<void>((r) => (started = r));
    const mllp = await startMllpServer({
      host: HOST,
      port: 0,
      maxFrameBytes: 64 * 1024,
      idleTimeoutMs: 10_000,
      identify: () => 'test-sender',
      onMessage: async (text) => {
        started();
        await delay(200);
        return ackHandler(text);
      },
    });
    const client = await RawClient.connect(mllp.port);
    await client.write(frameMllp(message('CTL-INFLIGHT')));
    await handling;
    const closing = mllp.close();
    await assert.rejects(RawClient.connect(mllp.port), /ECONNREFUSED/);
    const [ack] = await client.waitForAcks(1);
    assert.equal(msa(ack ?? '').controlId, 'CTL-INFLIGHT');
    await closing;
    assert.ok(await client.waitForClose(3_000));
  });

  void it('binds the host it is given', async () => {
    const { port } = await server();
    await assert.rejects(
      sendMllp({ host: '127.0.0.2', port, message: message('CTL-X'), timeoutMs: 1_000 }),
      /ECONNREFUSED|no ACK/,
    );
  });

  void it('sendMllp rejects when no ACK comes in time', async () => {
    const { port } = await server({ onMessage: () => new Promise<string>(() => undefined) });
    await assert.rejects(sendMllp({ host: HOST, port, message: message('CTL-WAIT'), timeoutMs: 150 }), /no ACK/);
  });

  void it('property: any chunking of any sequence of messages gets ordered ACKs', async () => {
    const { port } = await server();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.stringMatching(/^[A-Z0-9]{1,12}$/), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (ids, cuts) => {
          const stream = Buffer.concat(ids.map((id) => frameMllp(message(`P-${id}`))));
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const client = await RawClient.connect(port);
          let from = 0;
          for (const p of [...points, stream.length]) {
            await client.write(stream.subarray(from, p));
            from = p;
          }
          const acks = await client.waitForAcks(ids.length);
          client.end();
          assert.deepEqual(
            acks.map((a) => msa(a).controlId),
            ids.map((id) => `P-${id}`),
          );
        },
      ),
      { numRuns: 25 },
    );
  });
});
