import { createServer, type Socket } from 'node:net';
import { buildAck } from '../hl7/ack';
import { Hl7ErrorCode } from '../hl7/problem';
import { frameMllp, MllpFramer, type MllpEvent } from './framer';

/**
 * Our own MLLP listener (the npm ones lose or duplicate frames; see dependencies.md §1). Per
 * connection, messages are handled strictly one at a time and in order, and the socket is paused
 * while one is handled, so a fast sender is slowed by TCP rather than by our memory.
 */

/** How long a closing connection may take to finish its TCP goodbye before it is cut. */
const CLOSE_GRACE_MS = 2_000;

/** What happened on a connection that an operator may want to count. Sizes only: never content. */
export type MllpDiagnostic =
  | { kind: 'garbage'; bytes: number }
  | { kind: 'oversize'; bytes: number }
  | { kind: 'idle-timeout' }
  | { kind: 'handler-error' }
  | { kind: 'socket-error'; code?: string };

export interface MllpServerOptions {
  /** Interface to bind; explicit, so nobody listens on every interface by accident. */
  host: string;
  /** 0 for any free port. */
  port: number;
  /** Largest message accepted; a larger frame is answered with AR and the connection stays open. */
  maxFrameBytes: number;
  /** A connection with no traffic for this long is closed (not while a message is being handled). */
  idleTimeoutMs: number;
  /** Handles one message (UTF-8 text) and returns the ACK to send back. */
  onMessage: (text: string) => Promise<string>;
  onDiagnostic?: (event: MllpDiagnostic) => void;
}

export interface MllpServer {
  port: number;
  /** Stops accepting, waits for messages in hand to be answered, then closes every connection. */
  close(): Promise<void>;
}

/** Starts an MLLP server; resolves once it is listening. */
export function startMllpServer(options: MllpServerOptions): Promise<MllpServer> {
  const connections = new Set<MllpConnection>();
  const server = createServer((socket) => {
    const connection = new MllpConnection(socket, options);
    connections.add(connection);
    socket.once('close', () => connections.delete(connection));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('MLLP server did not report a TCP address'));
        return;
      }
      let closing: Promise<void> | undefined;
      resolve({
        port: address.port,
        close: () =>
          (closing ??= (async () => {
            const stopped = new Promise<void>((done) => server.close(() => done()));
            await Promise.all([...connections].map((c) => c.shutdown()));
            await stopped;
          })()),
      });
    });
  });
}

class MllpConnection {
  private readonly framer: MllpFramer;
  private readonly queue: MllpEvent[] = [];
  private draining: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly socket: Socket,
    private readonly options: MllpServerOptions,
  ) {
    this.framer = new MllpFramer(options.maxFrameBytes);
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      this.queue.push(...this.framer.push(chunk));
      this.kick();
    });
    socket.on('timeout', () => {
      // The socket is silent while we hold it paused to handle a message: that is not idleness.
      if (this.draining !== undefined) return;
      this.options.onDiagnostic?.({ kind: 'idle-timeout' });
      socket.destroy();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.options.onDiagnostic?.({ kind: 'socket-error', ...(error.code === undefined ? {} : { code: error.code }) });
    });
  }

  /** Answers what is already queued, then ends the connection. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.socket.pause();
    while (this.draining !== undefined) await this.draining;
    if (this.socket.destroyed) return;
    await new Promise<void>((done) => {
      const cut = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
      this.socket.once('close', () => {
        clearTimeout(cut);
        done();
      });
      this.socket.end();
    });
  }

  private kick(): void {
    if (this.draining !== undefined || this.queue.length === 0) return;
    this.socket.pause();
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (!this.stopping && !this.socket.destroyed) this.socket.resume();
    });
  }

  private async drain(): Promise<void> {
    for (let event = this.queue.shift(); event !== undefined; event = this.queue.shift()) {
      if (this.socket.destroyed) return;
      switch (event.type) {
        case 'frame':
          {
            // An empty answer is no answer: the sender asked for none (enhanced mode, MSH-15/16 NE).
            const reply = await this.answer(event.payload.toString('utf8'));
            if (reply !== '') await this.write(reply);
          }
          break;
        case 'oversize':
          this.options.onDiagnostic?.({ kind: 'oversize', bytes: event.bytes });
          await this.write(this.oversizeAck(event.bytes));
          break;
        case 'garbage':
          this.options.onDiagnostic?.({ kind: 'garbage', bytes: event.bytes });
          break;
      }
    }
  }

  private async answer(text: string): Promise<string> {
    try {
      return await this.options.onMessage(text);
    } catch {
      // A failure on our side: AR tells the sender to keep the message and send it again later.
      this.options.onDiagnostic?.({ kind: 'handler-error' });
      return buildAck(
        { rawMsh: text },
        {
          code: 'AR',
          problem: {
            ackCode: 'AR',
            segment: '',
            errorCode: Hl7ErrorCode.APPLICATION_INTERNAL_ERROR,
            message: 'the receiver could not process the message; send it again later',
          },
        },
        new Date(),
      );
    }
  }

  private oversizeAck(bytes: number): string {
    return buildAck(
      {},
      {
        code: 'AR',
        problem: {
          ackCode: 'AR',
          segment: '',
          errorCode: Hl7ErrorCode.APPLICATION_INTERNAL_ERROR,
          message: `message of ${bytes} bytes is larger than the ${this.options.maxFrameBytes}-byte limit`,
        },
      },
      new Date(),
    );
  }

  /** Resolves when the frame has been handed to the OS (or the socket is gone): ACKs stay in order. */
  private write(ack: string): Promise<void> {
    return new Promise((done) => {
      if (this.socket.destroyed || !this.socket.writable) {
        done();
        return;
      }
      this.socket.write(frameMllp(ack), () => done());
    });
  }
}
