import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
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
/**
 * A TLS handshake takes a few round trips (milliseconds on a LAN, well under a second across the
 * internet); 10 s bounds a peer that opens connections and never finishes them (Node's default is 120 s).
 */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Open connections at most when the caller does not say: an engine keeps one or two per feed. */
export const DEFAULT_MLLP_MAX_CONNECTIONS = 64;

/** What happened on a connection that an operator may want to count. Sizes only: never content. */
export type MllpDiagnostic =
  | { kind: 'garbage'; bytes: number }
  | { kind: 'oversize'; bytes: number }
  | { kind: 'idle-timeout' }
  | { kind: 'handler-error' }
  | { kind: 'socket-error'; code?: string }
  /** The TLS handshake failed: no client certificate, one the CA did not issue, a plaintext client. */
  | { kind: 'tls-error'; code?: string }
  /** A connection closed at once: its certificate or source address names no sender, or the cap was reached. */
  | { kind: 'refused-connection'; reason: 'no-sender' | 'connection-limit' };

/** What the listener knows about a peer before it reads a byte: its address, and its verified certificate under TLS. */
export interface MllpPeer {
  remoteAddress: string;
  /** Present only on a mutual-TLS connection, after the CA verified it. */
  certificate?: { fingerprint256: string; subject: Record<string, string | string[]> };
}

export interface MllpServerOptions<Identity> {
  /** Interface to bind; explicit, so nobody listens on every interface by accident. */
  host: string;
  /**
   * Mutual TLS (the production default): the listener's certificate and key (PEM), and the CA whose
   * client certificates are accepted. A peer without a valid client certificate fails the handshake.
   * Absent: plaintext, and `identify` alone decides who may stay connected.
   */
  tls?: { cert: string | Buffer; key: string | Buffer; ca: string | Buffer };
  /** Open connections at most (default {@link DEFAULT_MLLP_MAX_CONNECTIONS}); more are dropped at once. */
  maxConnections?: number;
  /**
   * Who a connection is, from its verified certificate (TLS) or its source address (plaintext);
   * undefined closes it before a byte is read.
   */
  identify: (peer: MllpPeer) => Identity | undefined;
  /** 0 for any free port. */
  port: number;
  /** Largest message accepted; a larger frame is answered with AR and the connection stays open. */
  maxFrameBytes: number;
  /** A connection with no traffic for this long is closed (not while a message is being handled). */
  idleTimeoutMs: number;
  /** Handles one message (UTF-8 text) from the identified peer and returns the ACK to send back. */
  onMessage: (text: string, from: Identity) => Promise<string>;
  onDiagnostic?: (event: MllpDiagnostic) => void;
}

export interface MllpServer {
  port: number;
  /** Stops accepting, waits for messages in hand to be answered, then closes every connection. */
  close(): Promise<void>;
}

/** Starts an MLLP server; resolves once it is listening. */
export function startMllpServer<Identity>(options: MllpServerOptions<Identity>): Promise<MllpServer> {
  const connections = new Set<MllpConnection<Identity>>();
  const accept = (socket: Socket, certificate?: MllpPeer['certificate']) => {
    const remoteAddress = socket.remoteAddress;
    const identity =
      remoteAddress === undefined
        ? undefined
        : options.identify({ remoteAddress, ...(certificate === undefined ? {} : { certificate }) });
    if (identity === undefined) {
      options.onDiagnostic?.({ kind: 'refused-connection', reason: 'no-sender' });
      socket.destroy();
      return;
    }
    const connection = new MllpConnection(socket, identity, options);
    connections.add(connection);
    socket.once('close', () => connections.delete(connection));
  };
  let server: Server;
  if (options.tls === undefined) {
    server = createServer((socket) => accept(socket));
  } else {
    const tlsServer = createTlsServer(
      {
        ...options.tls,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      },
      (socket: TLSSocket) => {
        const peer = socket.getPeerCertificate();
        // rejectUnauthorized already refused anything the CA did not issue; this is belt and braces.
        if (!socket.authorized || peer.fingerprint256 === undefined) {
          options.onDiagnostic?.({ kind: 'tls-error', code: 'unauthorized' });
          socket.destroy();
          return;
        }
        const subject: Record<string, string | string[]> = {};
        for (const [key, value] of Object.entries(peer.subject)) if (value !== undefined) subject[key] = value;
        accept(socket, { fingerprint256: peer.fingerprint256, subject });
      },
    );
    tlsServer.on('tlsClientError', (error: NodeJS.ErrnoException, socket) => {
      options.onDiagnostic?.({ kind: 'tls-error', ...(error.code === undefined ? {} : { code: error.code }) });
      socket.destroy();
    });
    server = tlsServer;
  }
  // Counted by the TCP server itself, handshakes included: the cap holds before any TLS work is done.
  server.maxConnections = options.maxConnections ?? DEFAULT_MLLP_MAX_CONNECTIONS;
  server.on('drop', () => options.onDiagnostic?.({ kind: 'refused-connection', reason: 'connection-limit' }));
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

class MllpConnection<Identity> {
  private readonly framer: MllpFramer;
  private readonly queue: MllpEvent[] = [];
  private draining: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly socket: Socket,
    private readonly identity: Identity,
    private readonly options: MllpServerOptions<Identity>,
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
      return await this.options.onMessage(text, this.identity);
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
